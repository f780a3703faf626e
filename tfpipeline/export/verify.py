"""Verification: every artifact, loaded back from disk, judged in its own runtime."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tfpipeline.benchmark import benchmark_artifact
from tfpipeline.config import VerifyConfig
from tfpipeline.errors import VerificationError
from tfpipeline.evaluation import score
from tfpipeline.inference import load_predictor

FLOAT_VARIANTS = ("float32", "float16")
# Variants whose LiteRT kernels have ended the process on ops they do not handle (int16x8 of
# a transformer aborts inside `invoke`): their first call runs in a child process.
PROBED_VARIANTS = ("int16x8",)
_PROBE = (
    "import sys, numpy as np\n"
    "from tfpipeline.inference import Predictor\n"
    "Predictor.load(sys.argv[1], check_manifest=False).predict(np.load(sys.argv[2]))\n"
)


def check_runs_in_a_child(path: str | Path, sample: np.ndarray, timeout: float = 300) -> None:
    """Runs `path` once on `sample` in a child process, so that a runtime that aborts on the
    file ends the child, not this process.

    Raises:
        VerificationError: naming how the child ended (a signal, or an error and its last
            line).
    """
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "x.npy", sample)
        child = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path), str(Path(folder) / "x.npy")],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if child.returncode == 0:
        return
    if child.returncode < 0:
        how = f"the runtime ended the process ({signal.Signals(-child.returncode).name})"
    else:
        lines = child.stderr.strip().splitlines()
        how = f"it raised: {lines[-1] if lines else f'exit code {child.returncode}'}"
    raise VerificationError(
        [f"{Path(path).name} does not run in its runtime: {how} on its first sample"]
    )


def measure_artifact(
    path: str | Path,
    x: np.ndarray,
    y: np.ndarray,
    reference: np.ndarray,
    latency_runs: int = 200,
    latency_warmup: int = 20,
    task: str = "classification",
    uncompressed: np.ndarray | None = None,
    tie_margin: float = 0.02,
    variant: str | None = None,
) -> dict[str, float]:
    """Runs an artifact on `x` in its runtime and compares it with the reference outputs.

    Args:
        path: the artifact (`.tflite`, `.onnx` or SavedModel folder).
        x: raw test inputs.
        y: test labels (class indices, or float targets for regression).
        reference: the Keras model's outputs on `x`.
        latency_runs: timed single-sample calls. Defaults to `200`.
        latency_warmup: untimed calls before them. Defaults to `20`.
        task: `"classification"` or `"regression"`. Defaults to `"classification"`.
        uncompressed: the outputs on `x` of the model before compression, when the reference
            is a compressed model. Defaults to `None`.
        tie_margin: a sample whose two highest reference probabilities are closer than
            this is a tie the reference does not decide. Defaults to `0.02`.
        variant: the file's variant; one of `PROBED_VARIANTS` first runs one sample in a
            child process. Defaults to `None`.

    Returns:
        Classification: `test_accuracy`, `top1_agreement`, `max_abs_diff`, `ties` (test
        samples the reference scores as a tie) and `decisive_agreement` (top-1 agreement on
        the other samples, 1.0 when there are none). Regression:
        `test_mae`, `keras_test_mae`, `max_abs_diff`, `max_rel_diff` (the difference over
        the largest reference output, at least 1). Both: the timing figures of
        `benchmark_artifact` (`load_ms`, `latency_ms_p50/p95/p99`, `batch32_samples_per_s`,
        `memory_mb`).
        With `uncompressed`, classification adds `uncompressed_agreement` (top-1 agreement
        with the model before compression).

    Raises:
        VerificationError: for a file of a `PROBED_VARIANTS` variant that its runtime
            cannot run (see `check_runs_in_a_child`).
    """
    if variant in PROBED_VARIANTS:
        check_runs_in_a_child(path, x[:1])
    predictor = load_predictor(path)
    outputs = predictor.predict(x).reshape(reference.shape)
    timing = benchmark_artifact(path, x, latency_runs, latency_warmup)
    max_abs_diff = float(np.max(np.abs(outputs - reference)))
    if task == "classification":
        predicted = np.argmax(outputs, axis=1)
        agrees = predicted == np.argmax(reference, axis=1)
        decisive = _top_two_margin(reference) >= tie_margin
        figures = {
            "test_accuracy": float(np.mean(predicted == y)),
            "top1_agreement": float(np.mean(agrees)),
            "decisive_agreement": float(np.mean(agrees[decisive])) if decisive.any() else 1.0,
            "ties": int(np.sum(~decisive)),
            "max_abs_diff": max_abs_diff,
        }
        if uncompressed is not None:
            agreement = np.mean(predicted == np.argmax(uncompressed, axis=1))
            figures["uncompressed_agreement"] = float(agreement)
    else:
        figures = {
            "test_mae": score(outputs, y, task)["mae"],
            "keras_test_mae": score(reference, y, task)["mae"],
            "max_abs_diff": max_abs_diff,
            "max_rel_diff": max_abs_diff / max(1.0, float(np.max(np.abs(reference)))),
        }
    return {**figures, **timing}


def _top_two_margin(probabilities: np.ndarray) -> np.ndarray:
    """Each row's highest value minus its second highest (1.0 for a single output)."""
    if probabilities.shape[1] < 2:
        return np.ones(len(probabilities))
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    return top_two[:, 1] - top_two[:, 0]


