"""The compression sweep's chosen variant made into a folder to ship, verified first."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline import __version__
from tfpipeline._atomic import dir_atomic
from tfpipeline.config import PipelineConfig
from tfpipeline.data import PreparedData
from tfpipeline.errors import VerificationError
from tfpipeline.export.plan import ExportTarget
from tfpipeline.record import AndroidRecord, ArtifactRecord, DataSummary, RunRecord, write_record
from tfpipeline.report import file_stats, library_versions
from tfpipeline.run_folder import ANDROID_DIR, RunFolder
from tfpipeline.stages.export import write_bundle
from tfpipeline.stages.verify import measure

BUNDLE_DIR = "chosen"


def bundle_variant(
    row: dict[str, Any],
    sweep_dir: Path,
    data: PreparedData,
    config: PipelineConfig,
    reference: np.ndarray,
    int8_input=None,
    log: Callable[[str], None] = print,
    model=None,
) -> Path:
    """Verifies a sweep variant's `.tflite` and writes `chosen/` from it.

    `chosen/` holds the file (`model_<variant>.tflite`), `labels.txt`, a `manifest.json`
    (the variant, its verified figures, the data and its input record) and `android/` (the
    Android bundle with its model card), like a run folder.

    Args:
        row: the variant's sweep row.
        sweep_dir: the sweep folder.
        data: the prepared data the sweep used.
        config: the sweep's configuration (its `verify.*` thresholds apply).
        reference: the variant's own compressed Keras model's outputs on the test split.
        int8_input: how an `int8` variant takes its input (`Int8Input`). Defaults to `None`.
        log: where progress lines go. Defaults to `print`.
        model: the variant's Keras model, for the settings of its audio front end on the
            model card. Defaults to `None`.

    Returns:
        The `chosen/` folder.

    Raises:
        VerificationError: if the file misses a threshold of its variant; nothing is written.
    """
    source = sweep_dir / row["path"]
    target = ExportTarget.tflite(row["tflite"])
    figures = measure(source, data, reference, config.verify, variant=target.variant)
    problems = target.check(figures, config.verify, quantization_aware=row["qat"])
    if problems:
        raise VerificationError(problems)
    folder = sweep_dir / BUNDLE_DIR
    with dir_atomic(folder) as tmp:
        bundle = RunFolder(tmp)  # laid out like a run folder
        model_file = bundle.file(target.filename)
        shutil.copyfile(source, model_file)
        bundle.write_labels(data.class_names)
        artifact = ArtifactRecord(
            format=target.format,
            variant=target.variant,
            path=target.filename,
            **file_stats(model_file),
            figures=figures,
            passed=True,
        )
        write_bundle(bundle.android, model_file, artifact, data, int8_input, model)
        write_record(bundle.manifest, _record(row, folder, data, config, artifact, int8_input))
    log(f"      {BUNDLE_DIR}/: {row['name']} verified ({_shown(figures)})")
    return folder


def _record(row, folder: Path, data, config, artifact: ArtifactRecord, int8_input) -> RunRecord:
    int8 = int8_input.to_dict() if int8_input is not None and artifact.variant == "int8" else None
    return RunRecord(
        tfpipeline_version=__version__,
        run_name=folder.name,
        status="passed",
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        source=f"compress-sweep variant {row['name']} ({row['path']})",
        config=config.to_dict(),
        versions=library_versions(),
        data=DataSummary.from_dict(data.summary()),
        int8_input=int8,
        artifacts=[artifact],
        android=AndroidRecord(written=True, variant=artifact.variant, path=ANDROID_DIR),
        failures=[],
    )


def _shown(figures: dict[str, float]) -> str:
    keys = ("test_accuracy", "top1_agreement", "decisive_agreement", "max_abs_diff")
    return ", ".join(f"{k.replace('_', ' ')} {figures[k]:.4g}" for k in keys if k in figures)
