"""Where a quantized model's error comes from, for the report of an artifact that missed.

Two sources are told apart:
- the input: under one int8 input scale, features whose training range spans few steps are
  lost before the model sees them (see `int8_input`);
- the layers: TFLite's quantization debugger runs the model with every quantized op beside
  its float original and measures each op's error in its own quantization steps (RMSE /
  scale: about 0.3 is the rounding every int8 tensor has; far above it, that op is to blame).
"""

from __future__ import annotations

import csv
import io
import warnings
from typing import Any

import numpy as np

from tfpipeline._keras import keras, tf
from tfpipeline.config import INT8_IO_TYPES
from tfpipeline.data import PreparedData
from tfpipeline.export._signature import as_model_input, serving_function
from tfpipeline.export.int8_input import MIN_INPUT_STEPS, Int8Input, input_steps
from tfpipeline.export.tflite import quantization_debugger

# An op whose error is this many of its quantization steps (RMSE / scale) or more is named.
LAYER_BLAME = 1.0
SHOWN = 3


def diagnose_quantization(
    model: keras.Model,
    data: PreparedData,
    variant: str,
    x: np.ndarray,
    int8_input: Int8Input | None = None,
    calibration: np.ndarray | None = None,
) -> dict[str, Any]:
    """Says where a quantized artifact's error comes from and which option should fix it.

    Args:
        model: the Keras model the artifact was exported from.
        data: its prepared data (training statistics, feature names).
        variant: the artifact's variant (`int8`, `dynamic`, `int16x8`).
        x: raw samples to measure the layers on (a few hundred test samples).
        int8_input: how the `int8` variant took its input. Defaults to `None` (quantized
            with one scale, or not an `int8` variant).
        calibration: the training samples the artifact was calibrated on (`int8` only).
            Defaults to `None` (no per-layer figures).

    Returns:
        `inputs` (features lost at a quantized input: name and steps), `layers` (the ops
        with the largest error in quantization steps: tensor, op, `rmse_over_scale`,
        `max_abs_error`), and `fix` (one sentence naming the options).
    """
    quantized_input = variant == "int8" and (
        int8_input is None or int8_input.dtype in INT8_IO_TYPES
    )
    inputs = _lost_inputs(data) if quantized_input and not data.is_image else []
    layers = []
    if variant == "int8" and calibration is not None and len(x):
        layers = _layer_errors(model, calibration, x, int8_input)
    blamed = [layer for layer in layers if layer["rmse_over_scale"] >= LAYER_BLAME]
    return {"inputs": inputs, "layers": layers[:SHOWN], "fix": _fix(inputs, blamed, variant)}


def _lost_inputs(data: PreparedData) -> list[dict[str, Any]]:
    stats = data.stats
    steps = input_steps(stats)
    names = data.feature_names
    lost = [
        i
        for i in np.argsort(steps)
        if steps[i] < MIN_INPUT_STEPS and stats.maximum[i] > stats.minimum[i]
    ]
    return [
        {"feature": names[i] if i < len(names) else f"feature_{i}", "steps": float(steps[i])}
        for i in lost
    ]


def _layer_errors(model, calibration, x, int8_input: Int8Input | None) -> list[dict[str, Any]]:
    """Each quantized op's error on `x`, worst first (TFLite's quantization debugger)."""
    samples = as_model_input(calibration, model)
    x = as_model_input(x, model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serving_function(model)], model)
    converter.representative_dataset = lambda: ([samples[i : i + 1]] for i in range(len(samples)))
    float_layers = int8_input.float_layers if int8_input is not None else ()
    float_output = model.layers[-1].name in float_layers
    debugger = quantization_debugger(converter, float_layers, x, float_output)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    rows = []
    for row in csv.DictReader(io.StringIO(dump.getvalue())):
        scale = float(row["scale"])
        if scale > 0:
            rmse = float(np.sqrt(float(row["mean_squared_error"])))
            rows.append(
                {
                    "tensor": row["tensor_name"],
                    "op": row["op_name"],
                    "rmse_over_scale": rmse / scale,
                    "max_abs_error": float(row["max_abs_error"]),
                }
            )
    return sorted(rows, key=lambda r: -r["rmse_over_scale"])


def _fix(inputs: list, blamed: list, variant: str) -> str:
    if inputs:
        shown = ", ".join(f"'{i['feature']}' ({i['steps']:.2g} steps)" for i in inputs[:SHOWN])
        return (
            f"The quantized input leaves {len(inputs)} feature(s) fewer than "
            f"{MIN_INPUT_STEPS} int8 steps: {shown}. Set `export.int8_input: float` (the "
            "normalization then computes in float before the first quantize), or train "
            "quantization-aware (`compress.qat.enabled: true`)."
        )
    if blamed:
        shown = ", ".join(f"{b['op']} '{b['tensor']}'" for b in blamed[:SHOWN])
        return (
            f"The error comes from the quantized ops {shown} (each over {LAYER_BLAME:g} "
            "quantization steps of error). Train quantization-aware "
            "(`compress.qat.enabled: true`), or ship the `dynamic` or `int16x8` variant "
            "(`export.tflite`), which keep more precision in the activations."
        )
    if variant == "dynamic":
        return (
            "Dynamic quantization rounds each batch's activations on the fly; ship `int8` "
            "(calibrated) or train quantization-aware (`compress.qat.enabled: true`)."
        )
    return (
        "No single op or input stands out: the rounding error adds up over the layers. Train "
        "quantization-aware (`compress.qat.enabled: true`), ship `int16x8`, or calibrate on "
        "more samples (`export.calibration_samples`)."
    )
