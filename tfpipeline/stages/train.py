"""Stage 3, train: fit the model, then score it once on the test split beside the
classical baseline."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline._keras import keras, tf
from tfpipeline.backbones import trainable_weight_count, unfreeze_backbone
from tfpipeline.config import FineTuneConfig, TrainConfig
from tfpipeline.data import PreparedData
from tfpipeline.distribute import lost_workers, replicas, worker_text
from tfpipeline.evaluation import (
    baseline_scores,
    classification_report,
    plot_confusion_matrix,
    text_baseline_scores,
)
from tfpipeline.interpret import feature_attributions, input_mean
from tfpipeline.record import TrainingRecord
from tfpipeline.run_folder import FINE_TUNE_DIR
from tfpipeline.stages.log import StageLog, scores_text
from tfpipeline.training import TrainingError, TrainResult, predict_probabilities, score, train


@dataclass(frozen=True)
class Trained:
    """What training handed on.

    Attributes:
        record: what the fit did (epochs, early stop, history).
        outputs: the trained model's outputs on the test split (scored once, reused).
        scores: its test scores (`accuracy`, or `mae`, `mse`, `rmse`, `r2`).
    """

    record: TrainingRecord
    outputs: np.ndarray
    scores: dict[str, float]


def train_stage(
    config: TrainConfig,
    model: keras.Model,
    data: PreparedData,
    run_dir: Path | None,
    log: StageLog,
    strategy=None,
    shared_state: Path | None = None,
    fine_tune: FineTuneConfig | None = None,
) -> Trained:
    """Trains `model` on the training split (checkpoints, state and logs in `run_dir`; none
    without one) and scores it on the test split.

    With `fine_tune` enabled (a pretrained backbone, frozen while its head trained), the top
    of the backbone is then unfrozen and the model trains again at the fine-tuning rate
    (its files in `run_dir/fine_tune`); the record holds both phases.

    Raises:
        TrainingError: if the loss becomes NaN, or a worker of a multi-worker run stops
            answering.
    """
    log.stage(
        3,
        "train",
        f"{config.optimizer}, {config.schedule.kind} schedule, up to {config.epochs} epochs",
    )
    if strategy is not None:
        config = _distributed(config, data, strategy, log)
    if config.mixed_precision != "none":
        log.detail(f"{config.mixed_precision} policy (output layer float32)")
    fine_tuning = fine_tune is not None and fine_tune.enabled
    head_weights = trainable_weight_count(model)
    if fine_tuning:
        log.detail(f"phase 1, head: {head_weights:,} trainable weights, backbone frozen")
    result = _fit(model, data, config, run_dir, log, shared_state=shared_state)
    if result.resumed_from_epoch:
        log.detail(f"resumed after epoch {result.resumed_from_epoch}")
    record = TrainingRecord.from_dict(result.to_dict())
    if fine_tuning:
        head = _phase("head", result, config.learning_rate, head_weights, 0)
        record = _fine_tune(model, data, config, fine_tune, run_dir, log, record, head)
    outputs = predict_probabilities(model, data.splits.test.arrays()[0])
    scores = score(outputs, data.splits.test.y, data.task)
    stop = "stopped early" if record.stopped_early else "ran all epochs"
    log.detail(
        f"{record.epochs_run} epochs ({stop}), best epoch {record.best_epoch}, "
        f"test {scores_text(scores)}"
    )
    return Trained(record, outputs, scores)


def _fit(model, data, config: TrainConfig, run_dir, log: StageLog, **options) -> TrainResult:
    """`train`, with a multi-worker run's lost peer said by name."""
    try:
        return train(model, data, config, run_dir=run_dir, verbose=log.verbose, **options)
    except tf.errors.UnavailableError as exc:  # multi-worker: a peer died or never came
        raise TrainingError(
            f"Training stopped: {lost_workers(exc, os.environ.get('TF_CONFIG'))} stopped "
            "answering. Start every worker "
            "again with the same command; training resumes after the last finished epoch."
        ) from None


def _fine_tune(
    model: keras.Model,
    data: PreparedData,
    config: TrainConfig,
    fine_tune: FineTuneConfig,
    run_dir: Path | None,
    log: StageLog,
    head: TrainingRecord,
    head_phase: dict[str, Any],
) -> TrainingRecord:
    """Phase 2: unfreezes the top of the backbone (BatchNormalization stays frozen) and
    trains at the fine-tuning rate; returns the record of both phases."""
    unfrozen = unfreeze_backbone(model, fine_tune.layers, fine_tune.from_layer)
    weights = trainable_weight_count(model)
    log.detail(
        f"phase 2, fine-tuning: {unfrozen} backbone layers unfrozen (BatchNormalization "
        f"kept frozen, in inference mode), {weights:,} trainable weights, learning rate "
        f"{fine_tune.learning_rate:g}, up to {fine_tune.epochs} epochs"
    )
    folder = run_dir / FINE_TUNE_DIR if run_dir is not None else None
    result = _fit(
        model, data, config, folder, log, learning_rate=fine_tune.learning_rate,
        epochs=fine_tune.epochs,
    )  # fmt: skip
    tuned = _phase("fine_tune", result, fine_tune.learning_rate, weights, unfrozen)
    history = {key: [*values, *result.history.get(key, [])] for key, values in head.history.items()}
    return dataclasses.replace(
        head,
        epochs_run=head.epochs_run + result.epochs_run,
        stopped_early=result.stopped_early,
        best_epoch=head.epochs_run + result.best_epoch,
        history=history,
        phases=[head_phase, tuned],
    )


