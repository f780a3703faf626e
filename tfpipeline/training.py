"""Training stage: optimizers, learning-rate schedules, callbacks and the fit itself."""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfpipeline._keras import keras, require_tf_keras_model, tf
from tfpipeline.config import TrainConfig
from tfpipeline.data import PreparedData
from tfpipeline.errors import ConfigError, TfpipelineError

# Files and folders the training stage keeps in the run folder.
TRAINING_STATE = "training_state"  # BackupAndRestore's crash-safe state
STOPPING_STATE = "early_stopping.json"
BEST_CHECKPOINT = Path("checkpoints") / "best.keras"
CSV_LOG = "training_log.csv"
TENSORBOARD = "tensorboard"


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


def steps_per_epoch(samples: int, batch_size: int) -> int:
    """Returns the optimizer steps in one epoch (the last batch may be smaller)."""
    return max(1, math.ceil(samples / batch_size))


@keras.utils.register_keras_serializable(package="tfpipeline")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `after(0)` over `warmup_steps`, then `after(step - warmup)`.

    Args:
        after: the schedule (or constant rate) that follows the warm-up.
        warmup_steps: warm-up length in optimizer steps.
    """

    def __init__(self, after, warmup_steps: int):
        self.after = after
        self.warmup_steps = int(warmup_steps)

    def _after(self, step):
        if isinstance(self.after, keras.optimizers.schedules.LearningRateSchedule):
            return tf.cast(self.after(step), tf.float32)
        return tf.constant(float(self.after), tf.float32)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warm = tf.cast(self.warmup_steps, tf.float32)
        ramp = self._after(0.0) * (step + 1) / warm
        return tf.where(step < warm, ramp, self._after(tf.maximum(step - warm, 0.0)))

    def get_config(self) -> dict:
        after = self.after
        if isinstance(after, keras.optimizers.schedules.LearningRateSchedule):
            after = keras.optimizers.schedules.serialize(after)
        return {"after": after, "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config: dict) -> LinearWarmup:
        after = config["after"]
        if isinstance(after, dict):
            after = keras.optimizers.schedules.deserialize(after)
        return cls(after, config["warmup_steps"])


def make_schedule(config: TrainConfig, steps_per_epoch: int, epochs: int | None = None):
    """Builds the configured learning-rate schedule (see `ScheduleConfig`).

    Args:
        config: the train section of the config.
        steps_per_epoch: optimizer steps per epoch, to turn epochs into steps.
        epochs: the epoch count cosine decays over by default. Defaults to `config.epochs`.

    Returns:
        A Keras `LearningRateSchedule`, or the float rate for `constant` without warm-up.
    """
    s, rate = config.schedule, config.learning_rate
    schedules = keras.optimizers.schedules
    if s.kind == "exponential":
        decay_steps = round(s.decay_epochs * steps_per_epoch) if s.decay_epochs else s.decay_steps
        schedule = schedules.ExponentialDecay(rate, max(1, decay_steps), s.decay_rate, s.staircase)
    elif s.kind == "step" and s.boundaries:
        bounds = [b * steps_per_epoch for b in s.boundaries]
        schedule = schedules.PiecewiseConstantDecay(bounds, list(s.values))
    elif s.kind == "step":
        period = s.drop_every_epochs * steps_per_epoch
        schedule = schedules.ExponentialDecay(rate, period, s.factor, staircase=True)
    elif s.kind == "cosine":
        period = round((s.cosine_epochs or epochs or config.epochs) * steps_per_epoch)
        if s.restarts:
            schedule = schedules.CosineDecayRestarts(
                rate, max(1, period), t_mul=s.t_mul, m_mul=s.m_mul, alpha=s.alpha
            )
        else:
            schedule = schedules.CosineDecay(rate, max(1, period), alpha=s.alpha)
    else:
        schedule = rate
    if s.warmup_epochs > 0:
        return LinearWarmup(schedule, max(1, round(s.warmup_epochs * steps_per_epoch)))
    return schedule


def make_optimizer(
    config: TrainConfig, steps_per_epoch: int = 1, learning_rate: float | None = None
) -> keras.optimizers.Optimizer:
    """Builds the configured optimizer, its rate following the configured schedule.

    Args:
        config: the train section of the config.
        steps_per_epoch: optimizer steps per epoch (for schedules given in epochs).
            Defaults to `1`.
        learning_rate: a constant rate instead of the schedule (fine-tuning).
            Defaults to `None`.

    Returns:
        A tf_keras optimizer with the configured clipping and weight decay.
    """
    rate = make_schedule(config, steps_per_epoch) if learning_rate is None else learning_rate
    options = {"clipnorm": config.clipnorm, "clipvalue": config.clipvalue}
    if config.weight_decay is not None:
        options["weight_decay"] = config.weight_decay
    optimizers = keras.optimizers
    momentum = 0.9 if config.momentum is None else config.momentum
    if config.optimizer == "sgd":
        return optimizers.SGD(rate, **options)
    if config.optimizer in ("momentum", "nesterov"):
        nesterov = config.optimizer == "nesterov"
        return optimizers.SGD(rate, momentum=momentum, nesterov=nesterov, **options)
    if config.optimizer == "adam":
        return optimizers.Adam(rate, **options)
    if config.optimizer == "adamw":
        options.setdefault("weight_decay", 0.004)
        return optimizers.AdamW(rate, **options)
    return optimizers.RMSprop(rate, momentum=config.momentum or 0.0, **options)


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


class Validation(keras.callbacks.Callback):
    """Adds `val_loss` and `val_accuracy` (or `val_mae`) to each epoch's logs.

    The same figures as Keras's own per-epoch evaluation (mean loss plus the regularization
    losses, no class weights), at a fraction of its fixed cost per epoch, which dominates
    on small data sets (bench/training.py): in-memory splits are held as tensors and scored
    by one compiled function per chunk.

    Args:
        split: the validation `SplitData`.
        task: `"classification"` or `"regression"`.
        chunk: samples scored per call. Defaults to `4096`.
    """

    def __init__(self, split, task: str, chunk: int = 4096):
        super().__init__()
        self.split = split
        self.task = task
        self.chunk = chunk
        self._chunks = None
        self._score = tf.function(self._sums, reduce_retracing=True)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        totals = np.zeros(3)
        for x, y in self._batches():
            totals += [float(v) for v in self._score(x, y)]
        loss, metric, count = totals
        regularization = sum(float(v) for v in self.model.losses)
        name = "val_accuracy" if self.task == "classification" else "val_mae"
        logs["val_loss"] = loss / count + regularization
        logs[name] = metric / count

    def _batches(self):
        if getattr(self.split.samples, "x", None) is None:  # file data: stream it
            return self.split.dataset().batch(self.chunk)
        if self._chunks is None:
            x, y = self.split.arrays()
            self._chunks = [
                (tf.constant(x[i : i + self.chunk]), tf.constant(y[i : i + self.chunk]))
                for i in range(0, len(y), self.chunk)
            ]
        return self._chunks

    def _sums(self, x, y):
        predicted = self.model(x, training=False)
        if self.task == "classification":
            losses = keras.losses.sparse_categorical_crossentropy(y, predicted)
            hits = tf.cast(tf.equal(tf.argmax(predicted, -1), tf.cast(y, tf.int64)), tf.float32)
        else:
            error = tf.reshape(predicted, [-1]) - tf.cast(tf.reshape(y, [-1]), tf.float32)
            losses, hits = tf.square(error), tf.abs(error)
        count = tf.cast(tf.shape(x)[0], tf.float32)
        return tf.reduce_sum(tf.cast(losses, tf.float32)), tf.reduce_sum(hits), count


class StopOnNaN(keras.callbacks.Callback):
    """Stops training after the first epoch whose loss is NaN or infinite, and names it.

    Checked once per epoch: a per-batch check would force a device sync on every step.
    """

    def __init__(self):
        super().__init__()
        self.failed_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.failed_at = epoch + 1
            self.model.stop_training = True


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras `EarlyStopping` whose state (best value, wait, best weights) survives a crash.

    After every epoch its state is recorded in the run folder under that epoch's number; a
    run resumed at epoch `start` reads back the state of epoch `start - 1` (a state written
    for an epoch that the crash kept from finishing is ignored, since that epoch runs again),
    so the resumed run stops and restores exactly as an uninterrupted one.

    Args:
        state_dir: the folder for the state; `None` keeps none.
        start_epoch: the epoch training starts (or resumes) at.
        **kwargs: `EarlyStopping`'s arguments.
    """

    def __init__(self, state_dir: Path | None, start_epoch: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.state_dir = state_dir
        self.start_epoch = start_epoch

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        saved = _stopping_state(self.state_dir, self.start_epoch)
        if saved is None:
            return
        self.best, self.wait, self.best_epoch = saved["best"], saved["wait"], saved["best_epoch"]
        weights = self.state_dir / f"best_weights_{self.best_epoch}.npz"
        if self.restore_best_weights and weights.exists():
            with np.load(weights) as stored:
                self.best_weights = [stored[f"w{i}"] for i in range(len(stored.files))]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.state_dir is None:
            return
        from tfpipeline._atomic import file_atomic, write_bytes_atomic

        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.best_weights is not None and self.best_epoch == epoch:
            weights = {f"w{i}": w for i, w in enumerate(self.best_weights)}
            path = self.state_dir / f"best_weights_{epoch}.npz"
            with file_atomic(path) as tmp, open(tmp, "wb") as handle:
                np.savez(handle, **weights)
        path = self.state_dir / STOPPING_STATE
        states = json.loads(path.read_text()) if path.exists() else {}
        states[str(epoch)] = {
            "best": float(self.best),
            "wait": self.wait,
            "best_epoch": self.best_epoch,
        }
        write_bytes_atomic(self.state_dir / STOPPING_STATE, json.dumps(states).encode())


def _stopping_state(state_dir: Path | None, start_epoch: int) -> dict | None:
    """The early-stopping state recorded after epoch `start_epoch - 1`, if any."""
    if state_dir is None or start_epoch == 0 or not (state_dir / STOPPING_STATE).exists():
        return None
    return json.loads((state_dir / STOPPING_STATE).read_text()).get(str(start_epoch - 1))


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
) -> TrainResult:
    """Compiles and fits `model` on the training split, validating on the validation split.

    Classification uses sparse categorical cross-entropy (with the data's class weights, if
    any) and reports accuracy; regression uses mean squared error and reports MAE. With a
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

    Returns:
        The training result; `model` holds the trained weights.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model.
        ValueError: if the model's output does not fit the data (named sizes).
        TrainingError: if the loss becomes NaN (naming the epoch; the best checkpoint so far
            is kept).
    """
    require_tf_keras_model(model, "train")
    _check_output(model, data)
    classification = data.task == "classification"
    steps = steps_per_epoch(len(data.splits.train), config.batch_size)
    cap = epochs or config.epochs
    model.compile(
        optimizer=make_optimizer(config, steps, learning_rate),
        loss="sparse_categorical_crossentropy" if classification else "mse",
        metrics=["accuracy"] if classification else ["mae"],
    )
    folder = Path(run_dir) if run_dir is not None else None
    start = _resume_epoch(folder) if folder is not None and config.resume else 0
    nan_guard = StopOnNaN()
    stopper = _early_stopping(config, folder, start) if early_stopping else None
    has_val = len(data.splits.val) > 0
    validation = [Validation(data.splits.val, data.task)] if has_val else []
    all_callbacks = [
        LearningRateLogger(),
        *validation,  # before every callback that reads val_ figures
        nan_guard,
        *callbacks,
        *([stopper] if stopper else []),
        *_run_folder_callbacks(config, folder, start),
    ]
    history = model.fit(
        data.dataset("train", config.batch_size, training=True, epochs=(start, cap)),
        steps_per_epoch=steps,
        class_weight=data.class_weight,
        epochs=cap,
        initial_epoch=start,
        callbacks=all_callbacks,
        verbose=(1 if sys.stdout.isatty() else 2) if verbose is None else verbose,
    ).history
    if nan_guard.failed_at is not None:
        _raise_nan(nan_guard.failed_at, config, folder)
    if folder is not None:  # finished: the crash-safe state has served its purpose
        shutil.rmtree(folder / TRAINING_STATE, ignore_errors=True)
    history = _full_history(folder, history) if config.csv_log and folder else _clean(history)
    epochs_run = len(history["loss"])
    stopped_early = stopper is not None and epochs_run < cap
    best_epoch = epochs_run
    restored = stopper is not None and config.early_stopping.restore_best_weights
    if restored and stopper.best_weights is not None:
        best_epoch = int(stopper.best_epoch) + 1  # EarlyStopping counts from 0
    return TrainResult(history, epochs_run, stopped_early, best_epoch, start)


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


