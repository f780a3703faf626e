"""Inference timing and memory, measured the way an app calls a model: one sample at a time.

Keras's `predict` builds a dataset per call (milliseconds of overhead), so the Keras model is
timed both through `predict` and as a direct call; exported models are timed through their
runtime (`Predictor.run`, no input checks in the timed path).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.inference import Predictor

BATCH = 32


def benchmark_artifact(
    path: str | Path,
    x: np.ndarray,
    runs: int = 200,
    warmup: int = 20,
    num_threads: int | None = None,
) -> dict[str, float]:
    """Times loading and running an exported model in its runtime.

    Args:
        path: a `.tflite` file, an `.onnx` file or a SavedModel folder.
        x: raw input samples (at least one); cycled through for the timed calls.
        runs: timed single-sample calls. Defaults to `200`.
        warmup: untimed calls before them. Defaults to `20`.
        num_threads: runtime CPU threads; `None` leaves the runtime's default.
            Defaults to `None`.

    Returns:
        `load_ms`, `latency_ms_p50`, `latency_ms_p95`, `latency_ms_p99` (one sample per call),
        `batch32_samples_per_s` and `memory_mb` (resident memory the process gained loading
        and running the model).
    """
    x = _samples(x)
    before = _resident_mb()
    start = time.perf_counter()
    predictor = Predictor.load(path, num_threads=num_threads, check_manifest=False)
    load_ms = (time.perf_counter() - start) * 1000
    figures = {"load_ms": load_ms, **latency_figures(predictor.run, x, runs, warmup)}
    figures["batch32_samples_per_s"] = batch_throughput(predictor.run, x)
    figures["memory_mb"] = max(0.0, _resident_mb() - before)
    return figures


def benchmark_keras(model: Any, x: np.ndarray, runs: int = 50, warmup: int = 5) -> dict:
    """Times a Keras model on one sample per call, through `predict` and as a direct call.

    Returns:
        `predict_ms_p50`, `predict_ms_p95`, `call_ms_p50`, `call_ms_p95` and
        `batch32_samples_per_s` (direct calls).
    """
    x = _samples(x)

    def predict(sample):
        return model.predict(sample, verbose=0)

    def call(sample):
        return model(sample, training=False).numpy()

    slow = latency_figures(predict, x, runs, warmup)
    fast = latency_figures(call, x, runs * 4, warmup)
    return {
        "predict_ms_p50": slow["latency_ms_p50"],
        "predict_ms_p95": slow["latency_ms_p95"],
        "call_ms_p50": fast["latency_ms_p50"],
        "call_ms_p95": fast["latency_ms_p95"],
        "batch32_samples_per_s": batch_throughput(call, x),
    }


def latency_figures(run, x: np.ndarray, runs: int, warmup: int) -> dict[str, float]:
    """p50, p95 and p99 in milliseconds of `run` on one sample per call, after a warm-up."""
    samples = [x[i % len(x)][None] for i in range(runs + warmup)]
    for sample in samples[:warmup]:
        run(sample)
    timings = np.empty(runs)
    for i, sample in enumerate(samples[warmup:]):
        start = time.perf_counter()
        run(sample)
        timings[i] = (time.perf_counter() - start) * 1000
    return {f"latency_ms_p{q}": float(np.percentile(timings, q)) for q in (50, 95, 99)}


def batch_throughput(run, x: np.ndarray, min_seconds: float = 0.2) -> float:
    """Samples per second of `run` on batches of 32 (samples repeated to fill the batch)."""
    batch = _samples(np.resize(x, (BATCH, *x.shape[1:])))
    run(batch)  # warm-up: the first call may resize buffers
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds or calls < 3:
        run(batch)
        calls += 1
    return calls * BATCH / elapsed


def _samples(x) -> np.ndarray:
    """Samples as an app feeds them: token ids stay integers, anything else is float32."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.integer) else x.astype(np.float32)


def _resident_mb() -> float:
    """The process's resident memory (Linux /proc; 0 where it cannot be read)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
