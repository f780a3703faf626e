"""Scale-out on tf.distribute, and mixed precision: chosen by `train.distribute` and
`train.mixed_precision`, applied around model building and training only.

Exports stay float32 whatever the training policy: the model is rebuilt in float32 with the
trained weights before compression and export.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from tfpipeline._keras import keras, tf
from tfpipeline.config import TrainConfig
from tfpipeline.errors import ConfigError


def make_strategy(config: TrainConfig):
    """Returns the configured strategy, or `None` for `distribute: none`.

    Raises:
        ConfigError: for `multi_worker` without a `TF_CONFIG` naming the cluster, devices
            that do not exist, or `mixed_float16` on a machine without a GPU.
    """
    _policy(config)  # refused before any work
    if config.distribute == "none":
        return None
    if config.distribute == "mirrored":
        devices = config.devices or None
        if devices:
            known = {_device_name(d.name) for d in tf.config.list_logical_devices()}
            missing = [d for d in devices if _device_name(d) not in known]
            if missing:
                raise ConfigError(
                    f"Config key `train.devices` names devices this machine lacks: "
                    f"{', '.join(missing)}. Available: {', '.join(sorted(known))}."
                )
        return tf.distribute.MirroredStrategy(devices=devices)
    if "TF_CONFIG" not in os.environ:
        raise ConfigError(
            "`train.distribute: multi_worker` needs the TF_CONFIG environment variable "
            '(for example {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}) on every worker.'
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


@contextlib.contextmanager
def training_scope(config: TrainConfig, strategy) -> Iterator[None]:
    """Model building and training happen in here: the strategy's scope, the dtype policy."""
    policy = _policy(config)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def replicas(strategy) -> int:
    """Replicas in sync (1 without a strategy)."""
    return strategy.num_replicas_in_sync if strategy is not None else 1


def as_float32(model: keras.Model) -> keras.Model:
    """The same model computing in float32 (a copy with the trained weights, if it was not)."""
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model

    def float32_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        config["dtype"] = "float32"
        return type(layer).from_config(config)

    with (
        keras.mixed_precision.policy_scope("float32")
        if hasattr(keras.mixed_precision, "policy_scope")
        else contextlib.nullcontext()
    ):
        copy = keras.models.clone_model(model, clone_function=float32_layer)
    copy.set_weights(model.get_weights())
    return copy


def _policy(config: TrainConfig) -> str:
    if config.mixed_precision == "none":
        return "float32"
    if config.mixed_precision == "mixed_float16" and not tf.config.list_physical_devices("GPU"):
        raise ConfigError(
            "`train.mixed_precision: mixed_float16` needs a GPU and this machine has none "
            "(float16 on a CPU is slower, not faster). Use `mixed_bfloat16` on CPUs that "
            "support it, or `none`."
        )
    return config.mixed_precision


def _device_name(device: str) -> str:
    """`/cpu:0`, `CPU:0` and `/job:localhost/.../device:CPU:0` all give `cpu:0`."""
    return device.lower().rsplit("device:", 1)[-1].lstrip("/")
