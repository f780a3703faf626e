"""The compression stage: each enabled technique in turn, wrapped, fine-tuned and stripped."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tfpipeline._keras import keras
from tfpipeline.compress.clustering import (
    apply_clustering,
    strip_clustering,
    supports_clustering,
    unique_weights,
)
from tfpipeline.compress.pruning import (
    apply_pruning,
    kernel_sparsity,
    strip_pruning,
    supports_pruning,
)
from tfpipeline.compress.qat import apply_qat
from tfpipeline.config import ClusterConfig, CompressConfig, PruneConfig, QatConfig, TrainConfig
from tfpipeline.config.pruning import PruningSchedule
from tfpipeline.data import PreparedData
from tfpipeline.errors import UnsupportedModelError
from tfpipeline.models import output_rescaling
from tfpipeline.training import TrainResult, train

# Default fine-tuning rates, as fractions of the training rate: pruning must let the weights
# move to absorb the zeros; clustering and QAT only nudge a trained model.
DEFAULT_RATE_FRACTION = {"prune": 0.5, "cluster": 0.1, "qat": 0.1}


@dataclass(frozen=True)
class CompressStep:
    """One technique's pass.

    Attributes:
        technique: `prune`, `cluster` or `qat`.
        fine_tuning: the fine-tuning fit's result.
        sparsity: fraction of zeros in each layer's kernels afterwards, by layer name.
        unique_weights: distinct values in each layer's kernels afterwards, by layer name.
        left_alone: the layers with weights the technique left as they are (with
            `leave_unsupported`: TFMOT cannot wrap their types).
    """

    technique: str
    fine_tuning: TrainResult
    sparsity: dict[str, float]
    unique_weights: dict[str, int]
    left_alone: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Returns the step as a plain dict (for the manifest)."""
        record = {
            "technique": self.technique,
            "sparsity": self.sparsity,
            "unique_weights": self.unique_weights,
            "fine_tuning": self.fine_tuning.to_dict(),
        }
        if self.left_alone:
            record["left_alone"] = self.left_alone
        return record


@dataclass(frozen=True)
class CompressResult:
    """What the compression stage did.

    Attributes:
        model: the model to export: wrappers stripped, or quantization-aware after QAT.
        steps: each technique's pass, in order.
        skipped: the techniques TensorFlow Model Optimization could not apply to the model
            (with `fallback`), each as `{"technique", "reason"}`.
    """

    model: keras.Model
    steps: list[CompressStep] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class PruneResult:
    """What pruning did.

    Attributes:
        model: the pruned model with its pruning wrappers stripped (plain tf_keras layers).
        fine_tuning: the fine-tuning fit's result.
        sparsity: measured fraction of zeros in the pruned kernels, by layer name.
    """

    model: keras.Model
    fine_tuning: TrainResult
    sparsity: dict[str, float]


def compress_model(
    model: keras.Model,
    data: PreparedData,
    config: CompressConfig,
    train_config: TrainConfig,
    *,
    verbose: int | None = None,
    log: Callable[[str], None] | None = None,
    after: Sequence[str] = (),
    fallback: bool = False,
    leave_unsupported: bool = False,
) -> CompressResult:
    """Runs the enabled techniques of `config` in its order, each fine-tuned in turn.

    Each fine-tuning uses the training optimizer at a constant, lower learning rate (the
    technique's `learning_rate`, by default a fraction of the training one) and its own epoch
    count. Clustering and QAT use the configured EarlyStopping; pruning does not (restoring
    an earlier epoch's weights would undo part of the sparsity).

    Args:
        model: the trained tf_keras model; it is not modified.
        data: the prepared data.
        config: the compress section of the config.
        train_config: the train section of the config (optimizer, batch size, seed).
        verbose: Keras verbosity, as for `train`. Defaults to `None`.
        log: where a line per technique goes. Defaults to `None` (no lines).
        after: techniques `model` already went through (`prune`, `cluster`), so that the
            next ones preserve their zeros or clusters. Defaults to none.
        fallback: skip a technique that TensorFlow Model Optimization cannot apply to the
            model (its reason in the result's `skipped`) instead of raising; the int8
            export is then quantized after training. Defaults to `False`.
        leave_unsupported: apply each technique to the layers it supports and leave the
            others as they are (named in the step's `left_alone`; QAT does not train
            them either), instead of refusing the model; quantization-aware training
            then wraps only the Dense layers (TFMOT's 8-bit scheme fails on embeddings,
            LSTMs and attention). Defaults to `False`.

    Returns:
        The model to export and each technique's figures.

    Raises:
        UnsupportedModelError: for a layer a technique cannot wrap (named, with the
            `skip_layers` option that leaves it alone), unless `fallback`.
    """
    current, steps, done, skipped = model, [], list(after), []
    steps_per_epoch = math.ceil(len(data.splits.train) / train_config.batch_size)
    for technique in config.techniques():
        settings = getattr(config, technique)
        left = unsupported_layers(technique, current) if leave_unsupported else []
        if left:
            skip = [*settings.skip_layers, *left]
            settings = dataclasses.replace(settings, skip_layers=skip)
        try:
            wrapped, callbacks = _wrap(technique, current, settings, done, steps_per_epoch)
        except WRAP_FAILURES as exc:
            if not fallback:
                raise
            skipped.append({"technique": technique, "reason": _first_line(exc)})
            if log is not None:
                log(f"      {technique}: skipped, {skip_text(model.name, skipped[-1])}")
            continue
        if technique == "qat":
            _freeze(wrapped, left)
        fine_tuning = train(
            wrapped,
            data,
            train_config,
            learning_rate=_fine_tuning_rate(technique, settings.learning_rate, train_config),
            epochs=settings.epochs,
            callbacks=callbacks,
            early_stopping=technique != "prune",
            verbose=verbose,
        )
        current = _strip(technique, wrapped)
        steps.append(
            CompressStep(
                technique, fine_tuning, kernel_sparsity(current), unique_weights(current), left
            )
        )
        done.append(technique)
        if log is not None:
            log(f"      {technique}: {_step_summary(steps[-1])}")
    return CompressResult(current, steps, skipped)


