"""The one function that builds the tf.data input chain for training and evaluation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tfpipeline._keras import tf
from tfpipeline.data.sources import ArraySamples
from tfpipeline.data.split import SplitData


def make_dataset(
    data: SplitData | tuple[np.ndarray, np.ndarray],
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    augment: Callable | None = None,
    cache: str = "memory",
    shuffle_buffer: int = 10_000,
) -> tf.data.Dataset:
    """Builds: parallel decode -> cache -> shuffle -> augment -> batch -> prefetch.

    Shuffling and augmentation happen only when `training`. In-memory arrays without
    augmentation need no decoding or cache: their indices are shuffled and whole batches
    gathered at once. Image files are shuffled as a
    file list before decoding when nothing is cached; other sources shuffle after the cache
    (fully for in-memory data, with `shuffle_buffer` for file sources).

    Args:
        data: a split, or `(x, y)` arrays.
        batch_size: samples per batch.
        training: shuffle and augment when true; keep the order otherwise.
        seed: the shuffle and augmentation seed. Defaults to `0`.
        augment: `augment(x, seed) -> x` for one sample (see `make_augmenter`).
            Defaults to `None`.
        cache: `"memory"`, `"none"`, or a file path for a cache on disk.
            Defaults to `"memory"`.
        shuffle_buffer: shuffle buffer of file sources, in samples. Defaults to `10000`.

    Returns:
        A batched, prefetching `tf.data.Dataset` of `(features, label)` pairs.
    """
    if isinstance(data, tuple):
        x, y = data
        data = SplitData(ArraySamples(np.asarray(x, np.float32)), np.arange(len(y)), np.asarray(y))
    if isinstance(data.samples, ArraySamples) and augment is None:
        return _in_memory_batches(data, batch_size, training, seed)
    early_shuffle = training and cache == "none" and data.samples.index_shuffle
    dataset = data.dataset(shuffle_seed=seed if early_shuffle else None)
    if cache == "memory":
        dataset = dataset.cache()
    elif cache != "none":
        dataset = dataset.cache(cache)
    if training and not early_shuffle:
        in_memory = isinstance(data.samples, ArraySamples)
        buffer = len(data) if in_memory else min(len(data), shuffle_buffer)
        dataset = dataset.shuffle(max(buffer, 1), seed=seed, reshuffle_each_iteration=True)
    if training and augment is not None:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip((dataset, seeds.batch(2))).map(
            lambda pair, s: (augment(pair[0], s), pair[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _in_memory_batches(data: SplitData, batch_size: int, training: bool, seed: int):
    """Arrays already in memory: each epoch, one seeded permutation gathers the whole split
    in a single op, and batches are sliced from it.

    Working per epoch and per batch instead of per sample keeps the chain's overhead over a
    pre-materialised tensor data set small (see bench/data_pipeline.py overhead).
    """
    x, _ = data.arrays()
    features, labels = tf.constant(x), tf.constant(data.y)
    count = len(data)

    def epoch(order):
        return tf.data.Dataset.from_tensor_slices(
            (tf.gather(features, order), tf.gather(labels, order))
        ).batch(batch_size)

    if training:  # a fresh, seeded permutation every epoch
        epoch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        orders = epoch_seeds.take(1).map(
            lambda r: tf.random.experimental.stateless_shuffle(
                tf.range(count, dtype=tf.int64), seed=tf.stack([r, tf.constant(seed, tf.int64)])
            )
        )
    else:
        orders = tf.data.Dataset.from_tensors(tf.range(count, dtype=tf.int64))
    return orders.flat_map(epoch).prefetch(tf.data.AUTOTUNE)