def _early_stopping(config: TrainConfig, folder: Path | None, start: int):
    stopping = config.early_stopping
    if not stopping.enabled:
        return None
    return ResumableEarlyStopping(
        folder / TRAINING_STATE if folder is not None and config.resume else None,
        start,
        monitor=stopping.monitor,
        mode=stopping.mode,
        patience=stopping.patience,
        min_delta=stopping.min_delta,
        restore_best_weights=stopping.restore_best_weights,
        start_from_epoch=stopping.start_from_epoch,
    )


def _run_folder_callbacks(config: TrainConfig, folder: Path | None, start: int) -> list:
    resumed = start > 0
    plateau = config.reduce_on_plateau
    callbacks = []
    if plateau.enabled:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=plateau.monitor,
                factor=plateau.factor,
                patience=plateau.patience,
                min_lr=plateau.min_lr,
            )
        )
    if folder is None:
        return callbacks
    if config.checkpoint:
        (folder / BEST_CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
        saved = _stopping_state(folder / TRAINING_STATE, start) if config.resume else None
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                str(folder / BEST_CHECKPOINT),
                monitor=config.early_stopping.monitor,
                mode=config.early_stopping.mode,
                save_best_only=True,
                # A resumed run only replaces the checkpoint with a better model.
                initial_value_threshold=saved["best"] if saved else None,
            )
        )
    if config.csv_log:
        if resumed:
            _keep_logged_epochs(folder / CSV_LOG, start)
        callbacks.append(keras.callbacks.CSVLogger(str(folder / CSV_LOG), append=resumed))
    if config.tensorboard:
        _require_tensorboard()
        callbacks.append(keras.callbacks.TensorBoard(str(folder / TENSORBOARD)))
    if config.resume:  # last: it saves the state once every other callback is done
        callbacks.append(keras.callbacks.BackupAndRestore(str(folder / TRAINING_STATE)))
    return callbacks


def _keep_logged_epochs(log: Path, epochs: int) -> None:
    """Drops log rows of epochs after `epochs`: a crash may have logged an epoch whose state
    was never saved, and that epoch runs again."""
    from tfpipeline._atomic import write_bytes_atomic

    if not log.exists():
        return
    lines = log.read_text().splitlines(keepends=True)
    write_bytes_atomic(log, "".join(lines[: 1 + epochs]).encode())


def _require_tensorboard() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(
            "`train.tensorboard: true` needs the tensorboard package: "
            'pip install "tfpipeline[tensorboard]" (or pip install tensorboard).'
        )


def _resume_epoch(folder: Path) -> int:
    """Returns the epochs a killed run already finished (0 when there is nothing to resume)."""
    state = tf.train.latest_checkpoint(str(folder / TRAINING_STATE / "chief"))
    if state is None:
        return 0
    reader = tf.train.load_checkpoint(state)
    return int(reader.get_tensor("ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE")) + 1


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
