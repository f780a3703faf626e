"""Callbacks of the training stage, and the run-folder files they keep.

Checkpoints, crash-safe state and logs live in the run folder; every piece of state a killed
run needs to resume exactly is written atomically after each epoch.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np

from tfpipeline._atomic import file_atomic, named_write_errors, write_bytes_atomic
from tfpipeline._keras import keras, tf
from tfpipeline.config import TrainConfig
from tfpipeline.errors import ConfigError
from tfpipeline.run_folder import BEST_CHECKPOINT, CSV_LOG, TENSORBOARD, TRAINING_STATE

# Files and folders the training stage keeps in the run folder.
STOPPING_STATE = "early_stopping.json"  # inside TRAINING_STATE


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
        if not self.split.samples.in_memory:  # file data: stream it
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
        restore_dir: where a resumed run reads the state from, when not `state_dir` (a
            multi-worker chief's state, read by the other workers). Defaults to `None`.
        **kwargs: `EarlyStopping`'s arguments.
    """

    def __init__(
        self,
        state_dir: Path | None,
        start_epoch: int = 0,
        restore_dir: Path | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.state_dir = state_dir
        self.restore_dir = restore_dir or state_dir
        self.start_epoch = start_epoch

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        saved = stopping_state(self.restore_dir, self.start_epoch)
        if saved is None:
            return
        self.best, self.wait, self.best_epoch = saved["best"], saved["wait"], saved["best_epoch"]
        weights = self.restore_dir / f"best_weights_{self.best_epoch}.npz"
        if self.restore_best_weights and weights.exists():
            with np.load(weights) as stored:
                self.best_weights = [stored[f"w{i}"] for i in range(len(stored.files))]

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.state_dir is None:
            return
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


def stopping_state(state_dir: Path | None, start_epoch: int) -> dict | None:
    """The early-stopping state recorded after epoch `start_epoch - 1`, if any."""
    if state_dir is None or start_epoch == 0 or not (state_dir / STOPPING_STATE).exists():
        return None
    return json.loads((state_dir / STOPPING_STATE).read_text()).get(str(start_epoch - 1))


def make_early_stopping(
    config: TrainConfig, folder: Path | None, start: int, restore_dir: Path | None = None
):
    stopping = config.early_stopping
    if not stopping.enabled:
        return None
    keep_state = folder is not None and config.resume
    return ResumableEarlyStopping(
        folder / TRAINING_STATE if keep_state else None,
        start,
        restore_dir if keep_state else None,
        monitor=stopping.monitor,
        mode=stopping.mode,
        patience=stopping.patience,
        min_delta=stopping.min_delta,
        restore_best_weights=stopping.restore_best_weights,
        start_from_epoch=stopping.start_from_epoch,
    )


def run_folder_callbacks(
    config: TrainConfig, folder: Path | None, start: int, restore_dir: Path | None = None
) -> list:
    """Callbacks that keep state in the run folder. `restore_dir` is where the crash-safe
    state is read from when not `folder / TRAINING_STATE`: on a multi-worker run's other
    workers, the chief's (Keras's BackupAndRestore then writes theirs to temporary folders
    beside it, which it removes)."""
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
    state = restore_dir or folder / TRAINING_STATE
    if config.checkpoint:
        (folder / BEST_CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
        saved = stopping_state(state, start) if config.resume else None
        callbacks.append(
            _Checkpoint(
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
            keep_logged_epochs(folder / CSV_LOG, start)
        callbacks.append(_CSVLogger(str(folder / CSV_LOG), append=resumed))
    if config.tensorboard:
        require_tensorboard()
        callbacks.append(keras.callbacks.TensorBoard(str(folder / TENSORBOARD)))
    if config.resume:  # last: it saves the state once every other callback is done
        callbacks.append(_BackupAndRestore(str(state)))
    return callbacks


class _Checkpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint` whose failed writes (a full disk) name the checkpoint file."""

    def _save_model(self, epoch, batch, logs):
        with named_write_errors(self.filepath):
            super()._save_model(epoch, batch, logs)


class _CSVLogger(keras.callbacks.CSVLogger):
    """`CSVLogger` whose failed writes (a full disk) name the log file."""

    def on_train_begin(self, logs=None):
        with named_write_errors(self.filename):
            super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        with named_write_errors(self.filename):
            super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        with named_write_errors(self.filename):
            super().on_train_end(logs)


class _BackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose failed writes (a full disk) name the state folder."""

    def on_epoch_end(self, epoch, logs=None):
        with named_write_errors(self.backup_dir):
            super().on_epoch_end(epoch, logs)


def keep_logged_epochs(log: Path, epochs: int) -> None:
    """Drops log rows of epochs after `epochs`: a crash may have logged an epoch whose state
    was never saved, and that epoch runs again."""
    if not log.exists():
        return
    lines = log.read_text().splitlines(keepends=True)
    write_bytes_atomic(log, "".join(lines[: 1 + epochs]).encode())


def require_tensorboard() -> None:
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(
            "`train.tensorboard: true` needs the tensorboard package: "
            'pip install "tfpipeline[tensorboard]" (or pip install tensorboard).'
        )


def resume_epoch(state_dir: Path) -> int:
    """Returns the epochs a killed run already finished (0 when there is nothing to resume),
    from its crash-safe state folder (`<run folder>/training_state`)."""
    state = tf.train.latest_checkpoint(str(state_dir / "chief"))
    if state is None:
        return 0
    reader = tf.train.load_checkpoint(state)
    return int(reader.get_tensor("ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE")) + 1


def check_resumable(state_dir: Path, model) -> None:
    """Refuses a killed run's crash-safe state that another model saved (the data or the
    model changed since): restoring it would fail deep inside Keras or mix two models."""
    state = tf.train.latest_checkpoint(str(state_dir / "chief"))
    try:
        tf.train.Checkpoint(model=model).read(state).expect_partial()
    except (ValueError, tf.errors.OpError) as exc:
        reason = str(exc).strip().splitlines()[0][:300].rstrip(".")
        raise ConfigError(
            f"Cannot resume the run in {state_dir.parent}: its saved training state does not "
            f"fit this model ({reason}). The data or the model changed since it was saved; "
            "pass --overwrite to start afresh there, or choose another --output folder."
        ) from None
