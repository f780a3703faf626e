"""Every TFLite variant, converted from a trained model and checked in the LiteRT interpreter."""

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from tfpipeline import (
    build_model,
    check_artifact,
    export_tflite,
    load_config,
    measure_artifact,
    predict_probabilities,
    train,
)

# one worker builds the module's fixtures (see pyproject's --dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("export")]


@pytest.fixture(scope="module")
def trained(digits):
    config = load_config(overrides={"train.epochs": 5})
    model = build_model(config.model, digits, seed=1)
    train(model, digits, config.train, verbose=0)
    return model


@pytest.fixture(scope="module")
def variants(trained, digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    calibration = digits.splits.x_train[:200]
    return {
        variant: export_tflite(trained, folder / f"{variant}.tflite", variant, calibration)
        for variant in ("float32", "float16", "dynamic", "int8", "int16x8")
    }


def tensor_types(path):
    interpreter = Interpreter(model_path=str(path))
    kinds = {d["dtype"].__name__ for d in interpreter.get_tensor_details()}
    io = (interpreter.get_input_details()[0]["dtype"], interpreter.get_output_details()[0]["dtype"])
    return kinds, io


def test_each_variant_stores_what_it_says(variants):
    sizes = {v: p.stat().st_size for v, p in variants.items()}
    assert sizes["float16"] < 0.6 * sizes["float32"]
    assert sizes["dynamic"] < 0.4 * sizes["float32"]
    assert sizes["int8"] < 0.4 * sizes["float32"]
    kinds, io = tensor_types(variants["float16"])
    assert "float16" in kinds and io == (np.float32, np.float32)
    kinds, io = tensor_types(variants["dynamic"])
    assert "int8" in kinds and io == (np.float32, np.float32)
    kinds, io = tensor_types(variants["int8"])
    assert io == (np.int8, np.int8)
    kinds, io = tensor_types(variants["int16x8"])
    assert "int16" in kinds and "int8" in kinds and io == (np.float32, np.float32)


def test_each_variant_passes_its_threshold_in_the_interpreter(variants, trained, digits):
    x, y = digits.splits.test.arrays()
    reference = predict_probabilities(trained, x)
    config = load_config().verify
    for variant, path in variants.items():
        figures = measure_artifact(path, x, y, reference, latency_runs=5, latency_warmup=1)
        assert check_artifact(path.name, variant, figures, config) == [], (variant, figures)
    f16 = measure_artifact(variants["float16"], x, y, reference, 5, 1)
    assert 1e-7 < f16["max_abs_diff"] <= 1e-2  # really float16, and close


def test_calibrated_variants_need_calibration_data(trained, tmp_path):
    for variant in ("int8", "int16x8"):
        with pytest.raises(ValueError, match=f"required for the {variant} variant"):
            export_tflite(trained, tmp_path / "m.tflite", variant)
    assert not (tmp_path / "m.tflite").exists()
    with pytest.raises(ValueError, match="must be one of float32, float16, dynamic, int8, int16x8"):
        export_tflite(trained, tmp_path / "m.tflite", "int4")
