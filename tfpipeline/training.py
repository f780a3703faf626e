"""Training stage: the fit itself, its result, and scoring on held-out data.

Optimizers and schedules live in `optimizers.py`, callbacks and run-folder state in
`callbacks.py`.
"""

from __future__ import annotations

import csv
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfpipeline._keras import keras
from tfpipeline._model_check import takes_tf_keras_model
from tfpipeline.callbacks import (
    LearningRateLogger,
    StopOnNaN,
    Validation,
    check_resumable,
    make_early_stopping,
    resume_epoch,
    run_folder_callbacks,
)
from tfpipeline.config import TrainConfig
from tfpipeline.data import PreparedData
from tfpipeline.distribute import training_input, wait_for_other_workers
from tfpipeline.errors import TfpipelineError
from tfpipeline.evaluation import score
from tfpipeline.optimizers import make_optimizer, steps_per_epoch
from tfpipeline.run_folder import BEST_CHECKPOINT, CSV_LOG, TRAINING_STATE


class TrainingError(TfpipelineError, RuntimeError):
    """Training that cannot go on, such as a loss that became NaN."""


@dataclass(frozen=True)
class TrainResult:
    """What a fit did.

    Attributes:
        history: per-epoch values keyed by metric name (`loss`, `accuracy` or `mae`, their
            `val_` forms, `learning_rate`), all epochs included when the run was resumed.
        epochs_run: epochs actually run.
        stopped_early: whether EarlyStopping ended training before the epoch cap.
        best_epoch: the 1-based epoch whose weights the model holds (the best one by the
            monitored metric when best weights were restored, else the last).
        resumed_from_epoch: the epochs already done when a killed run resumed (0 if not).
    """

    history: dict[str, list[float]]
    epochs_run: int
    stopped_early: bool
    best_epoch: int
    resumed_from_epoch: int = 0

    def to_dict(self) -> dict:
        """Returns the result as a plain dict (for the manifest)."""
        return {
            "epochs_run": self.epochs_run,
            "stopped_early": self.stopped_early,
            "best_epoch": self.best_epoch,
            "resumed_from_epoch": self.resumed_from_epoch,
            "history": self.history,
        }


@takes_tf_keras_model()
def train(
    model: keras.Model,
    data: PreparedData,
    config: TrainConfig,
    *,
    run_dir: str | Path | None = None,
    learning_rate: float | None = None,
    epochs: int | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    early_stopping: bool = True,
    verbose: int | None = None,
    shared_state: str | Path | None = None,
) -> TrainResult:
    """Compiles and fits `model` on the training split, validating on the validation split.

    Classification uses sparse categorical cross-entropy (with the data's class weights, if
    any) and reports accuracy; regression uses the mean squared error over the training
    targets' variance (the error of standardized targets: 1.0 is what predicting the mean
    scores) and reports MAE in the target's units. With a
    `run_dir`, the configured checkpoint, crash-safe state, CSV log and TensorBoard logs are
    kept there, and a run killed mid-training resumes from its last finished epoch when
    trained again into the same folder.

    Args:
        model: a tf_keras model whose output fits the data's task.
        data: the prepared data.
        config: the train section of the config.
        run_dir: the folder for checkpoints, state and logs; `None` keeps none.
            Defaults to `None`.
        learning_rate: a constant rate instead of the configured schedule. Defaults to `None`.
        epochs: an epoch cap instead of `config.epochs`. Defaults to `None`.
        callbacks: extra callbacks (for example those a pruning wrapper needs).
            Defaults to none.
        early_stopping: apply the configured EarlyStopping. Defaults to `True`.
        verbose: Keras verbosity; `None` picks a progress bar on a terminal and one line per
            epoch otherwise. Defaults to `None`.
        shared_state: on a multi-worker run's other workers, the chief's crash-safe state
            folder (`<its run folder>/training_state`, on storage every worker sees): a
            resume reads it, and Keras writes these workers' state to temporary folders
            beside it. Defaults to `None` (`run_dir/training_state`).

    Returns:
        The training result; `model` holds the trained weights.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model.
        ValueError: if the model's output does not fit the data (named sizes).
        TrainingError: if the loss becomes NaN (naming the epoch; the best checkpoint so far
            is kept).
    """
    _check_output(model, data)
    steps = steps_per_epoch(len(data.splits.train), config.batch_size)
    cap = epochs or config.epochs
    _compile(model, data, config, steps, learning_rate)
    run = _run_folder(model, config, run_dir, shared_state)
    nan_guard = StopOnNaN()
    stopper = (
        make_early_stopping(config, run.folder, run.start, run.state) if early_stopping else None
    )
    all_callbacks = _callbacks(data, config, run, nan_guard, stopper, callbacks)
    chain, class_weight = training_input(model, data, config.batch_size, (run.start, cap), steps)
    history = model.fit(
        chain,
        steps_per_epoch=steps,
        class_weight=class_weight,
        epochs=cap,
        initial_epoch=run.start,
        callbacks=all_callbacks,
        verbose=(1 if sys.stdout.isatty() else 2) if verbose is None else verbose,
    ).history
    if nan_guard.failed_at is not None:
        _raise_nan(nan_guard.failed_at, config, run.folder)
    if run.folder is not None:  # finished: the crash-safe state has served its purpose
        wait_for_other_workers(model.distribute_strategy)
        shutil.rmtree(run.folder / TRAINING_STATE, ignore_errors=True)
    return _result(history, config, run, stopper, cap)