def _phase(
    name: str, result: TrainResult, learning_rate: float, weights: int, unfrozen: int
) -> dict[str, Any]:
    """One training phase, as the record keeps it."""
    return {
        "name": name,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "learning_rate": learning_rate,
        "trainable_weights": weights,
        "unfrozen_layers": unfrozen,
    }


def _distributed(config: TrainConfig, data: PreparedData, strategy, log: StageLog) -> TrainConfig:
    """The train section as the replicas run it (learning rate scaled when asked), logged."""
    count = replicas(strategy)
    if config.scale_lr_with_replicas:
        config = dataclasses.replace(config, learning_rate=config.learning_rate * count)
    log.detail(
        f"{config.distribute}: {count} replicas, global batch {config.batch_size} "
        f"({config.batch_size / count:g} per replica), learning rate {config.learning_rate:g}"
    )
    worker = worker_text(strategy)
    if worker:
        in_memory = data.splits.train.samples.in_memory
        share = "its share of every batch" if in_memory else "its share of the files"
        log.detail(f"this is {worker}; each worker reads {share}")
    return config


def evaluate_stage(
    trained: Trained,
    data: PreparedData,
    confusion_matrix: Path,
    log: StageLog,
    model: keras.Model | None = None,
) -> dict[str, Any]:
    """The trained model's test evaluation beside the classical baseline's (per-class
    figures and the confusion matrix plot for classification), and, given the `model` and
    named features, which features it relies on (see `attribution_summary`).

    Returns:
        The run record's `evaluation`: the scores (and `per_class`, `confusion_matrix`,
        ...), with the baseline's under `baseline` and the attributions under
        `attributions` (when computed).
    """
    y_test = data.splits.test.y
    baseline = _baseline(data)
    shown = {k: v for k, v in baseline.items() if k not in ("kind", "value", "mse", "val_accuracy")}
    log.detail(f"baseline ({baseline['kind']}): test {scores_text(shown)}")
    if not beats(trained.scores, baseline):
        log.detail(
            f"warning: the model is no better than the baseline ({baseline['kind']}) on the "
            "test split"
        )
    if data.task != "classification":
        evaluation = {**trained.scores, "baseline": baseline}
    else:
        evaluation = classification_report(trained.outputs, y_test, data.class_names)
        plot_confusion_matrix(evaluation, confusion_matrix)
        evaluation = {**evaluation, "baseline": baseline}
    attributions = attribution_summary(model, data) if model is not None else None
    if attributions is not None:
        top = ", ".join(
            f"{item['feature']} {item['mean_abs']:.3g}" for item in attributions["features"][:3]
        )
        log.detail(f"attributions on {attributions['samples']} test rows: {top}, ...")
        evaluation["attributions"] = attributions
    return evaluation


def _baseline(data: PreparedData) -> dict[str, Any]:
    """The classical baseline's scores: TF-IDF + logistic regression for texts, the most
    frequent class or the mean predictor otherwise."""
    splits = ("train", "val", "test")
    if data.is_text:
        texts = {split: data.texts(split) for split in splits}
        labels = {split: getattr(data.splits, split).y for split in splits}
        return text_baseline_scores(texts, labels, data.tokenizer.lowercase)
    return baseline_scores(data.splits.train.y, data.splits.test.y, data.task, data.class_names)


# Integrated gradients in the evaluation: on at most this many test rows (seeded choice),
# with this many steps; the record keeps the features with the largest attributions.
ATTRIBUTION_ROWS = 200
ATTRIBUTION_STEPS = 32
ATTRIBUTION_TOP = 20


def attribution_summary(model: keras.Model, data: PreparedData) -> dict[str, Any] | None:
    """Each named feature's mean |integrated gradient| on a sample of the test split.

    Computed for data with named features (tables, built-in feature sets, digits' 64
    pixels as features) and a model taking them as floats; `None` for images (they have
    no feature names: a mean map over classes says little, and 224x224 figures do not fit
    a table), unnamed arrays and models that take integers.

    Returns:
        `method`, `samples`, `steps`, `baseline` (`training mean` or `zeros`), `output`
        (`probability of the predicted class` or `prediction`), `feature_count`, and
        `features`: the `ATTRIBUTION_TOP` largest as `{"feature", "mean_abs"}`, largest
        first.
    """
    names = data.feature_names
    if not names or not model.inputs[0].dtype.is_floating:
        return None
    x_test = data.splits.test.arrays()[0]
    rows = np.arange(len(x_test))
    if len(rows) > ATTRIBUTION_ROWS:
        rows = np.sort(np.random.default_rng(data.seed).choice(rows, ATTRIBUTION_ROWS, False))
    ranked = feature_attributions(model, x_test[rows], names, steps=ATTRIBUTION_STEPS)
    mean = input_mean(model)
    classification = data.task == "classification"
    return {
        "method": "integrated gradients",
        "samples": int(len(rows)),
        "steps": ATTRIBUTION_STEPS,
        "baseline": "zeros" if mean is None or not np.any(mean) else "training mean",
        "output": "probability of the predicted class" if classification else "prediction",
        "feature_count": len(names),
        "features": [
            {"feature": name, "mean_abs": value} for name, value in ranked[:ATTRIBUTION_TOP]
        ],
    }


def beats(scores: dict[str, float], baseline: dict) -> bool:
    """Whether test scores beat the baseline's (lower MAE, or higher accuracy)."""
    if "mae" in scores:
        return scores["mae"] < baseline["mae"]
    return scores["accuracy"] > baseline["accuracy"]
