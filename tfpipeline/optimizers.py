"""Optimizers and learning-rate schedules, built from the train config."""

from __future__ import annotations

import math

from tfpipeline._keras import keras, tf
from tfpipeline.config import TrainConfig


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


def make_schedule(
    config: TrainConfig, steps_per_epoch: int, epochs: int | None = None
) -> keras.optimizers.schedules.LearningRateSchedule | float:
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
