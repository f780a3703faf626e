"""Training stage: optimizer, learning-rate schedule, EarlyStopping and the fit itself."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfpipeline._keras import keras, require_tf_keras_model
from tfpipeline.config import TrainConfig
from tfpipeline.data import PreparedData


@dataclass(frozen=True)
class TrainResult:
    """What a fit did.

    Attributes:
        history: per-epoch values keyed by metric name (`loss`, `accuracy`, `val_loss`,
            `val_accuracy`, `learning_rate`).
        epochs_run: epochs actually run.
        stopped_early: whether EarlyStopping ended training before the epoch cap.
        best_epoch: the 1-based epoch whose weights the model holds (the best one by the
            monitored metric when best weights were restored, else the last).
    """

    history: dict[str, list[float]]
    epochs_run: int
    stopped_early: bool
    best_epoch: int

    def to_dict(self) -> dict:
        """Returns the result as a plain dict (for the manifest)."""
        return {
            "epochs_run": self.epochs_run,
            "stopped_early": self.stopped_early,
            "best_epoch": self.best_epoch,
            "history": self.history,
        }


def make_optimizer(config: TrainConfig, learning_rate: float | None = None):
    """Builds the configured optimizer, its learning rate following the configured schedule.

    Args:
        config: the train section of the config.
        learning_rate: initial rate instead of `config.learning_rate` (used for fine-tuning,
            which keeps it constant). Defaults to `None`.

    Returns:
        A tf_keras optimizer.
    """
    rate = _schedule(config) if learning_rate is None else learning_rate
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate)
    if config.optimizer == "momentum":
        return keras.optimizers.SGD(rate, momentum=0.9)
    return keras.optimizers.RMSprop(rate)


def _schedule(config: TrainConfig):
    schedule = config.schedule
    if schedule.kind == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            config.learning_rate,
            decay_steps=schedule.decay_steps,
            decay_rate=schedule.decay_rate,
            staircase=schedule.staircase,
        )
    return config.learning_rate


class LearningRateLogger(keras.callbacks.Callback):
    """Adds `learning_rate` (the rate of the epoch's last step) to each epoch's logs."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        optimizer = self.model.optimizer
        rate = optimizer._learning_rate  # the schedule itself, when there is one
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            step = max(int(optimizer.iterations.numpy()) - 1, 0)
            logs["learning_rate"] = float(rate(step))
        else:
            logs["learning_rate"] = float(keras.backend.get_value(optimizer.learning_rate))


def train(
    model: keras.Model,
    data: PreparedData,
    config: TrainConfig,
    *,
    learning_rate: float | None = None,
    epochs: int | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    early_stopping: bool = True,
    verbose: int | None = None,
) -> TrainResult:
    """Compiles and fits `model` on the training split, validating on the validation split.

    Classification uses sparse categorical cross-entropy (with the data's class weights, if
    any) and reports accuracy; regression uses mean squared error and reports MAE.

    Args:
        model: a tf_keras model whose output fits the data's task.
        data: the prepared data.
        config: the train section of the config.
        learning_rate: a constant rate instead of the configured schedule. Defaults to `None`.
        epochs: an epoch cap instead of `config.epochs`. Defaults to `None`.
        callbacks: extra callbacks (for example those a pruning wrapper needs).
            Defaults to none.
        early_stopping: apply the configured EarlyStopping. Defaults to `True`.
        verbose: Keras verbosity; `None` picks a progress bar on a terminal and one line per
            epoch otherwise. Defaults to `None`.

    Returns:
        The training result; `model` holds the trained weights.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model.
    """
    require_tf_keras_model(model, "train")
    classification = data.task == "classification"
    model.compile(
        optimizer=make_optimizer(config, learning_rate),
        loss="sparse_categorical_crossentropy" if classification else "mse",
        metrics=["accuracy"] if classification else ["mae"],
    )
    has_val = len(data.splits.val) > 0
    stopping = config.early_stopping
    all_callbacks = [LearningRateLogger(), *callbacks]
    if early_stopping and stopping.enabled:
        stopper = keras.callbacks.EarlyStopping(
            monitor=stopping.monitor,
            patience=stopping.patience,
            restore_best_weights=stopping.restore_best_weights,
        )
        all_callbacks.append(stopper)
    else:
        stopper = None
    cap = epochs or config.epochs
    history = model.fit(
        data.dataset("train", config.batch_size, training=True),
        validation_data=data.dataset("val", config.batch_size) if has_val else None,
        class_weight=data.class_weight,
        epochs=cap,
        callbacks=all_callbacks,
        verbose=(1 if sys.stdout.isatty() else 2) if verbose is None else verbose,
    ).history
    history = {k: [float(v) for v in values] for k, values in history.items()}
    epochs_run = len(history["loss"])
    stopped_early = stopper is not None and epochs_run < cap
    best_epoch = epochs_run
    if stopper is not None and stopping.restore_best_weights and stopper.best_weights is not None:
        best_epoch = int(stopper.best_epoch) + 1  # EarlyStopping counts from 0
    return TrainResult(history, epochs_run, stopped_early, best_epoch)


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Returns `{"accuracy": ...}` (classification) or `{"mae": ..., "mse": ...}` (regression)."""
    return score(predict_probabilities(model, x), y, task)


def score(outputs: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Scores model outputs against labels: top-1 accuracy, or MAE and MSE of the targets."""
    if task == "classification":
        return {"accuracy": float(np.mean(np.argmax(outputs, axis=1) == y))}
    error = outputs.reshape(-1) - y.reshape(-1)
    return {"mae": float(np.mean(np.abs(error))), "mse": float(np.mean(np.square(error)))}


def predict_probabilities(model: keras.Model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Returns `model`'s outputs on `x` as a float32 array, batch by batch."""
    parts = [
        model(x[i : i + batch_size], training=False).numpy() for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts).astype(np.float32)