@dataclass(frozen=True)
class _RunFolder:
    """Where a fit keeps its files, and where it starts.

    Attributes:
        folder: the run folder, or `None` (no checkpoint, state or logs).
        state: the crash-safe state folder (the chief's on a multi-worker run's other
            workers), or `None`.
        start: the epochs already done by a killed run that this fit resumes (0 if none).
    """

    folder: Path | None
    state: Path | None
    start: int


def _run_folder(
    model: keras.Model,
    config: TrainConfig,
    run_dir: str | Path | None,
    shared_state: str | Path | None,
) -> _RunFolder:
    """The fit's run folder and state, and the epoch it resumes from (checked resumable)."""
    folder = Path(run_dir) if run_dir is not None else None
    state = Path(shared_state) if shared_state else folder / TRAINING_STATE if folder else None
    start = resume_epoch(state) if folder is not None and config.resume else 0
    if start:
        check_resumable(state, model)
    return _RunFolder(folder, state, start)


def _compile(
    model: keras.Model,
    data: PreparedData,
    config: TrainConfig,
    steps: int,
    learning_rate: float | None,
) -> None:
    """Compiles for the task: sparse cross-entropy and accuracy, or the mean squared error
    over the targets' variance and MAE."""
    classification = data.task == "classification"
    target_std = (data.target or (0.0, 1.0))[1]
    model.compile(
        optimizer=make_optimizer(config, steps, learning_rate),
        loss="sparse_categorical_crossentropy" if classification else "mse",
        loss_weights=None if classification else [1.0 / target_std**2],
        metrics=["accuracy"] if classification else ["mae"],
    )


def _callbacks(
    data: PreparedData,
    config: TrainConfig,
    run: _RunFolder,
    nan_guard: StopOnNaN,
    stopper: keras.callbacks.EarlyStopping | None,
    extra: Sequence[keras.callbacks.Callback],
) -> list[keras.callbacks.Callback]:
    """Every callback of the fit, in the order they must run."""
    has_val = len(data.splits.val) > 0
    validation = [Validation(data.splits.val, data.task)] if has_val else []
    return [
        LearningRateLogger(),
        *validation,  # before every callback that reads val_ figures
        nan_guard,
        *extra,
        *([stopper] if stopper else []),
        *run_folder_callbacks(config, run.folder, run.start, run.state),
    ]


def _result(
    history: dict,
    config: TrainConfig,
    run: _RunFolder,
    stopper: keras.callbacks.EarlyStopping | None,
    cap: int,
) -> TrainResult:
    """The fit's result: its whole history (the epochs before a resume too, from the CSV
    log) and which epoch's weights the model holds."""
    folder = run.folder
    history = _full_history(folder, history) if config.csv_log and folder else _clean(history)
    epochs_run = len(history["loss"])
    stopped_early = stopper is not None and epochs_run < cap
    best_epoch = epochs_run
    restored = stopper is not None and config.early_stopping.restore_best_weights
    if restored and stopper.best_weights is not None:
        best_epoch = int(stopper.best_epoch) + 1  # EarlyStopping counts from 0
    return TrainResult(history, epochs_run, stopped_early, best_epoch, run.start)


def _check_output(model: keras.Model, data: PreparedData) -> None:
    width = model.outputs[0].shape[-1]
    if width != data.num_outputs:
        what = (
            f"{data.num_outputs} classes ({', '.join(data.class_names[:5])}"
            + (", ..." if len(data.class_names) > 5 else "")
            + ")"
            if data.task == "classification"
            else "1 regression target"
        )
        raise ValueError(
            f"The model's output has {width} units but the data has {what}. Give the last "
            f"layer {data.num_outputs} unit(s)."
        )


def _raise_nan(epoch: int, config: TrainConfig, folder: Path | None) -> None:
    kept = ""
    if folder is not None and config.checkpoint and (folder / BEST_CHECKPOINT).exists():
        kept = f" The best model before it is kept at {folder / BEST_CHECKPOINT}."
    raise TrainingError(
        f"The training loss became NaN in epoch {epoch}. Lower "
        f"`train.learning_rate` (now {config.learning_rate:g}) or set `train.clipnorm`.{kept}"
    )


def _clean(history: dict) -> dict[str, list[float]]:
    return {key: [float(v) for v in values] for key, values in history.items()}


def _full_history(folder: Path, history: dict) -> dict[str, list[float]]:
    """Reads every epoch back from the CSV log (it holds the epochs before a resume too)."""
    with open(folder / CSV_LOG, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return _clean(history)
    keys = [key for key in rows[0] if key != "epoch"]
    return {key: [float(row[key]) for row in rows] for key in keys}


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray, task: str) -> dict[str, float]:
    """Returns `{"accuracy": ...}` (classification) or `{"mae": ..., "mse": ...}` (regression)."""
    return score(predict_probabilities(model, x), y, task)


def predict_probabilities(model: keras.Model, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Returns `model`'s outputs on `x` as a float32 array, batch by batch."""
    parts = [
        model(x[i : i + batch_size], training=False).numpy() for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts).astype(np.float32)
