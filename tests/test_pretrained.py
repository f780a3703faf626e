"""Pretrained backbones: real tf_keras.applications models with `weights=None` or a weights
file the test writes (nothing is downloaded), on small photos written by the test."""

import json

import numpy as np
import pytest
from PIL import Image

import tfpipeline as tp
from tfpipeline._keras import keras
from tfpipeline.backbones import (
    BACKBONES,
    backbone_layers,
    check_images,
    freeze_backbone,
    trainable_weight_count,
    unfreeze_backbone,
)
from tfpipeline.config import DataConfig, ModelConfig, TrainConfig, VerifyConfig

SIZE = 32  # the smallest side every backbone takes


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Three classes of 40x48 JPEG and PNG photos (each class its own colour cast)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for c, name in enumerate(["cat", "dog", "emu"]):
        (root / name).mkdir()
        for i in range(16):
            pixels = rng.integers(0, 90, (40, 48, 3), dtype=np.uint8)
            pixels[..., c] += 120
            Image.fromarray(pixels).save(root / name / f"{i}.{'jpg' if i % 2 else 'png'}")
    return root


def prepared(photos, channels=3):
    return tp.prepare_data(
        DataConfig(source="image_dir", path=str(photos), image_size=[SIZE, SIZE], channels=channels)
    )


@pytest.fixture(scope="module")
def data(photos):
    return prepared(photos)


@pytest.fixture(scope="module")
def weights_file(data, tmp_path_factory):
    """MobileNetV2 alpha 0.35's backbone weights, as `save_backbone_weights` writes them
    (random here: the tests check what is frozen, loaded and exported, not what is learnt)."""
    model = tp.build_model(pretrained(weights="none"), data)
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2_0.35_no_top.h5"
    assert tp.save_backbone_weights(model, path) == path
    return str(path)


def pretrained(**keys) -> ModelConfig:
    keys = {"backbone": "mobilenet_v2", "alpha": 0.35, "weights": "none", **keys}
    return ModelConfig(kind="pretrained", hidden_units=[], dropout=0.2, **keys)


def config_error(**model) -> str:
    with pytest.raises(tp.ConfigError) as error:
        tp.from_dict({"model": {"kind": "pretrained", **model}})
    return str(error.value)


def test_backbone_settings_are_refused_by_name_before_anything_is_built(tmp_path):
    assert "must be one of mobilenet, mobilenet_v2" in config_error(backbone="resnet")
    message = config_error(backbone="mobilenet_v2", alpha=0.6)
    assert "0.35, 0.5, 0.75, 1, 1.3, 1.4" in message and "model.alpha=0.6" in message
    assert "none (leave it unset)" in config_error(backbone="efficientnet_b0", alpha=1.0)
    assert "(no such file)" in config_error(weights=str(tmp_path / "missing.h5"))
    (tmp_path / "weights.txt").write_text("not weights")
    assert "(.h5, .hdf5)" in config_error(weights=str(tmp_path / "weights.txt"))
    both = config_error(fine_tune={"layers": 3, "from_layer": "block_13"})
    assert "set one" in both and "layers=3" in both
    with pytest.raises(tp.ConfigError, match="at least 32x32 pixels"):
        check_images("mobilenet_v2", (16, 16, 3))
    with pytest.raises(tp.ConfigError, match=r"needs images .* Received features of shape \(64,\)"):
        check_images("mobilenet_v2", (64,))


def test_random_weights_train_with_the_head_and_fine_tuning_them_is_refused(data):
    model = tp.build_model(pretrained(weights="none"), data)
    assert trainable_weight_count(model) > 200_000  # the whole backbone (BatchNorm too)
    message = config_error(weights="none", fine_tune={"enabled": True})
    assert "needs pretrained weights" in message and "model.weights='none'" in message


def test_the_backbone_is_frozen_for_the_head_and_its_top_unfrozen_with_batch_norm_frozen(
    data, weights_file
):
    model = tp.build_model(pretrained(weights=weights_file), data)
    assert model.input.shape[1:] == (SIZE, SIZE, 3) and model.layers[1].name == "preprocessing"
    # Frozen: only the head trains (1280 pooled features -> 3 classes).
    assert trainable_weight_count(model) == 1280 * 3 + 3
    backbone = backbone_layers(model)
    assert backbone[0].name == "Conv1" and backbone[-1].name == "out_relu"
    unfrozen = unfreeze_backbone(model, layers=10)
    expected = sum(
        int(np.prod(w.shape))
        for layer in backbone[-10:]
        if not isinstance(layer, keras.layers.BatchNormalization)
        for w in layer.weights
    )
    assert unfrozen == 3  # block_16_depthwise, block_16_project, Conv_1
    assert trainable_weight_count(model) == 1280 * 3 + 3 + expected
    # One step of training: frozen weights and every batch norm's statistics stay put (the
    # unfrozen top's batch norms run in inference mode), the unfrozen kernels move.
    before = {w.name: w.numpy().copy() for w in model.weights}
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = data.splits.train.arrays()
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)
    moved = {w.name for w in model.weights if not np.array_equal(before[w.name], w.numpy())}
    trainable = {w.name for w in model.trainable_weights}
    assert moved == trainable
    assert not any("moving_" in name for name in moved)
    with pytest.raises(tp.ConfigError, match=r"Did you mean .*block_16\?"):
        unfreeze_backbone(model, from_layer="block_61")
    unfreeze_backbone(model, from_layer="block_16")
    assert all(
        layer.trainable != isinstance(layer, keras.layers.BatchNormalization)
        for layer in backbone[backbone.index(model.get_layer("block_16_expand")) :]
    )


