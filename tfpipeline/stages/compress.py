"""Stage 4, compress: the enabled TFMOT techniques in order, judged on the test split."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tfpipeline._keras import keras
from tfpipeline.backbones import backbone_layers, unfreeze_backbone
from tfpipeline.compress import compress_model, overall_sparsity
from tfpipeline.config import CompressConfig, TrainConfig
from tfpipeline.data import PreparedData
from tfpipeline.export.tflite import export_tflite
from tfpipeline.record import CompressionRecord
from tfpipeline.report import file_stats
from tfpipeline.stages.log import StageLog, scores_text
from tfpipeline.training import evaluate


def compress_stage(
    config: CompressConfig,
    train: TrainConfig,
    model: keras.Model,
    data: PreparedData,
    trained_scores: dict[str, float],
    log: StageLog,
    pretrained: bool = False,
    text: bool = False,
) -> tuple[keras.Model, CompressionRecord | None]:
    """Compresses `model` with every technique `config` enables (none: `model` as it is).

    A technique TensorFlow Model Optimization cannot apply to the model is skipped, said by
    name in the log and the record; the run goes on without it. A `pretrained` backbone is
    unfrozen first (BatchNormalization stays frozen): its layers hold nearly all the weights.
    A `text` model has each technique applied to the layers TFMOT supports (QAT to its Dense
    layers), the others named as left alone.

    Returns:
        The model to export (wrappers stripped) and what compression did, or `None`.
    """
    techniques = config.techniques()
    if not techniques:
        log.stage(4, "compress", "no technique enabled, exporting the trained model")
        return model, None
    log.stage(4, "compress", " -> ".join(_technique_text(config, t) for t in techniques))
    baseline = float32_tflite_stats(model)
    if pretrained and backbone_layers(model):
        unfreeze_backbone(model)
    result = compress_model(
        model,
        data,
        config,
        train,
        verbose=log.verbose,
        log=log.write,
        fallback=True,
        leave_unsupported=text,
    )
    if not result.steps:
        log.detail("warning: no technique could run; the trained model is exported as it is")
        return model, CompressionRecord(
            techniques=[], test_scores=trained_scores, baseline_float32_tflite=baseline,
            skipped=result.skipped,
        )  # fmt: skip
    ran = [step.technique for step in result.steps]
    x_test, y_test = data.splits.test.arrays()
    scores = evaluate(result.model, x_test, y_test, data.task)
    log.detail(f"compressed model: test {scores_text(scores)}")
    cost = _compression_cost(trained_scores, scores)
    if cost:
        log.detail(f"warning: {cost}")
    last = result.steps[-1]
    overall = overall_sparsity(result.model)
    record = CompressionRecord(
        techniques=ran,
        steps=[step.to_dict() for step in result.steps],
        sparsity=last.sparsity,
        overall_sparsity=overall,
        unique_weights=last.unique_weights,
        test_scores=scores,
        baseline_float32_tflite=baseline,
        prune={  # the pruning figures, where earlier runs had them
            "target_sparsity": target_sparsity(config.prune),
            "sparsity": last.sparsity,
            "overall_sparsity": overall,
        }
        if "prune" in ran
        else None,
        skipped=result.skipped,
    )
    return result.model, record


def float32_tflite_stats(model: keras.Model) -> dict[str, int]:
    """Raw and gzip size of `model` as a float32 .tflite: what compression is judged by."""
    with tempfile.TemporaryDirectory() as folder:
        return file_stats(export_tflite(model, Path(folder) / "baseline.tflite"))


def target_sparsity(prune) -> float:
    """The sparsity pruning aims at (m/n for m-by-n sparsity)."""
    m_by_n = prune.sparsity_m_by_n
    return m_by_n[0] / m_by_n[1] if m_by_n else prune.sparsity


def _technique_text(config: CompressConfig, technique: str) -> str:
    if technique == "prune":
        return f"magnitude pruning to {target_sparsity(config.prune):.0%} sparsity"
    if technique == "cluster":
        return f"clustering to {config.cluster.clusters} values per kernel"
    return "quantization-aware training"


def _compression_cost(before: dict[str, float], after: dict[str, float]) -> str | None:
    """A sentence when compression cost more than 2 accuracy points or 10% of the MAE."""
    if "mae" in before and after["mae"] > 1.1 * before["mae"]:
        change = after["mae"] / before["mae"] - 1
        what = f"test MAE from {before['mae']:.4g} to {after['mae']:.4g} (+{change:.0%})"
    elif "accuracy" in before and after["accuracy"] < before["accuracy"] - 0.02:
        what = f"test accuracy from {before['accuracy']:.4f} to {after['accuracy']:.4f}"
    else:
        return None
    return (
        f"compression took the {what}; every exported file is the compressed model. Lower "
        "`compress.prune.sparsity` or raise `compress.prune.epochs` (or turn compression off)"
    )
