"""Verification: every artifact, loaded back from disk, judged in its own runtime."""

from __future__ import annotations

import time

import numpy as np

from tfpipeline.config import VerifyConfig
from tfpipeline.inference import load_predictor

FLOAT_VARIANTS = ("float32",)


def measure_artifact(
    path,
    x: np.ndarray,
    y: np.ndarray,
    reference: np.ndarray,
    latency_runs: int = 200,
    latency_warmup: int = 20,
) -> dict[str, float]:
    """Runs an artifact on `x` in its runtime and compares it with the reference outputs.

    Args:
        path: the artifact (`.tflite`, `.onnx` or SavedModel folder).
        x: raw test inputs.
        y: test labels.
        reference: the Keras model's outputs on `x`.
        latency_runs: timed single-sample calls. Defaults to `200`.
        latency_warmup: untimed calls before them. Defaults to `20`.

    Returns:
        `test_accuracy`, `top1_agreement`, `max_abs_diff`, `latency_ms_p50` and
        `latency_ms_p95`.
    """
    predictor = load_predictor(path)
    outputs = predictor.predict(x)
    predicted = np.argmax(outputs, axis=1)
    timings = _single_sample_latency_ms(predictor, x, latency_runs, latency_warmup)
    return {
        "test_accuracy": float(np.mean(predicted == y)),
        "top1_agreement": float(np.mean(predicted == np.argmax(reference, axis=1))),
        "max_abs_diff": float(np.max(np.abs(outputs - reference))),
        "latency_ms_p50": float(np.percentile(timings, 50)),
        "latency_ms_p95": float(np.percentile(timings, 95)),
    }


def _single_sample_latency_ms(predictor, x: np.ndarray, runs: int, warmup: int) -> np.ndarray:
    samples = [x[i % len(x)][None] for i in range(runs + warmup)]
    for sample in samples[:warmup]:
        predictor.predict(sample)
    timings = np.empty(runs)
    for i, sample in enumerate(samples[warmup:]):
        start = time.perf_counter()
        predictor.predict(sample)
        timings[i] = (time.perf_counter() - start) * 1000
    return timings


def check_artifact(
    name: str, variant: str, figures: dict[str, float], config: VerifyConfig
) -> list[str]:
    """Returns one line per threshold the artifact's figures miss (empty when it passes).

    Float variants must match the Keras model (`float_max_abs_diff`, `float_min_agreement`);
    quantized ones must agree with it (`int8_min_agreement`); all must reach `min_accuracy`.
    """
    failures = []

    def fail(figure: str, rule: str) -> None:
        failures.append(f"{name}: {figure}={figures[figure]:.6g} {rule}")

    if variant in FLOAT_VARIANTS:
        if figures["max_abs_diff"] > config.float_max_abs_diff:
            fail("max_abs_diff", f"> verify.float_max_abs_diff={config.float_max_abs_diff:g}")
        if figures["top1_agreement"] < config.float_min_agreement:
            fail("top1_agreement", f"< verify.float_min_agreement={config.float_min_agreement:g}")
    elif figures["top1_agreement"] < config.int8_min_agreement:
        fail("top1_agreement", f"< verify.int8_min_agreement={config.int8_min_agreement:g}")
    if figures["test_accuracy"] < config.min_accuracy:
        fail("test_accuracy", f"< verify.min_accuracy={config.min_accuracy:g}")
    return failures
