"""The training stage: schedules against their formulas, optimizers, callbacks, evaluation."""

import math

import numpy as np
import pytest
import tf_keras

from tfpipeline import TrainingError, build_model, load_config, prepare_data, train
from tfpipeline.evaluation import classification_report
from tfpipeline.optimizers import make_optimizer, make_schedule

LR = 0.1
SPE = 10  # steps per epoch


def schedule(**keys):
    overrides = {f"train.schedule.{k}": v for k, v in keys.items()}
    config = load_config(overrides={"train.learning_rate": LR, "train.epochs": 20, **overrides})
    built = make_schedule(config.train, SPE)
    return lambda step: float(built(step)) if callable(built) else float(built)


@pytest.mark.parametrize("step", [0, 1, 7, 10, 55, 199])
def test_schedules_follow_their_closed_forms(step):
    epoch = step // SPE
    assert schedule(kind="constant")(step) == pytest.approx(LR)
    assert schedule(kind="exponential", decay_rate=0.5, decay_steps=20)(step) == pytest.approx(
        LR * 0.5 ** (step / 20)
    )
    assert schedule(kind="exponential", decay_rate=0.5, decay_epochs=3)(step) == pytest.approx(
        LR * 0.5 ** (step / 30)
    )
    assert schedule(kind="exponential", decay_rate=0.5, decay_steps=20, staircase=True)(
        step
    ) == pytest.approx(LR * 0.5 ** (step // 20))
    assert schedule(kind="step", factor=0.1, drop_every_epochs=5)(step) == pytest.approx(
        LR * 0.1 ** (epoch // 5)
    )
    piecewise = schedule(kind="step", boundaries=[2, 6], values=[0.3, 0.2, 0.1])(step)
    # Keras's PiecewiseConstantDecay switches after the boundary step: step <= 20 -> 0.3.
    expected = 0.3 if step <= 2 * SPE else 0.2 if step <= 6 * SPE else 0.1
    assert piecewise == pytest.approx(expected)
    total = 20 * SPE
    assert schedule(kind="cosine", alpha=0.1)(step) == pytest.approx(
        LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))), rel=1e-5
    )