def test_grayscale_images_are_repeated_on_three_channels_inside_the_model(photos):
    gray = prepared(photos, channels=1)
    model = tp.build_model(pretrained(), gray)
    assert model.input.shape[1:] == (SIZE, SIZE, 1)
    assert model.layers[1].name == "grayscale_to_rgb"
    x = gray.splits.test.arrays()[0][:2]
    rgb = np.repeat(x, 3, axis=-1)
    same_backbone = keras.Model(model.layers[1].output, model.output)
    np.testing.assert_allclose(model(x).numpy(), same_backbone(rgb).numpy(), atol=1e-6)


def test_a_local_weights_file_loads_exactly_and_a_wrong_one_is_refused(
    data, tmp_path, weights_file
):
    source = keras.applications.MobileNetV2(
        input_shape=(SIZE, SIZE, 3), alpha=0.35, include_top=False, weights=None
    )
    rng = np.random.default_rng(1)
    source.set_weights([rng.normal(size=w.shape).astype("float32") for w in source.weights])
    path = tmp_path / "mobilenet_v2_0.35_no_top.h5"
    source.save_weights(path)
    model = tp.build_model(pretrained(weights=str(path)), data)
    for layer in source.layers:
        if layer.weights:
            for theirs, ours in zip(
                layer.weights, model.get_layer(layer.name).weights, strict=True
            ):
                np.testing.assert_array_equal(theirs.numpy(), ours.numpy())
    with pytest.raises(tp.ConfigError, match="does not fit backbone mobilenet_v2"):
        tp.build_model(pretrained(weights=str(path), alpha=1.0), data)
    # A backbone saved from a built model loads into the next one, whatever its head.
    first = tp.build_model(pretrained(weights=weights_file), data)
    path = tp.save_backbone_weights(first, tmp_path / "again.h5")
    second = tp.build_model(pretrained(weights=str(path)), data, seed=7)
    for a, b in zip(first.weights, second.weights, strict=True):
        same = np.array_equal(a.numpy(), b.numpy())
        assert same == ("probabilities/kernel" not in a.name), a.name  # a new head
    with pytest.raises(ValueError, match="must end in .h5 or .hdf5"):
        tp.save_backbone_weights(first, tmp_path / "backbone.keras")


def test_imagenet_weights_without_network_name_the_file_the_cache_and_the_way_out(
    data, tmp_path, monkeypatch
):
    # A proxy nobody listens on: the download fails at once, as it does offline.
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(tp.ConfigError) as error:
        tp.build_model(pretrained(weights="imagenet"), data)
    message = str(error.value)
    cached = tmp_path / "keras" / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels"
    assert f"into {cached}_0.35_224_no_top.h5" in message
    assert "https://storage.googleapis.com/" in message
    assert "model.weights` to its path" in message and "model.weights: none" in message


def test_compression_tfmot_cannot_apply_is_skipped_by_name_or_raised(photos, tmp_path):
    data = prepared(photos)
    model = tp.build_model(pretrained(backbone="mobilenet_v3_small", alpha=None), data)
    freeze_backbone(model)  # as pretrained weights leave it: then compression unfreezes
    unfreeze_backbone(model)  # all but BatchNormalization
    only_qat = tp.from_dict({"compress": {"prune": {"enabled": False}, "qat": {"enabled": True}}})
    with pytest.raises(AttributeError):
        tp.compress_model(model, data, only_qat.compress, TrainConfig(epochs=1))
    result = tp.compress_model(model, data, only_qat.compress, TrainConfig(), fallback=True)
    assert result.model is model and result.steps == []
    assert [item["technique"] for item in result.skipped] == ["qat"]
    assert "TFOpLambda" in result.skipped[0]["reason"]


