"""The compression sweep's chosen variant made into a folder to ship, verified first."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline import __version__
from tfpipeline._atomic import dir_atomic, write_bytes_atomic
from tfpipeline.config import PipelineConfig
from tfpipeline.data import PreparedData
from tfpipeline.data.input_spec import describe_input
from tfpipeline.errors import VerificationError
from tfpipeline.export import check_artifact, measure_artifact, write_android_bundle
from tfpipeline.export.android import ANDROID_DIR
from tfpipeline.report import file_stats, library_versions, write_manifest

BUNDLE_DIR = "chosen"


def bundle_variant(
    row: dict[str, Any],
    sweep_dir: Path,
    data: PreparedData,
    config: PipelineConfig,
    reference: np.ndarray,
    int8_input=None,
    log: Callable[[str], None] = print,
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

    Returns:
        The `chosen/` folder.

    Raises:
        VerificationError: if the file misses a threshold of its variant; nothing is written.
    """
    source = sweep_dir / row["path"]
    x_test, y_test = data.splits.test.arrays()
    verify = config.verify
    figures = measure_artifact(
        source,
        x_test,
        y_test,
        reference,
        verify.latency_runs,
        verify.latency_warmup,
        tie_margin=verify.tie_margin,
    )
    name = f"model_{row['tflite']}.tflite"
    problems = check_artifact(name, row["tflite"], figures, verify, quantization_aware=row["qat"])
    if problems:
        raise VerificationError(problems)
    folder = sweep_dir / BUNDLE_DIR
    int8 = int8_input.to_dict() if int8_input is not None and row["tflite"] == "int8" else None
    with dir_atomic(folder) as tmp:
        shutil.copyfile(source, tmp / name)
        if data.class_names:
            labels = "\n".join(data.class_names) + "\n"
            write_bytes_atomic(tmp / "labels.txt", labels.encode("utf-8"))
        artifact = {"format": "tflite", "variant": row["tflite"], "path": name}
        artifact.update({**file_stats(tmp / name), **figures, "passed": True})
        x_train = data.splits.train.arrays()[0]
        write_android_bundle(
            tmp / ANDROID_DIR,
            tmp / name,
            variant=row["tflite"],
            class_names=data.class_names,
            value_range=(float(x_train.min()), float(x_train.max())),
            figures=artifact,
            task=data.task,
            input_record=describe_input(data),
            int8_input=int8,
        )
        write_manifest(tmp, _manifest(row, folder, data, config, artifact, int8))
    log(f"      {BUNDLE_DIR}/: {row['name']} verified ({_shown(figures)})")
    return folder


def _manifest(row, folder: Path, data, config, artifact, int8) -> dict[str, Any]:
    return {
        "tfpipeline_version": __version__,
        "run_name": folder.name,
        "status": "passed",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source": f"compress-sweep variant {row['name']} ({row['path']})",
        "config": config.to_dict(),
        "versions": library_versions(),
        "data": data.summary(),
        "int8_input": int8,
        "artifacts": [artifact],
        "android": {"written": True, "variant": row["tflite"], "path": ANDROID_DIR},
        "failures": [],
    }


def _shown(figures: dict[str, float]) -> str:
    keys = ("test_accuracy", "top1_agreement", "decisive_agreement", "max_abs_diff")
    return ", ".join(f"{k.replace('_', ' ')} {figures[k]:.4g}" for k in keys if k in figures)
