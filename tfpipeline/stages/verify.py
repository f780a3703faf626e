"""Stage 6, verify: every exported file, loaded back, measured in its own runtime and
judged by its variant's thresholds; only files that pass reach the run folder."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline._keras import keras
from tfpipeline.config import VerifyConfig
from tfpipeline.data import PreparedData
from tfpipeline.errors import VerificationError
from tfpipeline.export.diagnosis import diagnose_quantization
from tfpipeline.export.plan import ExportTarget
from tfpipeline.export.tflite import float_ops, tflite_ops
from tfpipeline.export.verify import measure_artifact
from tfpipeline.record import ArtifactRecord, size_ratios
from tfpipeline.report import file_stats
from tfpipeline.run_folder import RunFolder
from tfpipeline.stages.export import Exported
from tfpipeline.stages.log import StageLog, scores_text
from tfpipeline.training import predict_probabilities

DIAGNOSIS_SAMPLES = 200  # test samples a failed quantized artifact's layers are measured on


@dataclass(frozen=True)
class Verified:
    """Each exported file's record (in export order) and the thresholds they missed."""

    artifacts: list[ArtifactRecord]
    failures: list[str]


@dataclass(frozen=True)
class Judging:
    """What the files are judged against, besides the `verify` thresholds.

    Attributes:
        uncompressed: the model's test outputs before compression (when it ran).
        baseline: the classical baseline's test scores (regression: its `mae` is a bar).
        quantization_aware: the model was trained with QAT (every file judged as integer).
        calibration_samples: training samples a failed quantized file is diagnosed with.
    """

    uncompressed: np.ndarray | None = None
    baseline: dict[str, Any] | None = None
    quantization_aware: bool = False
    calibration_samples: int = 200


def verify_stage(
    config: VerifyConfig,
    model: keras.Model,
    data: PreparedData,
    exported: Exported,
    folder: RunFolder,
    judging: Judging,
    log: StageLog,
) -> Verified:
    """Measures and judges every staged file; moves each that passed into the run folder
    and removes each that failed (diagnosing a failed quantized `.tflite`)."""
    x_test, y_test = data.splits.test.arrays()
    log.stage(6, "verify", f"{len(exported.files)} artifacts on {len(y_test)} test samples")
    reference = predict_probabilities(model, x_test)
    artifacts, failures = [], list(exported.failures)
    for number, (target, path) in enumerate(exported.files, start=1):
        try:
            figures = measure(path, data, reference, config, judging.uncompressed, target.variant)
        except VerificationError as exc:  # it does not run at all
            figures, problems = {}, exc.failures
        else:
            if judging.baseline and "mae" in judging.baseline:  # regression: beat the mean too
                figures["baseline_test_mae"] = judging.baseline["mae"]
            problems = target.check(figures, config, judging.quantization_aware)
        failures += problems
        artifact = artifact_record(target, path, figures, passed=not problems)
        verdict = "FAIL (removed) " + "; ".join(problems) if problems else "ok"
        shown = {
            k: v
            for k, v in figures.items()
            if k.startswith(("test_", "top1", "max_", "uncompressed"))
        }
        scores = scores_text(shown) or "not measured"
        log.detail(f"[{number}/{len(exported.files)}] {target.filename}: {scores} -> {verdict}")
        if problems and target.integer and figures:
            diagnosis = _diagnose(model, data, target.variant, exported, judging, log)
            artifact = replace(artifact, diagnosis=diagnosis)
        if problems:  # the gate: a file that failed never reaches the run folder
            folder.discard(path)
            artifact = replace(artifact, removed=True)
        else:
            folder.promote(path)
        artifacts.append(artifact)
    folder.end_staging()
    return Verified(artifacts, failures)


def measure(
    path: Path,
    data: PreparedData,
    reference: np.ndarray,
    config: VerifyConfig,
    uncompressed: np.ndarray | None = None,
    variant: str | None = None,
) -> dict[str, Any]:
    """A file's figures on the test split in its runtime (see `measure_artifact`)."""
    x_test, y_test = data.splits.test.arrays()
    return measure_artifact(
        path,
        x_test,
        y_test,
        reference,
        config.latency_runs,
        config.latency_warmup,
        task=data.task,
        uncompressed=uncompressed,
        tie_margin=config.tie_margin,
        variant=variant,
    )


def artifact_record(
    target: ExportTarget, path: Path, figures: dict[str, Any], passed: bool = True
) -> ArtifactRecord:
    """The record of a measured file: its sizes and digest, figures and (for `.tflite`) ops."""
    ops = None
    left_float = None
    if target.format == "tflite":
        listed = tflite_ops(path)
        ops = dict(Counter(op["op"] for op in listed))
        left_float = float_ops(listed) if target.variant != "float32" else []
    return ArtifactRecord(
        format=target.format,
        variant=target.variant,
        path=target.filename,
        **file_stats(path),
        figures=figures,
        ops=ops,
        float_ops=left_float,
        passed=passed,
    )


def with_compression_ratios(
    artifacts: list[ArtifactRecord], baseline: dict[str, Any] | None
) -> list[ArtifactRecord]:
    """Each `.tflite` record with its size ratio to the float32 `.tflite`, raw and gzipped.

    The baseline is the uncompressed model's float32 `.tflite` when compression ran
    (`baseline`), else this run's float32 `.tflite` (none: the records as they are).
    """
    if baseline is None:
        own = next((a for a in artifacts if a.format == "tflite" and a.variant == "float32"), None)
        baseline = None if own is None else own.to_dict()
    if baseline is None:
        return artifacts
    return [
        replace(a, **size_ratios(baseline, a.to_dict())) if a.format == "tflite" else a
        for a in artifacts
    ]


def _diagnose(model, data: PreparedData, variant: str, exported: Exported, judging: Judging, log):
    """Where a quantized artifact's error comes from (logged, and kept in the record)."""
    calibration = data.splits.calibration_samples(judging.calibration_samples)
    x_test = data.splits.test.arrays()[0]
    diagnosis = diagnose_quantization(
        model, data, variant, x_test[:DIAGNOSIS_SAMPLES], exported.settings.int8_input, calibration
    )
    for layer in diagnosis["layers"]:
        log.detail(
            f"  {layer['op']} {layer['tensor']}: error {layer['rmse_over_scale']:.2f} "
            "quantization steps (RMSE / scale; about 0.3 is plain rounding)"
        )
    log.detail(f"  why: {diagnosis['fix']}")
    return diagnosis