def _freeze(model: keras.Model, names: Sequence[str]) -> None:
    """Leaves the named layers as they are in QAT's fine-tuning too (a layer it does not
    wrap would otherwise lose the zeros pruning gave it; TFMOT prefixes some `quant_`)."""
    for layer in model.layers:
        if layer.name in names or layer.name.removeprefix("quant_") in names:
            layer.trainable = False


def unsupported_layers(technique: str, model: keras.Model) -> list[str]:
    """The layers with weights that `technique` cannot wrap (for QAT: every layer but the
    Dense ones, the only kind TFMOT's 8-bit scheme quantizes in text models)."""
    supports = {
        "prune": supports_pruning,
        "cluster": supports_clustering,
        "qat": lambda layer: isinstance(layer, keras.layers.Dense),
    }[technique]
    return [layer.name for layer in model.layers if layer.trainable_weights and not supports(layer)]


# What TensorFlow Model Optimization raises for a model it cannot wrap: our named refusal,
# or its own failure deep in its cloning (MobileNetV3's `TFOpLambda` layers under QAT raise
# an AttributeError there).
WRAP_FAILURES = (UnsupportedModelError, ValueError, TypeError, AttributeError, RuntimeError)

TECHNIQUE_NAMES = {
    "prune": "prune",
    "cluster": "cluster",
    "qat": "train with quantization awareness (QAT)",
}


def skip_text(model_name: str, skipped: dict[str, str]) -> str:
    """Why a technique was skipped, and what the exported files are instead, in words."""
    technique = skipped["technique"]
    instead = (
        "the int8 file is quantized after training instead (post-training quantization, "
        "calibrated on training samples)"
        if technique == "qat"
        else f"the exported files are not {'pruned' if technique == 'prune' else 'clustered'}"
    )
    return (
        f"TensorFlow Model Optimization cannot {TECHNIQUE_NAMES[technique]} "
        f"{model_name}: {skipped['reason']}; {instead}"
    )


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0].rstrip(".") if lines else type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, UnsupportedModelError) else text


def prune(
    model: keras.Model,
    data: PreparedData,
    config: PruneConfig,
    train_config: TrainConfig,
    verbose: int | None = None,
) -> PruneResult:
    """Prunes a trained model: wrap, fine-tune, strip (the `prune` step of `compress_model`).

    Args:
        model: the trained tf_keras model; it is not modified.
        data: the prepared data.
        config: the prune section of the config.
        train_config: the train section of the config (optimizer, batch size, seed).
        verbose: Keras verbosity, as for `train`. Defaults to `None`.

    Returns:
        The stripped pruned model, its fine-tuning result and its measured sparsity.
    """
    only_pruning = CompressConfig(order=["prune"], prune=config)
    result = compress_model(model, data, only_pruning, train_config, verbose=verbose)
    step = result.steps[0]
    return PruneResult(result.model, step.fine_tuning, step.sparsity)


def _fine_tuning_rate(technique: str, rate: float | None, train_config: TrainConfig) -> float:
    return rate or train_config.learning_rate * DEFAULT_RATE_FRACTION[technique]


def _wrap(
    technique: str,
    model: keras.Model,
    settings: PruneConfig | ClusterConfig | QatConfig,
    done: Sequence[str],
    steps_per_epoch: int,
) -> tuple[keras.Model, list[keras.callbacks.Callback]]:
    """Wraps `model` for `technique`; `done` names the techniques it already went through."""
    if technique == "prune":
        return _wrap_for_pruning(model, settings, steps_per_epoch)
    if technique == "cluster":
        return apply_clustering(
            model,
            settings.clusters,
            settings.init,
            preserve_sparsity="prune" in done,
            skip_layers=settings.skip_layers,
        )
    preserve = [kept for kept, by in (("sparsity", "prune"), ("clusters", "cluster")) if by in done]
    return apply_qat(model, preserve=preserve, skip_layers=settings.skip_layers)


def _wrap_for_pruning(
    model: keras.Model, settings: PruneConfig, steps_per_epoch: int
) -> tuple[keras.Model, list[keras.callbacks.Callback]]:
    return apply_pruning(
        model,
        PruningSchedule.from_epochs(settings, steps_per_epoch),
        xnnpack=settings.xnnpack,
        # A regression model's output unit is left dense: its few weights make the
        # prediction (pruning them took airquality's test MAE from 12.1 to 13.2).
        skip_layers=[*settings.skip_layers, *output_rescaling(model)[:-1]],
    )


def _strip(technique: str, model: keras.Model) -> keras.Model:
    if technique == "prune":
        return strip_pruning(model)
    if technique == "cluster":
        return strip_clustering(model)
    return model  # the converter reads the quantization-aware model as it is


def _step_summary(step: CompressStep) -> str:
    values = step.sparsity.values()
    sparsity = sum(values) / len(values) if values else 0.0
    unique = max(step.unique_weights.values(), default=0)
    left = f"; left as they are: {', '.join(step.left_alone)}" if step.left_alone else ""
    return (
        f"{step.fine_tuning.epochs_run} fine-tuning epochs, mean kernel sparsity "
        f"{sparsity:.1%}, at most {unique:,} distinct values per kernel{left}"
    )
