"""Calibration of the integer variants: the first `export.calibration_samples` samples of the
training split, never validation or test data, and they are what sets the quantization."""

import inspect

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import tfpipeline.export.plan
import tfpipeline.stages.verify
from tfpipeline import Pipeline, VerificationError, build_model, export_tflite, load_config

CALIBRATION_SAMPLES = 37  # neither the default (500) nor the size of any split


def record_calibration(monkeypatch, module, name, argument):
    """Wraps `<module>.<name>` to keep `(variant, <argument>)` of every call; the real
    function still runs."""
    real = getattr(module, name)
    signature = inspect.signature(real)
    calls = []

    def recording(*args, **kwargs):
        bound = signature.bind(*args, **kwargs).arguments
        calls.append((bound["variant"], bound.get(argument)))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, recording)
    return calls


def samples_taken(calibration, data):
    """Which samples `calibration` is: the first n of a split, in order, or none."""
    for split in ("train", "val", "test"):
        x = getattr(data.splits, split).arrays()[0]
        if len(calibration) <= len(x) and np.array_equal(calibration, x[: len(calibration)]):
            return f"the first {len(calibration)} samples of the {split} split"
    return f"{len(calibration)} samples that start no split"


@pytest.mark.slow
def test_the_pipeline_calibrates_on_the_first_calibration_samples_of_the_training_split(
    tmp_path, monkeypatch, digits
):
    exports = record_calibration(
        monkeypatch, tfpipeline.export.plan, "export_tflite", "calibration_data"
    )
    diagnoses = record_calibration(
        monkeypatch, tfpipeline.stages.verify, "diagnose_quantization", "calibration"
    )
    config = load_config(
        overrides={
            "train.epochs": 1,
            "train.checkpoint": False,
            "compress.prune.enabled": False,
            "export": {"saved_model": False, "onnx": False, "keras": False},
            "export.tflite": ["int8", "int16x8"],
            "export.calibration_samples": CALIBRATION_SAMPLES,
            "verify.latency_runs": 1,
            "verify.latency_warmup": 0,
            "verify.min_accuracy": 1.0,  # every file misses, so the int8 one is diagnosed too
        }
    )
    assert config.data == load_config().data  # the data and split of the `digits` fixture
    with pytest.raises(VerificationError):
        Pipeline(config, log=lambda line: None, verbose=0).run(tmp_path / "run")

    expected = f"the first {CALIBRATION_SAMPLES} samples of the train split"
    assert [variant for variant, _ in exports] == ["int8", "int16x8"]
    for variant, calibration in exports:
        assert samples_taken(calibration, digits) == expected, variant
    assert [variant for variant, _ in diagnoses] == ["int8", "int16x8"]
    assert samples_taken(diagnoses[0][1], digits) == expected  # measured as it was calibrated


def test_the_calibration_samples_set_the_int8_input_range(digits, tmp_path):
    """The int8 input's scale and zero point are those of the calibration samples' range."""
    model = build_model(load_config().model, digits, seed=0)  # untrained: only the range counts
    x_train = digits.splits.train.arrays()[0]
    for top in (16.0, 8.0):  # digits' raw range, then the same samples halved
        calibration = x_train[:CALIBRATION_SAMPLES] * (top / 16.0)
        assert calibration.min() == 0 and calibration.max() == top
        path = export_tflite(model, tmp_path / f"m{top:g}.tflite", "int8", calibration)
        scale, zero_point = Interpreter(model_path=str(path)).get_input_details()[0]["quantization"]
        assert scale == pytest.approx(top / 255, rel=1e-6)
        assert zero_point == -128  # raw 0 is the lowest int8 value