def test_cosine_restarts_and_warmup():
    restarts = schedule(kind="cosine", restarts=True, cosine_epochs=2, t_mul=1.0, m_mul=0.5)
    period = 2 * SPE
    assert restarts(0) == pytest.approx(LR)
    assert restarts(period // 2) == pytest.approx(LR * 0.5, rel=1e-5)  # half-way down
    assert restarts(period) == pytest.approx(LR * 0.5)  # restarted, at m_mul times the rate
    assert restarts(period + period // 2) == pytest.approx(LR * 0.25, rel=1e-5)
    warm = schedule(kind="exponential", decay_rate=0.5, decay_steps=20, warmup_epochs=2)
    warmup = 2 * SPE
    assert warm(0) == pytest.approx(LR / warmup)
    assert warm(9) == pytest.approx(LR * 10 / warmup)
    assert warm(warmup) == pytest.approx(LR)  # then the wrapped schedule from its start
    assert warm(warmup + 20) == pytest.approx(LR * 0.5)


@pytest.mark.parametrize(
    ("name", "cls", "attributes"),
    [
        ("sgd", "SGD", {"momentum": 0.0, "nesterov": False}),
        ("momentum", "SGD", {"momentum": 0.9, "nesterov": False}),
        ("nesterov", "SGD", {"momentum": 0.9, "nesterov": True}),
        ("adam", "Adam", {}),
        ("adamw", "AdamW", {"weight_decay": 0.004}),
        ("rmsprop", "RMSprop", {"momentum": 0.0}),
    ],
)
def test_optimizers(name, cls, attributes):
    config = load_config(overrides={"train.optimizer": name, "train.clipnorm": 1.5})
    optimizer = make_optimizer(config.train, steps_per_epoch=10)
    assert type(optimizer).__name__ == cls
    assert optimizer.clipnorm == 1.5
    for key, value in attributes.items():
        assert getattr(optimizer, key) == pytest.approx(value)
    decayed = load_config(overrides={"train.optimizer": name, "train.weight_decay": 0.01})
    assert make_optimizer(decayed.train).weight_decay == pytest.approx(0.01)


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"])
def test_each_optimizer_trains_the_seed_model(name, digits):
    config = load_config(
        overrides={"train.optimizer": name, "train.epochs": 2, "train.learning_rate": 0.01}
    )
    model = build_model(config.model, digits)
    result = train(model, digits, config.train, verbose=0)
    assert result.history["loss"][-1] < result.history["loss"][0]


class ScriptedValLoss(tf_keras.callbacks.Callback):
    """Replaces val_loss by a scripted sequence and records the weights of every epoch."""

    def __init__(self, values):
        super().__init__()
        self.values = values
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]
        self.weights.append([w.copy() for w in self.model.get_weights()])


def test_early_stopping_stops_at_the_right_epoch_and_restores_the_best(digits, tmp_path):
    config = load_config(
        overrides={"train.epochs": 10, "train.early_stopping.patience": 2, "train.resume": False}
    )
    script = ScriptedValLoss([1.0, 0.8, 0.5, 0.6, 0.55, 0.7, 0.1, 0.1, 0.1, 0.1])
    model = build_model(config.model, digits)
    result = train(model, digits, config.train, callbacks=[script], verbose=0)
    # Best 0.5 at epoch 3; epochs 4 and 5 do not improve; patience 2 stops after epoch 5.
    assert result.epochs_run == 5 and result.stopped_early and result.best_epoch == 3
    for restored, best in zip(model.get_weights(), script.weights[2], strict=True):
        np.testing.assert_array_equal(restored, best)


def test_start_from_epoch_and_min_delta(digits):
    config = load_config(
        overrides={
            "train.epochs": 8,
            "train.early_stopping": {"patience": 1, "min_delta": 0.2, "start_from_epoch": 3},
        }
    )
    script = ScriptedValLoss([9.0, 8.0, 7.0, 1.0, 0.9, 0.85, 0.8, 0.7])
    result = train(
        build_model(config.model, digits), digits, config.train, callbacks=[script], verbose=0
    )
    # Epochs 1-3 are not watched; 0.9 (epoch 5) is not 0.2 better than 1.0 (epoch 4): stop.
    assert result.epochs_run == 5 and result.best_epoch == 4


def test_run_folder_gets_a_checkpoint_a_csv_log_and_tensorboard_logs(digits, tmp_path):
    config = load_config(overrides={"train.epochs": 3, "train.tensorboard": True})
    model = build_model(config.model, digits)
    result = train(model, digits, config.train, run_dir=tmp_path, verbose=0)
    rows = (tmp_path / "training_log.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + result.epochs_run and "learning_rate" in rows[0]
    assert result.history["learning_rate"] == sorted(result.history["learning_rate"], reverse=True)
    best = tf_keras.models.load_model(tmp_path / "checkpoints" / "best.keras")
    x_val, y_val = digits.splits.val.arrays()
    probabilities = np.asarray(best(x_val))
    val_loss = -np.mean(np.log(probabilities[np.arange(len(y_val)), y_val]))
    assert val_loss == pytest.approx(min(result.history["val_loss"]), rel=1e-3)  # the best epoch
    assert any((tmp_path / "tensorboard").rglob("events.out.tfevents*"))
    assert not (tmp_path / "training_state").exists()  # removed once training finished


def test_reduce_on_plateau_lowers_a_constant_rate(digits):
    config = load_config(
        overrides={
            "train.epochs": 4,
            "train.schedule.kind": "constant",
            "train.early_stopping.enabled": False,
            "train.reduce_on_plateau": {"enabled": True, "patience": 0, "factor": 0.5},
        }
    )
    script = ScriptedValLoss([1.0, 1.0, 1.0, 1.0])
    result = train(
        build_model(config.model, digits), digits, config.train, callbacks=[script], verbose=0
    )
    rates = result.history["learning_rate"]
    # the first epoch sets the best; each epoch without improvement halves the next rate
    assert rates == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])


def test_seeded_training_is_deterministic(digits):
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    config = load_config(overrides={"train.epochs": 2})
    runs = []
    for _ in range(2):
        tf_keras.utils.set_random_seed(7)
        model = build_model(config.model, digits, seed=7)
        result = train(model, digits, config.train, verbose=0)
        runs.append((model.get_weights(), result.history))
    for a, b in zip(runs[0][0], runs[1][0], strict=True):
        np.testing.assert_array_equal(a, b)
    assert runs[0][1] == runs[1][1]


def test_nan_loss_stops_with_the_epoch_named(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32) * 1e3
    config = load_config(
        overrides={
            "data.source": "arrays",
            "data.task": "regression",
            "data.normalization": "none",
            "train.optimizer": "sgd",
            "train.learning_rate": 10.0,
            "train.schedule.kind": "constant",
        }
    )
    data = prepare_data(config.data, x, x[:, 0] * 1e3)
    with pytest.raises(
        TrainingError, match=r"loss became NaN in epoch 1\. Lower `train.learning_rate`"
    ):
        train(build_model(config.model, data), data, config.train, run_dir=tmp_path, verbose=0)


def test_a_model_whose_output_does_not_fit_the_classes_is_refused(digits):
    model = tf_keras.Sequential(
        [tf_keras.Input((64,)), tf_keras.layers.Dense(5, activation="softmax")]
    )
    with pytest.raises(ValueError, match="output has 5 units but the data has 10 classes"):
        train(model, digits, load_config().train, verbose=0)


