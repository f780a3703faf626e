import numpy as np
import pytest
import tf_keras

from tfpipeline import (
    UnsupportedModelError,
    apply_pruning,
    build_model,
    export_tflite,
    load_config,
    load_predictor,
    strip_pruning,
    train,
)


def _normalization(model):
    return model.get_layer("normalization")


def test_normalization_statistics_come_from_the_training_split_only(digits):
    model = build_model(load_config().model, digits)
    mean = np.asarray(_normalization(model).mean).reshape(-1)
    np.testing.assert_allclose(mean, digits.splits.x_train.mean(axis=0), rtol=1e-5, atol=1e-5)
    everything = np.concatenate([digits.splits.x_train, digits.splits.x_test])
    assert not np.allclose(mean, everything.mean(axis=0), atol=1e-5)


def test_seed_shape_is_built_with_glorot_uniform_by_default(digits):
    model = build_model(load_config().model, digits, seed=3)
    dense = [layer for layer in model.layers if isinstance(layer, tf_keras.layers.Dense)]
    assert [layer.units for layer in dense] == [128, 64, 10]
    assert [layer.activation.__name__ for layer in dense] == ["relu", "relu", "softmax"]
    kernel = dense[0].kernel.numpy()
    fan_in, fan_out = kernel.shape
    # Glorot uniform: U(-l, l) with variance 2 / (fan_in + fan_out).
    assert kernel.var() == pytest.approx(2 / (fan_in + fan_out), rel=0.1)
    assert np.abs(kernel).max() <= np.sqrt(6 / (fan_in + fan_out))


def test_raw_inputs_go_in_and_probabilities_come_out(digits):
    model = build_model(load_config().model, digits)
    out = model(digits.splits.x_test[:5]).numpy()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_the_seed_documents_example_builds_a_model_the_package_accepts():
    from tensorflow.keras import layers, models

    model = models.Sequential()
    model.add(layers.Dense(128, activation="relu", input_shape=(64,)))
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    assert isinstance(model, tf_keras.Model)
    wrapped, callbacks = apply_pruning(model, 0.5, end_step=1)
    assert callbacks


def test_pruning_reaches_the_target_and_leaves_the_original_untouched(digits):
    config = load_config(overrides={"train.epochs": 1})
    model = build_model(config.model, digits)
    before = [w.copy() for w in model.get_weights()]
    wrapped, callbacks = apply_pruning(model, 0.6, end_step=10)
    train(wrapped, digits, config.train, callbacks=callbacks, verbose=0)
    stripped = strip_pruning(wrapped)
    assert [type(layer).__name__ for layer in stripped.layers] == [
        "Normalization",
        "Dense",
        "Dense",
        "Dense",
    ]
    for layer in stripped.layers[1:]:
        assert np.mean(layer.kernel.numpy() == 0) == pytest.approx(0.6, abs=0.01)
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_keras3_models_are_bridged_except_where_a_stage_would_change_them(tmp_path, digits):
    import keras

    assert keras.__version__.startswith("3")
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
    config = load_config()
    with pytest.raises(UnsupportedModelError, match="Keras 3 model") as info:
        train(model, digits, config.train, verbose=0)  # train changes the model it is given
    assert "tfpipeline.from_keras3(model)" in str(info.value)
    wrapped, _ = apply_pruning(model, 0.5, end_step=1)  # works on a rebuilt copy
    assert type(wrapped).__module__.startswith("tf_keras")
    path = export_tflite(model, tmp_path / "m.tflite")
    x = digits.splits.test.arrays()[0][:4]
    np.testing.assert_allclose(
        load_predictor(path).predict(x), model.predict(x, verbose=0), atol=1e-5
    )


def test_import_is_light_and_every_public_name_is_documented():
    import subprocess
    import sys

    code = "import sys, tfpipeline; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False"

    import tfpipeline

    for name in tfpipeline.__all__:
        if name != "__version__":
            assert getattr(tfpipeline, name).__doc__, name


def test_a_layer_too_large_to_build_is_refused_by_its_config_key(digits):
    from tfpipeline import ConfigError

    config = load_config(overrides={"model.hidden_units": [1_000_000, 1_000_000]}).model
    with pytest.raises(ConfigError, match=r"`model.hidden_units` asks for a Dense layer of "):
        build_model(config, digits)


def test_every_model_kind_but_custom_is_a_registered_family():
    from tfpipeline.config.model import MODELS
    from tfpipeline.models import MODEL_FAMILIES

    assert set(MODEL_FAMILIES) == set(MODELS) - {"custom"}
    config = load_config(overrides={"model.kind": "custom"}).model
    with pytest.raises(ValueError, match="`model.kind: custom` uses the model you pass"):
        build_model(config, None)
