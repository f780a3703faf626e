"""The `train` section: optimizer, learning-rate schedule, stopping rule, checkpoints, logs."""

from __future__ import annotations

from dataclasses import dataclass, field

from tfpipeline._schema import setting

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "exponential", "step", "cosine")
MONITORS = ("val_loss", "val_accuracy", "val_mae", "loss", "accuracy", "mae")


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule (`lr` is `train.learning_rate`; steps are optimizer steps).

    - `constant`: `lr`.
    - `exponential`: `lr * decay_rate ** (step / decay_steps)` (floored exponent with
      `staircase`); `decay_epochs`, when set, gives `decay_steps` in epochs.
    - `step`: `lr * factor ** floor(epoch / drop_every_epochs)`; or, when `boundaries` is set,
      piecewise constant: `values[i]` until epoch `boundaries[i]`, then `values[-1]`.
    - `cosine`: cosine decay from `lr` to `lr * alpha` over `cosine_epochs` (default: all
      epochs); with `restarts`, SGDR restarts after `cosine_epochs`, each period `t_mul`
      times longer and `m_mul` times lower.
    - `warmup_epochs` > 0 wraps any of them in a linear warm-up from 0.

    Attributes:
        kind: `constant`, `exponential`, `step` or `cosine`. Defaults to `"exponential"`.
        decay_rate: exponential decay rate. Defaults to `0.9`.
        decay_steps: exponential decay period, in steps. Defaults to `100`.
        decay_epochs: exponential decay period in epochs, replacing `decay_steps`.
            Defaults to `None`.
        staircase: exponential decay in whole periods. Defaults to `False`.
        factor: step decay's multiplier. Defaults to `0.5`.
        drop_every_epochs: step decay's period, in epochs. Defaults to `10`.
        boundaries: piecewise-constant epochs at which the rate changes. Defaults to `None`.
        values: piecewise-constant rates, one more than `boundaries`. Defaults to `None`.
        alpha: cosine's final rate, as a fraction of `lr`. Defaults to `0.0`.
        cosine_epochs: cosine's (first) period, in epochs. Defaults to `None` (all epochs).
        restarts: cosine with warm restarts. Defaults to `False`.
        t_mul: restart period multiplier. Defaults to `2.0`.
        m_mul: restart rate multiplier. Defaults to `1.0`.
        warmup_epochs: linear warm-up length, in epochs. Defaults to `0.0`.
    """

    kind: str = setting("exponential", choices=SCHEDULES)
    decay_rate: float = setting(0.9, low=0.0, high=1.0, low_open=True)
    decay_steps: int = setting(100, low=1)
    decay_epochs: float | None = setting(None, low=0.0, low_open=True)
    staircase: bool = False
    factor: float = setting(0.5, low=0.0, high=1.0, low_open=True)
    drop_every_epochs: int = setting(10, low=1)
    boundaries: list[int] | None = setting(None, low=1)
    values: list[float] | None = setting(None, low=0.0, low_open=True)
    alpha: float = setting(0.0, low=0.0, high=1.0)
    cosine_epochs: float | None = setting(None, low=0.0, low_open=True)
    restarts: bool = False
    t_mul: float = setting(2.0, low=0.0, low_open=True)
    m_mul: float = setting(1.0, low=0.0, low_open=True)
    warmup_epochs: float = setting(0.0, low=0.0)


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """Keras `EarlyStopping` arguments; `patience: 0` stops at the first epoch without progress.

    Attributes:
        enabled: stop early at all. Defaults to `True`.
        monitor: the metric watched. Defaults to `"val_loss"`.
        mode: `auto` (max for accuracy, min otherwise), `min` or `max`. Defaults to `"auto"`.
        patience: epochs without improvement before stopping. Defaults to `5`.
        min_delta: the smallest change that counts as improvement. Defaults to `0.0`.
        restore_best_weights: end with the best epoch's weights. Defaults to `True`.
        start_from_epoch: epochs to run before watching. Defaults to `0`.
    """

    enabled: bool = True
    monitor: str = setting("val_loss", choices=MONITORS)
    mode: str = setting("auto", choices=("auto", "min", "max"))
    patience: int = setting(5, low=0)
    min_delta: float = setting(0.0, low=0.0)
    restore_best_weights: bool = True
    start_from_epoch: int = setting(0, low=0)


@dataclass(frozen=True)
class ReduceOnPlateauConfig:
    """Keras `ReduceLROnPlateau`: multiply the rate by `factor` after `patience` flat epochs.

    Needs `train.schedule.kind: constant` (a schedule already sets the rate every step).

    Attributes:
        enabled: use it.
        monitor: the metric watched.
        factor: what the rate is multiplied by.
        patience: flat epochs before the rate drops.
        min_lr: the rate never goes below this.
    """

    enabled: bool = False
    monitor: str = setting("val_loss", choices=MONITORS)
    factor: float = setting(0.1, low=0.0, high=1.0, low_open=True, high_open=True)
    patience: int = setting(3, low=0)
    min_lr: float = setting(0.0, low=0.0)


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer, schedule, stopping rule, checkpoints and logs of the training stage.

    Attributes:
        optimizer: `sgd`, `momentum` (SGD with momentum), `nesterov` (SGD with Nesterov
            momentum), `adam`, `adamw` or `rmsprop`. Defaults to `"adam"`.
        learning_rate: the initial rate. Defaults to `0.001`.
        momentum: momentum of `momentum`, `nesterov` and `rmsprop`. Defaults to `0.9`
            (`rmsprop`: 0 unless set).
        weight_decay: decoupled weight decay (`adamw` defaults to 0.004; others none).
            Defaults to `None`.
        clipnorm: clip each gradient to this norm. Defaults to `None`.
        clipvalue: clip each gradient value to this range. Defaults to `None`.
        schedule: the learning-rate schedule.
        reduce_on_plateau: the plateau callback.
        epochs: the epoch cap. Defaults to `50`.
        batch_size: samples per step. Defaults to `32`.
        early_stopping: the stopping rule.
        seed: seed of weights, shuffling and dropout. Defaults to `42`.
        deterministic: TensorFlow op determinism, so a seeded run repeats exactly.
            Defaults to `True`.
        resume: keep crash-safe training state (`BackupAndRestore`) in the run folder, so a
            killed run started again with the same command resumes from its last finished
            epoch. Defaults to `True`.
        checkpoint: keep the best epoch's model as `checkpoints/best.keras`. Defaults to `True`.
        csv_log: write `training_log.csv`, one row per epoch. Defaults to `True`.
        tensorboard: write TensorBoard logs to `tensorboard/`. Defaults to `False`.
        distribute: `none`, `mirrored` (MirroredStrategy over the local GPUs, or `devices`)
            or `multi_worker` (MultiWorkerMirroredStrategy from `TF_CONFIG`, or from
            `tfpipeline run --workers ... --worker-index N`; needs `--output` on storage
            every worker sees, where the chief writes the run).
            Defaults to `"none"`.
        devices: the devices `mirrored` uses, such as `["/cpu:0", "/cpu:1"]`; `null` means
            every local GPU. Defaults to `null`.
        scale_lr_with_replicas: multiply the learning rate by the number of replicas (the
            batch size is global, so each step sees that many times more samples).
            Defaults to `False`.
        mixed_precision: `none`, `mixed_float16` (GPUs only) or `mixed_bfloat16` (`true`,
            `false` and `bfloat16` are read as `mixed_float16`, `none` and `mixed_bfloat16`);
            the output layer stays float32 and exports are float32 regardless.
            Defaults to `"none"`.
    """

    optimizer: str = setting("adam", choices=OPTIMIZERS)
    learning_rate: float = setting(0.001, low=0.0, high=10.0, low_open=True)
    momentum: float | None = setting(None, low=0.0, high=1.0, high_open=True)
    weight_decay: float | None = setting(None, low=0.0, high=1.0)
    clipnorm: float | None = setting(None, low=0.0, low_open=True)
    clipvalue: float | None = setting(None, low=0.0, low_open=True)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    reduce_on_plateau: ReduceOnPlateauConfig = field(default_factory=ReduceOnPlateauConfig)
    epochs: int = setting(50, low=1, high=100_000)
    batch_size: int = setting(32, low=1, high=1_000_000)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    seed: int = setting(42, low=0)
    deterministic: bool = True
    resume: bool = True
    checkpoint: bool = True
    csv_log: bool = True
    tensorboard: bool = False
    distribute: str = setting("none", choices=("none", "mirrored", "multi_worker"))
    devices: list[str] | None = setting(None)
    scale_lr_with_replicas: bool = False
    mixed_precision: str = setting(
        "none",
        choices=("none", "mixed_float16", "mixed_bfloat16"),
        aliases={True: "mixed_float16", False: "none", "bfloat16": "mixed_bfloat16"},
    )