def check_artifact(
    name: str,
    variant: str,
    figures: dict[str, float],
    config: VerifyConfig,
    quantization_aware: bool = False,
) -> list[str]:
    """Returns one line per threshold the artifact's figures miss (empty when it passes).

    Classification: float variants must match the Keras model (`float_max_abs_diff`, or
    `float16_max_abs_diff` for float16, and `float_min_agreement`), integer-quantized ones
    agree with it (`int8_min_agreement`) on the samples it decides (a sample it scores as a
    tie, see `measure_artifact`, may go either way after quantization), all reach
    `min_accuracy`. Regression: float variants
    within those differences relative to the largest output, integer-quantized ones within
    `int8_max_mae_increase` of the Keras model's MAE, and, with
    `regression_must_beat_baseline`, every one below the mean predictor's test MAE (the
    `baseline_test_mae` figure, when given). Figures that compare with a reference
    (`top1_agreement`, `max_abs_diff`, `keras_test_mae`) are judged only when present.
    Every export of a quantization-aware
    model is judged as the integer variants are: its outputs round at quantization steps, so
    tiny float differences can move a value to the next step.
    """
    judged_as_float = variant in FLOAT_VARIANTS and not quantization_aware
    failures = []
    max_diff, diff_key = (
        (config.float16_max_abs_diff, "float16_max_abs_diff")
        if variant == "float16"
        else (config.float_max_abs_diff, "float_max_abs_diff")
    )

    def fail(figure: str, rule: str) -> None:
        failures.append(f"{name}: {figure}={figures[figure]:.6g} {rule}")

    if "test_mae" in figures:  # regression
        baseline = figures.get("baseline_test_mae")
        if (
            config.regression_must_beat_baseline
            and baseline is not None
            and (figures["test_mae"] >= baseline)
        ):
            fail(
                "test_mae",
                f">= baseline_test_mae={baseline:.6g}: no better than always predicting "
                "the training mean (train longer or differently; "
                "verify.regression_must_beat_baseline: false turns this check off)",
            )
        if "keras_test_mae" not in figures:  # no reference to compare with
            return failures
        if judged_as_float:
            if figures["max_rel_diff"] > max_diff:
                fail("max_rel_diff", f"> verify.{diff_key}={max_diff:g}")
        elif figures["test_mae"] > figures["keras_test_mae"] * (1 + config.int8_max_mae_increase):
            fail(
                "test_mae",
                f"> keras_test_mae={figures['keras_test_mae']:.6g} * (1 + "
                f"verify.int8_max_mae_increase={config.int8_max_mae_increase:g})",
            )
        return failures
    compared = "top1_agreement" in figures  # else no reference: accuracy only
    if compared and judged_as_float:
        if figures["max_abs_diff"] > max_diff:
            fail("max_abs_diff", f"> verify.{diff_key}={max_diff:g}")
        if figures["top1_agreement"] < config.float_min_agreement:
            fail("top1_agreement", f"< verify.float_min_agreement={config.float_min_agreement:g}")
    elif compared and figures.get("decisive_agreement", figures["top1_agreement"]) < (
        config.int8_min_agreement
    ):
        figure = "decisive_agreement" if "decisive_agreement" in figures else "top1_agreement"
        fail(figure, f"< verify.int8_min_agreement={config.int8_min_agreement:g}")
    if figures["test_accuracy"] < config.min_accuracy:
        fail("test_accuracy", f"< verify.min_accuracy={config.min_accuracy:g}")
    return failures
