"""The export plan: one `ExportTarget` per file to write, each knowing how it is made and
judged.

A target is a format and variant with its file name (`ExportTarget.tflite("int8")`,
`ExportTarget.onnx()`, ...); `plan_exports` reads the `export` config into the list of
targets a run writes, in order. What a target's converter needs beyond the model (the
calibration samples, how the int8 model takes its input) is decided once per model in
`ExportSettings.for_model`. A new kind of export is one function that makes the file,
registered in `EXPORT_KINDS` with the targets the config asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.config import ExportConfig, VerifyConfig
from tfpipeline.export.int8_input import Int8Input, plan_int8_input
from tfpipeline.export.onnx import export_onnx, optimize_onnx, quantize_onnx
from tfpipeline.export.saved_model import export_saved_model
from tfpipeline.export.tflite import export_tflite
from tfpipeline.export.verify import check_artifact
from tfpipeline.run_folder import ONNX_FILE, ONNX_INT8, ONNX_OPTIMIZED, SAVED_MODEL, tflite_file

CALIBRATED_VARIANTS = ("int8", "int16x8")  # full-integer: activation ranges from samples
INTEGER_VARIANTS = ("int8", "dynamic", "int16x8")  # integer weights: diagnosed when they fail


@dataclass(frozen=True)
class ExportSettings:
    """What converters need beyond the model, decided once per model.

    Attributes:
        calibration: training samples that calibrate int8/int16x8 activation ranges.
        int8_input: how the `int8` variant takes its input (`plan_int8_input`).
        int8_io: the `int8` variant's input/output type. allow_flex_ops: keep Select TF ops.
        onnx_opset: the ONNX opset.
    """

    calibration: np.ndarray | None = None
    int8_input: Int8Input | None = None
    int8_io: str = "int8"
    allow_flex_ops: bool = False
    onnx_opset: int = 17

    @classmethod
    def for_model(
        cls, model, data, config: ExportConfig, variants: tuple[str, ...] | list[str]
    ) -> ExportSettings:
        """The settings for exporting `model` as `variants` (calibration from the training
        split's first `config.calibration_samples`, never from validation or test)."""
        calibration = None
        if set(CALIBRATED_VARIANTS) & set(variants):
            calibration = data.splits.calibration_samples(config.calibration_samples)
        int8_input = None
        if "int8" in variants:
            int8_input = plan_int8_input(model, data, config.int8_input, config.int8_io)
        return cls(
            calibration, int8_input, config.int8_io, config.allow_flex_ops, config.onnx_opset
        )


def _saved_model(target, model, folder: Path, settings: ExportSettings) -> Path:
    return export_saved_model(model, folder / target.filename)


def _tflite(target, model, folder: Path, settings: ExportSettings) -> Path:
    int8_input = settings.int8_input
    return export_tflite(
        model,
        folder / target.filename,
        target.variant,
        settings.calibration,
        settings.int8_io,
        settings.allow_flex_ops,
        float_layers=int8_input.float_layers if target.variant == "int8" and int8_input else (),
    )


def _onnx(target, model, folder: Path, settings: ExportSettings) -> Path:
    return export_onnx(model, folder / target.filename, settings.onnx_opset)


def _onnx_optimized(target, model, folder: Path, settings: ExportSettings) -> Path:
    return optimize_onnx(folder / ONNX_FILE, folder / target.filename)


def _onnx_int8(target, model, folder: Path, settings: ExportSettings) -> Path:
    return quantize_onnx(folder / ONNX_FILE, folder / target.filename)


@dataclass(frozen=True)
class ExportTarget:
    """One file to export: its format, variant, file name and how it is made.

    Attributes:
        format: `saved_model`, `tflite` or `onnx` (the runtime that judges it).
        variant: `float32`, `float16`, `dynamic`, `int8` or `int16x8`.
        filename: its name in the folder it is written to.
        kind: its kind in `EXPORT_KINDS`.
    """

    format: str
    variant: str
    filename: str
    kind: str

    @classmethod
    def saved_model(cls) -> ExportTarget:
        return cls("saved_model", "float32", SAVED_MODEL, "saved_model")

    @classmethod
    def tflite(cls, variant: str, filename: str | None = None) -> ExportTarget:
        return cls("tflite", variant, filename or tflite_file(variant), "tflite")

    @classmethod
    def onnx(cls) -> ExportTarget:
        return cls("onnx", "float32", ONNX_FILE, "onnx")

    @classmethod
    def onnx_optimized(cls) -> ExportTarget:
        return cls("onnx", "float32", ONNX_OPTIMIZED, "onnx_optimized")

    @classmethod
    def onnx_int8(cls) -> ExportTarget:
        return cls("onnx", "int8", ONNX_INT8, "onnx_int8")

    @property
    def integer(self) -> bool:
        """Whether the file holds integer-quantized weights (diagnosed when it fails)."""
        return self.format == "tflite" and self.variant in INTEGER_VARIANTS

    def export(self, model, folder: Path, settings: ExportSettings) -> Path:
        """Writes the file into `folder` (atomically) and returns its path."""
        return EXPORT_KINDS[self.kind].make(self, model, folder, settings)

    def check(
        self, figures: dict[str, Any], config: VerifyConfig, quantization_aware: bool = False
    ) -> list[str]:
        """The thresholds of this variant the measured figures miss (see `check_artifact`)."""
        return check_artifact(self.filename, self.variant, figures, config, quantization_aware)


@dataclass(frozen=True)
class ExportKind:
    """One kind of exported file: how a target of it is made, and which targets of it the
    `export` config asks for."""

    make: Callable[[ExportTarget, Any, Path, ExportSettings], Path]
    planned: Callable[[ExportConfig], list[ExportTarget]]


# Every kind of exported file, in the order a run writes them (an ONNX file before the files
# made from it): the one place a new export variant registers.
EXPORT_KINDS: dict[str, ExportKind] = {
    "saved_model": ExportKind(
        _saved_model, lambda config: [ExportTarget.saved_model()] if config.saved_model else []
    ),
    "tflite": ExportKind(
        _tflite, lambda config: [ExportTarget.tflite(variant) for variant in config.tflite]
    ),
    "onnx": ExportKind(_onnx, lambda config: [ExportTarget.onnx()] if config.onnx else []),
    "onnx_optimized": ExportKind(
        _onnx_optimized,
        lambda config: [ExportTarget.onnx_optimized()] if config.onnx_optimized else [],
    ),
    "onnx_int8": ExportKind(
        _onnx_int8, lambda config: [ExportTarget.onnx_int8()] if config.onnx_int8 else []
    ),
}


def plan_exports(config: ExportConfig) -> list[ExportTarget]:
    """The files a run exports, in the order they are written."""
    return [target for kind in EXPORT_KINDS.values() for target in kind.planned(config)]


def tflite_variants(targets: list[ExportTarget]) -> list[str]:
    """The `.tflite` variants among `targets`."""
    return [t.variant for t in targets if t.format == "tflite"]
