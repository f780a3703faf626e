"""Real TFMOT pruning, clustering, quantization-aware training and their combinations."""

import numpy as np
import pytest

from tfpipeline import (
    UnsupportedModelError,
    apply_clustering,
    apply_pruning,
    apply_qat,
    build_model,
    compress_model,
    export_tflite,
    kernel_sparsity,
    load_config,
    load_predictor,
    overall_sparsity,
    predict_probabilities,
    strip_clustering,
    strip_pruning,
    train,
    unique_weights,
)
from tfpipeline._keras import keras
from tfpipeline.compress import PruningSchedule

# one worker builds the module's fixtures (see pyproject's --dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("compress")]


@pytest.fixture(scope="module")
def trained(digits):
    config = load_config(overrides={"train.epochs": 4})
    model = build_model(config.model, digits, seed=2)
    train(model, digits, config.train, verbose=0)
    return model


def test_clustered_kernels_hold_at_most_n_values_after_stripping(trained, digits):
    before = [w.copy() for w in trained.get_weights()]
    wrapped, callbacks = apply_clustering(trained, clusters=8)
    config = load_config(overrides={"train.epochs": 1, "train.learning_rate": 1e-4})
    train(wrapped, digits, config.train, callbacks=callbacks, verbose=0)
    stripped = strip_clustering(wrapped)
    counts = unique_weights(stripped)
    assert set(counts) == {"dense_0", "dense_1", "probabilities"}
    assert all(2 <= count <= 8 for count in counts.values())
    accuracy = np.mean(
        predict_probabilities(stripped, digits.splits.x_test).argmax(1) == digits.splits.y_test
    )
    trained_accuracy = np.mean(
        predict_probabilities(trained, digits.splits.x_test).argmax(1) == digits.splits.y_test
    )
    assert accuracy >= trained_accuracy - 0.02  # 8 values a kernel: measured 0.961 and 0.967
    for old, new in zip(before, trained.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # the trained model is left as it was


def test_qat_model_converts_to_int8_and_agrees_in_litert(trained, digits, tmp_path):
    qat, _ = apply_qat(trained)
    config = load_config(overrides={"train.epochs": 2, "train.learning_rate": 1e-4})
    train(qat, digits, config.train, verbose=0)
    path = export_tflite(qat, tmp_path / "qat.tflite", "int8", digits.splits.x_train[:200])
    x = digits.splits.x_test
    agreement = np.mean(
        load_predictor(path).predict(x).argmax(1) == predict_probabilities(qat, x).argmax(1)
    )
    assert agreement >= 0.97
    with pytest.raises(ValueError, match="already quantization-aware"):
        apply_qat(qat)


def test_bad_clustering_arguments(trained):
    with pytest.raises(ValueError, match="`clusters` must be >= 2"):
        apply_clustering(trained, clusters=1)
    with pytest.raises(ValueError, match="`init` must be one of"):
        apply_clustering(trained, clusters=4, init="kmeans")


# --- pruning options, layer selection and the combined schemes ---------------------------


def _is_wrapper(layer) -> bool:
    return type(layer).__name__ in ("PruneLowMagnitude", "ClusterWeights", "QuantizeWrapperV2")


def _fine_tune(model, digits, callbacks, epochs=1, rate=5e-4):
    config = load_config(overrides={"train.epochs": epochs, "train.learning_rate": rate})
    train(model, digits, config.train, callbacks=callbacks, early_stopping=False, verbose=0)


def test_constant_sparsity_reaches_the_target_and_stripping_leaves_plain_layers(trained, digits):
    wrapped, callbacks = apply_pruning(trained, 0.6, end_step=10, schedule="constant")
    _fine_tune(wrapped, digits, callbacks)
    stripped = strip_pruning(wrapped)
    assert not any(_is_wrapper(layer) for layer in stripped.layers)
    assert kernel_sparsity(stripped) == pytest.approx(
        {"dense_0": 0.6, "dense_1": 0.6, "probabilities": 0.6}, abs=0.01
    )
    assert overall_sparsity(trained) < 0.01  # the trained model kept its weights


def test_two_four_sparsity_zeroes_two_of_every_four_inputs(trained, digits):
    wrapped, callbacks = apply_pruning(
        trained, 0.5, end_step=4, sparsity_m_by_n=(2, 4), skip_layers=["probabilities"]
    )
    _fine_tune(wrapped, digits, callbacks)
    stripped = strip_pruning(wrapped)
    kernel = stripped.get_layer("dense_1").kernel.numpy()  # (128 inputs, 64 units)
    zeros_per_group = (kernel.reshape(-1, 4, kernel.shape[1]) == 0).sum(axis=1)
    assert zeros_per_group.min() >= 2
    assert kernel_sparsity(stripped)["probabilities"] == 0.0  # skipped: left dense


def test_pruning_refuses_a_layer_tfmot_cannot_wrap_and_skips_it_when_asked(digits):
    class Scale(keras.layers.Layer):
        def build(self, shape):
            self.factor = self.add_weight(name="factor", shape=(shape[-1], shape[-1]))

        def call(self, x):
            return x @ self.factor

    inputs = keras.Input((64,))
    hidden = Scale(name="scale")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax", name="out")(hidden)
    model = keras.Model(inputs, outputs)
    with pytest.raises(UnsupportedModelError) as error:
        apply_pruning(model, 0.5, end_step=4)
    message = str(error.value)
    assert "'scale' (Scale)" in message and "skip_layers: [scale]" in message
    wrapped, _ = apply_pruning(model, 0.5, end_step=4, skip_layers=["Scale"])
    assert [type(layer).__name__ for layer in wrapped.layers[1:]] == ["Scale", "PruneLowMagnitude"]
    with pytest.raises(ValueError, match="names no layer of model .*: nope. Its layers are"):
        apply_pruning(model, 0.5, end_step=4, skip_layers=["nope"])
    with pytest.raises(UnsupportedModelError, match="XNNPACK pruning policy does not suit"):
        apply_pruning(model, 0.5, end_step=4, xnnpack=True, skip_layers=["scale"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sparsity": 1.0}, "`sparsity` must be in \\(0, 1\\)"),
        ({"sparsity": 0.5, "initial_sparsity": 0.5}, "`initial_sparsity` must be >= 0 and below"),
        ({"sparsity": 0.5, "schedule": "linear"}, "`schedule` must be one of polynomial"),
        ({"sparsity": 0.5, "begin_step": 4}, "must satisfy 0 <= begin_step < end_step"),
        ({"sparsity": 0.5, "sparsity_m_by_n": (4, 2)}, "`sparsity_m_by_n` must be two integers"),
    ],
)
def test_bad_pruning_arguments(trained, kwargs, message):
    with pytest.raises(ValueError, match=message):
        apply_pruning(trained, end_step=4, **kwargs)


def test_a_pruning_schedule_object_gives_the_same_wrapping_as_its_fields(trained):
    schedule = PruningSchedule(0.6, end_step=10, schedule="constant")
    for wrapped, callbacks in (
        apply_pruning(trained, schedule, skip_layers=["probabilities"]),
        apply_pruning(
            trained, 0.6, end_step=10, schedule="constant", skip_layers=["probabilities"]
        ),
    ):
        pruned = [layer for layer in wrapped.layers if _is_wrapper(layer)]
        assert [layer.layer.name for layer in pruned] == ["dense_0", "dense_1"]
        tfmot_schedule = pruned[0].pruning_schedule
        assert type(tfmot_schedule).__name__ == "ConstantSparsity"
        assert (tfmot_schedule.target_sparsity, tfmot_schedule.begin_step) == (0.6, 0)
        assert callbacks
    with pytest.raises(TypeError, match="not both. Received a PruningSchedule and: end_step"):
        apply_pruning(trained, schedule, end_step=5)


def test_pruning_then_qat_keeps_the_zeros_and_runs_as_int8_in_litert(trained, digits, tmp_path):
    wrapped, callbacks = apply_pruning(trained, 0.7, end_step=20)
    _fine_tune(wrapped, digits, callbacks, epochs=2)
    pruned = strip_pruning(wrapped)
    qat, _ = apply_qat(pruned, preserve=["sparsity"])
    _fine_tune(qat, digits, [], rate=1e-4)
    assert all(value >= 0.69 for value in kernel_sparsity(qat).values())
    path = export_tflite(qat, tmp_path / "pqat.tflite", "int8", digits.splits.x_train[:200])
    x = digits.splits.x_test
    outputs = load_predictor(path).predict(x)
    agreement = np.mean(outputs.argmax(1) == predict_probabilities(qat, x).argmax(1))
    assert agreement >= 0.95
    with pytest.raises(ValueError, match="`preserve` takes sparsity, clusters"):
        apply_qat(pruned, preserve=["zeros"])


def test_compress_runs_prune_cluster_qat_in_turn(trained, digits, tmp_path):
    config = load_config(
        overrides={
            "compress.prune.sparsity": 0.6,
            "compress.prune.epochs": 2,
            "compress.cluster.enabled": True,
            "compress.cluster.clusters": 6,
            "compress.cluster.epochs": 1,
            "compress.qat.enabled": True,
            "compress.qat.epochs": 1,
        }
    )
    result = compress_model(trained, digits, config.compress, config.train, verbose=0)
    assert [step.technique for step in result.steps] == ["prune", "cluster", "qat"]
    final = result.steps[-1]
    assert all(count <= 6 for count in final.unique_weights.values())
    assert all(value >= 0.59 for value in final.sparsity.values())  # PCQAT kept the zeros
    wrapped = [type(layer.layer).__name__ for layer in result.model.layers if _is_wrapper(layer)]
    assert wrapped == ["Normalization", "Dense", "Dense", "Dense"]  # normalization kept float
    path = export_tflite(result.model, tmp_path / "pcqat.tflite", "int8", digits.splits.x_train)
    x = digits.splits.x_test
    agreement = np.mean(
        load_predictor(path).predict(x).argmax(1)
        == predict_probabilities(result.model, x).argmax(1)
    )
    assert agreement >= 0.95
