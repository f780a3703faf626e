"""Rules across keys and sections, checked once every key has passed its own rule."""

from __future__ import annotations

import math

from tfpipeline._schema import clip, shown
from tfpipeline.backbones import check_backbone_settings
from tfpipeline.config.compress import ACCEPTED_ORDERS, COMPRESS_TECHNIQUES, CompressConfig
from tfpipeline.config.data import DataConfig, SplitConfig
from tfpipeline.config.export import ExportConfig
from tfpipeline.config.model import ModelConfig
from tfpipeline.config.pipeline import PipelineConfig
from tfpipeline.errors import ConfigError


def check_config(config: PipelineConfig) -> None:
    """Checks the rules across keys of a built configuration.

    Raises:
        ConfigError: naming the keys, the rule and the values received.
    """
    _check_split(config.data.split)
    _check_data(config.data)
    _check_model(config.model)
    _check_monitor(config)
    _check_compress(config.compress)
    _check_export(config.export)


def _check_model(model: ModelConfig) -> None:
    if model.kind != "pretrained":
        return
    check_backbone_settings(model.backbone, model.alpha, model.weights)
    fine_tune = model.fine_tune
    if fine_tune.enabled and model.weights == "none":
        raise ConfigError(
            "Config key `model.fine_tune.enabled` needs pretrained weights (`model.weights`: "
            "imagenet or a weights file): with random weights the whole backbone already "
            "trains with the head. Received: model.weights='none'"
        )
    if fine_tune.layers is not None and fine_tune.from_layer is not None:
        raise ConfigError(
            "Config keys `model.fine_tune.layers` and `model.fine_tune.from_layer` both say "
            "where fine-tuning starts: set one. Received: "
            f"model.fine_tune.layers={fine_tune.layers}, "
            f"model.fine_tune.from_layer={shown(fine_tune.from_layer)}"
        )


def _check_split(split: SplitConfig) -> None:
    total = split.train + split.val + split.test
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ConfigError(
            "Config keys `data.split.train`, `data.split.val` and `data.split.test` must sum "
            f"to 1. Received: {split.train} + {split.val} + {split.test} = {total:g}"
        )


def _check_data(data: DataConfig) -> None:
    needs_path = data.source in ("csv", "image_dir", "tfrecord")
    if needs_path and not data.path:
        raise ConfigError(
            f"Config key `data.path` is required when `data.source` is {shown(data.source)} "
            f"(the {_PATH_MEANING[data.source]}). Received: data.path={shown(data.path)}"
        )
    if data.source == "tfrecord" and not data.features:
        raise ConfigError(
            "Config key `data.features` must list at least one feature when `data.source` is "
            "'tfrecord' (for example [{name: pixels, dtype: float32, shape: [64]}])."
        )
    if len(data.image_size) != 2:
        raise ConfigError(
            "Config key `data.image_size` must be [height, width]. "
            f"Received: data.image_size={shown(data.image_size)}"
        )
    if data.source == "builtin" and (data.name == "diabetes") != (data.task == "regression"):
        raise ConfigError(
            f"The built-in data set {shown(data.name)} is for "
            f"{'regression' if data.name == 'diabetes' else 'classification'}: set "
            f"`data.task: {'regression' if data.name == 'diabetes' else 'classification'}`. "
            f"Received: data.task={shown(data.task)}"
        )
    if data.task == "regression" and data.class_weight is not None:
        raise ConfigError(
            "Config key `data.class_weight` applies to classification only; set it to null "
            f"for `data.task: regression`. Received: data.class_weight={shown(data.class_weight)}"
        )


_PATH_MEANING = {
    "csv": "CSV file",
    "image_dir": "folder with one sub-folder per class",
    "tfrecord": "TFRecord file or glob pattern",
}


def _check_monitor(config: PipelineConfig) -> None:
    train = config.train
    regression = config.data.task == "regression"
    for key, monitor in (
        ("early_stopping", train.early_stopping.monitor),
        ("reduce_on_plateau", train.reduce_on_plateau.monitor),
    ):
        metric = monitor.removeprefix("val_")
        if metric != "loss" and (metric == "accuracy") == regression:
            task = config.data.task
            accepted = "loss, mae" if regression else "loss, accuracy"
            raise ConfigError(
                f"Config key `train.{key}.monitor` cannot be {shown(monitor)} for `data.task: "
                f"{task}`: the metrics logged are {accepted} (and their val_ forms)."
            )
    if train.reduce_on_plateau.enabled and train.schedule.kind != "constant":
        raise ConfigError(
            "`train.reduce_on_plateau` needs `train.schedule.kind: constant`: a schedule "
            f"already sets the rate every step. Received: kind={shown(train.schedule.kind)}"
        )
    schedule = train.schedule
    if schedule.kind == "step" and (schedule.boundaries is None) != (schedule.values is None):
        raise ConfigError(
            "Config keys `train.schedule.boundaries` and `train.schedule.values` go together."
        )
    if schedule.boundaries is not None and len(schedule.values) != len(schedule.boundaries) + 1:
        raise ConfigError(
            "Config key `train.schedule.values` must hold one more rate than `boundaries` "
            f"has epochs. Received: boundaries={shown(schedule.boundaries)}, "
            f"values={shown(schedule.values)}"
        )
    if schedule.boundaries is not None and schedule.boundaries != sorted(set(schedule.boundaries)):
        raise ConfigError(
            "Config key `train.schedule.boundaries` must be increasing epochs. "
            f"Received: {shown(schedule.boundaries)}"
        )
    stopping = train.early_stopping
    if stopping.enabled and stopping.monitor.startswith("val_") and config.data.split.val == 0:
        raise ConfigError(
            f"Config key `train.early_stopping.monitor` cannot be {shown(stopping.monitor)} when "
            "`data.split.val` is 0: there is no validation split. Use `loss` or `accuracy`, "
            "or give the validation split a fraction."
        )


def _check_compress(compress: CompressConfig) -> None:
    enabled = [name for name in COMPRESS_TECHNIQUES if getattr(compress, name).enabled]
    missing = [name for name in enabled if name not in compress.order]
    if missing or len(set(compress.order)) != len(compress.order):
        raise ConfigError(
            "Config key `compress.order` must name each enabled technique once. "
            f"Received: order={shown(compress.order)}, enabled: {', '.join(enabled) or 'none'}"
        )
    if enabled and compress.techniques() not in ACCEPTED_ORDERS:
        accepted = "; ".join(" -> ".join(order) for order in ACCEPTED_ORDERS)
        raise ConfigError(
            f"Compression cannot run {clip(' -> '.join(compress.techniques()))}: a later technique "
            "would undo an earlier one. Accepted orders: "
            f"{accepted}."
        )


def _check_export(export: ExportConfig) -> None:
    if (export.onnx_optimized or export.onnx_int8) and not export.onnx:
        raise ConfigError(
            "Config keys `export.onnx_optimized` and `export.onnx_int8` make copies of the "
            "ONNX model: they need `export.onnx: true`."
        )
    if export.android and not export.tflite:
        raise ConfigError("Config key `export.android` needs at least one `export.tflite` variant.")
    if export.android_variant is not None and export.android_variant not in export.tflite:
        raise ConfigError(
            f"Config key `export.android_variant` is {shown(export.android_variant)}, which "
            f"`export.tflite` does not export ({clip(', '.join(export.tflite)) or 'none'}); add it "
            "there or choose one of those."
        )
