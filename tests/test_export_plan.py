"""The export plan: which files the `export` config asks for, in order, what each is made
with, and a new kind of export plugging in by registering once."""

import dataclasses

import numpy as np
import pytest

from tfpipeline import load_config
from tfpipeline.data import prepare_data
from tfpipeline.export.plan import (
    EXPORT_KINDS,
    ExportKind,
    ExportSettings,
    ExportTarget,
    plan_exports,
    tflite_variants,
)
from tfpipeline.models import build_model


def test_the_plan_lists_every_file_the_config_asks_for_in_writing_order():
    config = load_config(
        None,
        [
            "export.tflite=[int8,float16]",
            "export.saved_model=true",
            "export.onnx=true",
            "export.onnx_optimized=true",
            "export.onnx_int8=true",
        ],
    ).export
    targets = plan_exports(config)
    assert [(t.format, t.variant, t.filename) for t in targets] == [
        ("saved_model", "float32", "saved_model"),
        ("tflite", "int8", "model_int8.tflite"),
        ("tflite", "float16", "model_float16.tflite"),
        ("onnx", "float32", "model.onnx"),
        ("onnx", "float32", "model_optimized.onnx"),
        ("onnx", "int8", "model_int8.onnx"),
    ]
    assert tflite_variants(targets) == ["int8", "float16"]
    assert [t.integer for t in targets] == [False, True, False, False, False, False]
    quiet = dataclasses.replace(config, saved_model=False, onnx=False, onnx_optimized=False,
                                onnx_int8=False, tflite=["float32"])  # fmt: skip
    assert plan_exports(quiet) == [ExportTarget.tflite("float32")]


def test_a_new_kind_of_export_registers_once_and_is_planned_and_made(monkeypatch, tmp_path):
    def make(target, model, folder, settings):
        path = folder / target.filename
        path.write_text(f"{model} {settings.int8_io}")
        return path

    def planned(config):
        return [ExportTarget("text", "float32", "model.txt", "text")]

    monkeypatch.setitem(EXPORT_KINDS, "text", ExportKind(make, planned))
    targets = plan_exports(load_config(None, ["export.tflite=[float32]"]).export)
    assert [t.filename for t in targets][-1] == "model.txt"
    path = targets[-1].export("the model", tmp_path, ExportSettings(int8_io="uint8"))
    assert path.read_text() == "the model uint8"


def test_settings_calibrate_on_the_first_training_samples_only_when_a_variant_needs_it():
    config = load_config(None, ["export.calibration_samples=7"])
    data = prepare_data(config.data)
    model = build_model(config.model, data)
    float_only = ExportSettings.for_model(model, data, config.export, ["float32", "dynamic"])
    assert float_only.calibration is None and float_only.int8_input is None
    int16 = ExportSettings.for_model(model, data, config.export, ["int16x8"])
    np.testing.assert_array_equal(int16.calibration, data.splits.train.arrays()[0][:7])
    assert int16.int8_input is None
    int8 = ExportSettings.for_model(model, data, config.export, ["int8"])
    assert int8.int8_input is not None and int8.int8_input.dtype in ("int8", "float32")
    assert len(int8.calibration) == 7


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_a_target_checks_figures_by_its_own_variants_thresholds(variant):
    verify = load_config(None, []).verify
    figures = {"test_accuracy": 0.99, "top1_agreement": 0.97, "max_abs_diff": 0.5}
    failures = ExportTarget.tflite(variant).check(figures, verify)
    # float: must match the Keras model closely; int8: agreement on decided samples only
    assert bool(failures) == (variant == "float32")
    assert all(f.startswith(f"model_{variant}.tflite:") for f in failures)
