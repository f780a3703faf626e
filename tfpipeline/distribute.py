"""Scale-out on tf.distribute, and mixed precision: chosen by `train.distribute` and
`train.mixed_precision`, applied around model building and training only.

Exports stay float32 whatever the training policy: the model is rebuilt in float32 with the
trained weights before compression and export.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Sequence

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


def training_input(model: keras.Model, data, batch_size: int, epochs: tuple, steps: int):
    """The training chain, sharded over a multi-worker run's workers by source kind.

    In-memory data: TensorFlow's DATA auto-shard policy; every worker runs the whole chain
    (gathers from arrays in memory) and keeps its share of every global batch.

    Files (image folders, TFRecords): every worker reads and decodes only its own share of
    the split's samples (`SplitData.shard`, through `distribute_datasets_from_function`), as
    FILE sharding does with whole files. TensorFlow's FILE policy itself cannot divide this
    chain: it yields epochs from an epoch counter (so that a resumed run sees the batches an
    uninterrupted one sees) and a split is a set of samples spread over the files, so there
    is no file list at its root. Each worker's epoch is cut or filled to `steps` steps, since
    all workers take every step together.

    Returns:
        `(input, class_weight)` for `fit`: the class weights are applied inside a per-worker
        chain (Keras takes none with a distributed input).
    """
    strategy = model.distribute_strategy
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    if not multi_worker or data.splits.train.samples.in_memory:
        chain = data.dataset("train", batch_size, training=True, epochs=epochs)
        return _shard_policy(chain, tf.data.experimental.AutoShardPolicy.DATA), data.class_weight

    weights = None
    if data.class_weight:
        weights = tf.constant([data.class_weight[i] for i in range(len(data.class_weight))])

    def worker_share(context: tf.distribute.InputContext):
        replicas_here = context.num_replicas_in_sync // context.num_input_pipelines
        chain = data.dataset(
            "train",
            max(1, batch_size // context.num_replicas_in_sync),
            training=True,
            epochs=epochs,
            shard=(context.num_input_pipelines, context.input_pipeline_id),
            batches_per_epoch=steps * replicas_here,
        )
        if weights is not None:
            chain = chain.map(lambda x, y: (x, y, tf.gather(weights, y)))
        return _shard_policy(chain, tf.data.experimental.AutoShardPolicy.OFF)  # sharded above

    return strategy.distribute_datasets_from_function(worker_share), None


def _shard_policy(chain, policy):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    return chain.with_options(options)


def is_chief(strategy) -> bool:
    """Whether this process writes the run: always, except on a multi-worker run's workers
    other than the chief (the `chief` task, or worker 0 when there is none)."""
    return strategy is None or strategy.extended.should_checkpoint


def worker_text(strategy) -> str:
    """`worker 1 of 2` for a multi-worker strategy, `""` otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return ""
    workers = sum(len(tasks) for tasks in resolver.cluster_spec().as_dict().values())
    role = "chief" if is_chief(strategy) else "writes to a temporary folder"
    return f"{resolver.task_type} {resolver.task_id} of {workers} ({role})"


def lost_workers(error: Exception, tf_config: str | None = None) -> str:
    """Names the tasks a multi-worker error blames (`worker 1`).

    TensorFlow lists them after "The following tasks are unhealthy"; the text before names
    this worker's own device, which is not to blame. Its error does not always name them (a
    peer killed mid-step gives a bare "Socket closed"): then the cluster in `tf_config`
    (`TF_CONFIG`) names the others (`worker 1`, or `one of worker 1, worker 2`), and
    without it the answer is `another worker`.
    """
    text = str(error)
    blamed = text.partition("unhealthy")[2] or text.partition("Error reported from")[2]
    tasks = dict.fromkeys(re.findall(r"/job:(\w+)(?:/replica:\d+)?/task:(\d+)", blamed))
    if tasks:
        return ", ".join(f"{job} {task}" for job, task in tasks)
    others = _other_workers(tf_config)
    if not others:
        return "another worker"
    return others[0] if len(others) == 1 else "one of " + ", ".join(others)


def _other_workers(tf_config: str | None) -> list[str]:
    """The workers of the `TF_CONFIG` cluster other than this one; none if it is unreadable."""
    try:
        config = json.loads(tf_config or "")
        workers = config["cluster"]["worker"]
        own = int(config["task"]["index"])
    except (ValueError, TypeError, KeyError):
        return []
    return [f"worker {index}" for index in range(len(workers)) if index != own]


def wait_for_other_workers(strategy) -> None:
    """Returns once every worker of a multi-worker run has got here (a one-number
    all-reduce); at once otherwise. After training, the chief waits so before removing the
    crash-safe state folder, in which the others may still be saving their last state."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        ones = strategy.run(lambda: tf.constant(1.0))
        strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)


def workers_tf_config(workers: Sequence[str], index: int) -> str:
    """The `TF_CONFIG` of worker `index` in a cluster of `workers` (`host:port` each).

    Raises:
        ConfigError: for an address that is not `host:port`, or an index out of range.
    """
    for address in workers:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"--workers takes host:port addresses separated by commas; {address!r} is "
                "not one (for example 10.0.0.1:12345)."
            )
    if not 0 <= index < len(workers):
        raise ConfigError(
            f"--worker-index {index} is out of range: --workers names {len(workers)} "
            f"worker(s), so it takes 0 to {len(workers) - 1}."
        )
    return json.dumps(
        {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}}
    )


def as_float32(model: keras.Model, copy: bool = False) -> keras.Model:
    """The same model computing in float32 (a copy with the trained weights, if it was not).

    `copy=True` always copies, outside any strategy: a model trained under one holds
    distributed variables, and on a multi-worker run reading some of their state would wait
    for workers that have finished.
    """
    if not copy and all(layer.dtype_policy.name == "float32" for layer in model.layers):
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