@pytest.mark.slow
def test_a_photo_folder_goes_to_a_fine_tuned_pruned_int8_model_and_an_android_bundle(
    photos, tmp_path, weights_file
):
    config = tp.from_dict(
        {
            "data": {"source": "image_dir", "path": str(photos), "image_size": [SIZE, SIZE]},
            "model": {
                "kind": "pretrained",
                "backbone": "mobilenet_v2",
                "alpha": 0.35,
                "weights": weights_file,
                "hidden_units": [],
                "fine_tune": {"enabled": True, "from_layer": "block_15", "epochs": 1},
            },
            "train": {"epochs": 2, "learning_rate": 0.01, "early_stopping": {"enabled": False}},
            "compress": {"prune": {"epochs": 1, "sparsity": 0.5}},
            "export": {
                "saved_model": False,
                "tflite": ["float32", "int8"],
                "int8_io": "uint8",
                "android": True,
            },
            "verify": {"latency_runs": 3, "latency_warmup": 0},
        }
    )
    lines = []
    record = tp.Pipeline(config, log=lines.append, verbose=0).run(tmp_path / "run")
    log = "\n".join(lines)
    assert record["status"] == "passed", log
    phases = record["training"]["phases"]
    assert [p["name"] for p in phases] == ["head", "fine_tune"]
    assert [p["epochs_run"] for p in phases] == [2, 1] and record["training"]["epochs_run"] == 3
    # From block_15 on: blocks 15 and 16's expand, depthwise and project convolutions, Conv_1.
    assert phases[1]["unfrozen_layers"] == 7
    assert phases[0]["trainable_weights"] == 1280 * 3 + 3 < phases[1]["trainable_weights"]
    assert len(record["training"]["history"]["loss"]) == 3
    assert "phase 2, fine-tuning:" in log and "BatchNormalization kept frozen" in log
    assert record["compression"]["techniques"] == ["prune"]
    assert record["compression"]["overall_sparsity"] > 0.3  # the backbone's kernels pruned
    artifacts = {a["path"]: a for a in record["artifacts"]}
    assert set(artifacts) == {"model_float32.tflite", "model_int8.tflite", "model.onnx"}
    assert all(a["passed"] for a in artifacts.values())
    report = (tmp_path / "run" / "report.md").read_text()
    assert "- Fine-tuning (7 backbone layers unfrozen, BatchNormalization frozen): 1 epoch " in (
        report
    )
    bundle = tmp_path / "run" / "android"
    card = json.loads((bundle / "model_card.json").read_text())
    assert card["input"]["dtype"] == "uint8"
    # The shipped file takes a photo file as an app has it, through the Predictor.
    predictor = tp.Predictor.load(bundle / "model.tflite")
    photo = next((photos / "dog").glob("*.jpg"))
    probabilities = predictor.predict([str(photo)])
    assert probabilities.shape == (1, 3)


@pytest.mark.slow
def test_a_backbone_tfmot_cannot_train_quantization_aware_falls_back_to_int8_after_training(
    photos, tmp_path
):
    config = tp.from_dict(
        {
            "data": {"source": "image_dir", "path": str(photos), "image_size": [SIZE, SIZE]},
            "model": {"kind": "pretrained", "backbone": "mobilenet_v3_small", "weights": "none"},
            "train": {"epochs": 1},
            "compress": {"prune": {"enabled": False}, "qat": {"enabled": True}},
            "export": {"saved_model": False, "onnx": False, "keras": False, "tflite": ["int8"]},
            "verify": {"latency_runs": 3, "latency_warmup": 0},
        }
    )
    lines = []
    record = tp.Pipeline(config, log=lines.append, verbose=0).run(tmp_path / "run")
    log = "\n".join(lines)
    assert "qat: skipped, TensorFlow Model Optimization cannot train with quantization" in log
    assert "post-training quantization" in log
    assert record["compression"]["skipped"][0]["technique"] == "qat"
    assert record["status"] == "passed" and record["artifacts"][0]["variant"] == "int8"


# The backbones the two end-to-end runs above do not build, and the variant each exports.
EACH = [
    ("mobilenet", "int8"),
    ("mobilenet_v3_large", "int8"),
    ("efficientnet_b0", "int8"),
    ("efficientnet_v2_b0", None),  # built and exported untrained: its training step and
    # int8 conversion take a minute each here
]


def test_every_registered_backbone_is_built_by_a_test_here():
    assert {"mobilenet_v2", "mobilenet_v3_small"} | {name for name, _ in EACH} == set(BACKBONES)


@pytest.mark.slow
@pytest.mark.parametrize("backbone, variant", EACH)
def test_each_backbone_trains_exports_on_raw_pixels_and_passes_the_gate(
    backbone, variant, data, tmp_path
):
    model = tp.build_model(pretrained(backbone=backbone, alpha=None), data)
    if variant is not None:
        tp.train(model, data, TrainConfig(epochs=1, batch_size=64), verbose=0)
    variant = variant or "float32"
    x_train = data.splits.train.arrays()[0]
    x_test, y_test = data.splits.test.arrays()
    path = tp.export_tflite(
        model, tmp_path / "model.tflite", variant, calibration_data=x_train, int8_io="uint8"
    )
    if variant == "int8":  # camera bytes in, integer arithmetic throughout
        ops = tp.tflite_ops(path)
        assert ops[0]["inputs"] == ["uint8"]
        assert not [op["op"] for op in ops if op["op"] == "DEQUANTIZE"]
    figures = tp.measure_artifact(
        path, x_test, y_test, model(x_test).numpy(), latency_runs=2, latency_warmup=0
    )
    assert tp.check_artifact(path.name, variant, figures, VerifyConfig()) == []
