"""Stage 5, export: every file of the export plan, written to the staging folder; and,
once verified, the Android bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tfpipeline._keras import keras
from tfpipeline.config import ExportConfig
from tfpipeline.data import PreparedData
from tfpipeline.data.input_spec import describe_input
from tfpipeline.errors import ConversionError
from tfpipeline.export.android import BUNDLE_MODEL, write_android_bundle
from tfpipeline.export.int8_input import Int8Input
from tfpipeline.export.onnx import onnx_unsupported
from tfpipeline.export.plan import ExportSettings, ExportTarget, plan_exports, tflite_variants
from tfpipeline.record import AndroidRecord, ArtifactRecord
from tfpipeline.run_folder import (
    ANDROID_DIR,
    KERAS_FILE,
    LABELS,
    MODEL_CARD,
    VOCABULARY,
    RunFolder,
    save_keras,
)
from tfpipeline.stages.log import StageLog


@dataclass(frozen=True)
class Exported:
    """The files written to the staging folder, each with its target, the settings they
    were converted with (calibration samples, int8 input), and why any other planned file
    could not be converted."""

    files: list[tuple[ExportTarget, Path]]
    settings: ExportSettings
    failures: list[str] = field(default_factory=list)


def export_stage(
    config: ExportConfig,
    model: keras.Model,
    trained: keras.Model,
    data: PreparedData,
    folder: RunFolder,
    log: StageLog,
) -> Exported:
    """Writes every file of the export plan (see `plan_exports`) to the staging folder,
    and the trained model (before compression) as `model.keras` when asked. A variant the
    converter fails on is named in `Exported.failures` (the run then fails) and the others
    are still written.

    Args:
        config: the `export` section.
        model: the model to export (compressed, when compression ran).
        trained: the trained model before compression.
        data: the prepared data (calibration samples, input statistics).
        folder: the run folder.
        log: where progress goes.
    """
    targets = plan_exports(config)
    onnx = [t.filename for t in targets if t.format == "onnx"]
    no_onnx = onnx_unsupported(model) if onnx else None
    if no_onnx:
        targets = [t for t in targets if t.format != "onnx"]
    log.stage(5, "export", ", ".join(t.filename for t in targets) or "nothing to export")
    if no_onnx:
        log.detail(f"onnx: not exported ({', '.join(onnx)}): {no_onnx}")
    settings = ExportSettings.for_model(model, data, config, tflite_variants(targets))
    if settings.int8_input is not None:
        log.detail(f"int8 input {settings.int8_input.dtype}: {settings.int8_input.reason}")
    staging = folder.start_staging()  # each file moves to the run folder once it has passed
    files, failures = [], []
    for target in targets:
        try:
            files.append((target, target.export(model, staging, settings)))
        except ConversionError as exc:  # the other variants still convert; the run fails
            failures.append(f"{target.filename}: not converted: {exc}")
            log.detail(f"{target.filename}: NOT CONVERTED: {exc}")
            continue
        log.detail(f"wrote {target.filename}")
    if config.keras:
        save_keras(trained, folder.keras_file)
        log.detail(f"wrote {KERAS_FILE}")
    return Exported(files, settings, failures)


def android_stage(
    config: ExportConfig,
    data: PreparedData,
    folder: RunFolder,
    artifacts: list[ArtifactRecord],
    int8_input: Int8Input | None,
    log: StageLog,
    model: keras.Model | None = None,
) -> AndroidRecord | None:
    """Writes the Android bundle from the chosen `.tflite` variant, if it passed.

    Returns:
        What was written (`None` when `export.android` is off).
    """
    if not config.android:
        return None
    variant = config.android_variant or ("int8" if "int8" in config.tflite else config.tflite[0])
    artifact = next(a for a in artifacts if a.format == "tflite" and a.variant == variant)
    if not artifact.passed:
        log.detail(f"android: not written, {artifact.path} failed verification")
        return AndroidRecord(written=False, variant=variant)
    bundle = write_bundle(
        folder.android, folder.file(artifact.path), artifact, data, int8_input, model
    )
    files = [f"{BUNDLE_MODEL} (= {artifact.path})", *([LABELS] if data.class_names else [])]
    files += [VOCABULARY] if data.tokenizer is not None else []
    log.detail(f"wrote {ANDROID_DIR}/ ({', '.join([*files, MODEL_CARD])})")
    return AndroidRecord(written=True, variant=variant, path=bundle.name)


def write_bundle(
    bundle: Path,
    model_file: Path,
    artifact: ArtifactRecord,
    data: PreparedData,
    int8_input: Int8Input | None,
    model: keras.Model | None = None,
) -> Path:
    """Writes an Android bundle for a verified `.tflite` (its figures, labels, input; with
    `model`, its audio front end)."""
    x_train = data.splits.train.arrays()[0]
    return write_android_bundle(
        bundle,
        model_file,
        variant=artifact.variant,
        class_names=data.class_names,
        value_range=(float(x_train.min()), float(x_train.max())),
        figures=artifact.to_dict(),
        task=data.task,
        input_record=describe_input(data, model),
        int8_input=_int8_record(int8_input, artifact),
        tokenizer=data.tokenizer,
    )


def _int8_record(int8_input: Int8Input | None, artifact: ArtifactRecord) -> dict | None:
    """How the shipped `int8` model takes its input, with the ops that compute in float in
    it (an audio front end's FFT, say); `None` for other variants."""
    if int8_input is None or artifact.variant != "int8":
        return None
    return {**int8_input.to_dict(), "float_ops": sorted(set(artifact.float_ops or ()))}