def test_train_takes_only_a_tf_keras_model_and_says_how_to_rebuild_a_keras3_one(digits):
    import inspect

    from tfpipeline import UnsupportedModelError

    config = load_config().train
    with pytest.raises(UnsupportedModelError, match="`train` needs a tf_keras model .* str"):
        train("model", digits, config, verbose=0)
    keras3 = pytest.importorskip("keras")
    model = keras3.Sequential([keras3.Input((64,)), keras3.layers.Dense(10)])
    with pytest.raises(UnsupportedModelError, match="`train` changes the model.*from_keras3"):
        train(model, digits, config, verbose=0)
    assert list(inspect.signature(train).parameters)[:3] == ["model", "data", "config"]


def test_the_model_rule_needs_a_model_parameter():
    from tfpipeline import _model_check

    with pytest.raises(TypeError, match="needs a function with a `model` parameter"):
        _model_check.takes_tf_keras_model()(lambda data: data)


def test_cnn_and_regularized_mlp_shapes():
    images = prepare_data(load_config(overrides={"data.as_images": True}).data)
    cnn = build_model(load_config(overrides={"model.kind": "cnn"}).model, images)
    names = [type(layer).__name__ for layer in cnn.layers]
    assert names[:5] == ["Rescaling", "Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D"]
    assert "GlobalAveragePooling2D" in names and cnn.output_shape == (None, 10)
    mlp_config = load_config(
        overrides={"model.dropout": 0.3, "model.batch_norm": True, "model.l2": 1e-4}
    ).model
    mlp = build_model(mlp_config, images)
    names = [type(layer).__name__ for layer in mlp.layers]
    assert names.count("Dropout") == 2 and names.count("BatchNormalization") == 2
    assert len(mlp.losses) == 3  # one L2 penalty per Dense kernel
    with pytest.raises(ValueError, match="needs image-shaped data"):
        build_model(
            load_config(overrides={"model.kind": "cnn"}).model, prepare_data(load_config().data)
        )


def test_classification_report_counts():
    outputs = np.eye(3)[[0, 0, 1, 2, 2, 2]]
    y = np.array([0, 1, 1, 2, 2, 0])
    report = classification_report(outputs, y, ["a", "b", "c"])
    assert report["confusion_matrix"] == [[1, 0, 1], [1, 1, 0], [0, 0, 2]]
    assert report["per_class"]["a"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    )
    assert report["per_class"]["c"]["precision"] == pytest.approx(2 / 3)
    assert report["accuracy"] == pytest.approx(4 / 6)
    soft = np.full((2, 3), 0.25)
    soft[:, 0] = 0.5
    assert classification_report(soft, np.array([0, 1]), ["a", "b", "c"])["loss"] == pytest.approx(
        (-np.log(0.5) - np.log(0.25)) / 2
    )


def test_a_fit_inside_releasing_traced_gradients_leaves_no_gradient_registration():
    from tensorflow.python.framework import ops

    from tfpipeline._keras import releasing_traced_gradients

    registry = ops._gradient_registry._registry
    x = np.random.default_rng(0).random((64, 4), dtype=np.float32)
    y = np.arange(64) % 2

    def fit():
        model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(2)])
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, verbose=0)

    before = len(registry)
    fit()  # TensorFlow's own behaviour: each traced training step registers a gradient
    assert len(registry) > before
    before = len(registry)
    with releasing_traced_gradients():
        fit()
        assert len(registry) > before
    assert len(registry) == before


def test_a_full_disk_while_saving_the_model_names_the_file_and_keeps_the_old_one(
    tmp_path, monkeypatch
):
    import errno
    import zipfile

    from tfpipeline import TfpipelineError
    from tfpipeline.run_folder import save_keras

    inputs = tf_keras.Input((4,))
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2)(inputs))
    target = tmp_path / "model.keras"
    target.write_bytes(b"the earlier model")

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full_disk)  # Keras writes its zip here
    with pytest.raises(TfpipelineError) as caught:
        save_keras(model, target)
    assert str(caught.value) == f"Writing {target} failed: No space left on device."
    monkeypatch.undo()
    assert target.read_bytes() == b"the earlier model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temporary left


def test_a_full_disk_while_logging_training_names_the_log_file():
    from tfpipeline import TfpipelineError
    from tfpipeline.callbacks import _CSVLogger

    logger = _CSVLogger("/dev/full")  # every write to it fails with "No space left"
    logger.on_train_begin()
    with pytest.raises(TfpipelineError, match="^Writing /dev/full failed: No space left on dev"):
        logger.on_epoch_end(0, {"loss": 1.0})
