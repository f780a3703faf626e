"""The one function that builds the tf.data input chain for training and evaluation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tfpipeline._keras import tf
from tfpipeline.data.arrays import ArraySamples
from tfpipeline.data.base import seeded_shuffle
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
    epochs: tuple[int, int | None] = (0, 1),
    batches_per_epoch: int | None = None,
) -> tf.data.Dataset:
    """Builds: parallel decode -> cache -> shuffle -> augment -> batch -> prefetch.

    Shuffling and augmentation happen only when `training`, and each epoch's order and
    augmentation are a function of `(seed, epoch)` alone: a run resumed at epoch 7 sees
    exactly the batches an uninterrupted run sees there. Image files are shuffled as a file
    list before decoding when nothing is cached; other file sources shuffle after the cache
    with `shuffle_buffer`. In-memory arrays without augmentation need no decoding or cache:
    one permutation per epoch gathers the whole split, and batches are sliced from it.

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
        epochs: `(first, stop)`: the chain yields epochs `first` to `stop - 1` back to back
            (`stop=None`: without end). Defaults to `(0, 1)`, one epoch.
        batches_per_epoch: exactly this many batches per epoch, the epoch's batches
            repeated if it has fewer (the workers of a multi-worker run, each reading its own
            share of a split, must take the same number of steps). Defaults to `None`.

    Returns:
        A batched, prefetching `tf.data.Dataset` of `(features, label)` pairs.
    """
    split = _as_split(data)
    chain = _Chain(batch_size, training, seed, augment, cache, shuffle_buffer)
    if split.samples.in_memory and augment is None:
        one_epoch = _in_memory_epoch(split, chain)
    else:
        one_epoch = _streamed_epoch(split, chain)
    if batches_per_epoch is not None:
        one_epoch = _exactly(batches_per_epoch, one_epoch)
    return _epoch_numbers(epochs).flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)


@dataclass(frozen=True)
class _Chain:
    """The settings of one chain, as `make_dataset` takes them."""

    batch_size: int
    training: bool
    seed: int
    augment: Callable | None
    cache: str
    shuffle_buffer: int


def _as_split(data: SplitData | tuple[np.ndarray, np.ndarray]) -> SplitData:
    if isinstance(data, tuple):  # `(x, y)` arrays
        x, y = data
        return SplitData(ArraySamples(np.asarray(x, np.float32)), np.arange(len(y)), np.asarray(y))
    return data


def _epoch_numbers(epochs: tuple[int, int | None]) -> tf.data.Dataset:
    """Epochs `first` to `stop - 1` (without end for `stop=None`), as int64 numbers."""
    first, stop = epochs
    if stop is None:
        return tf.data.Dataset.counter(first)
    return tf.data.Dataset.range(first, stop)


def _exactly(batches: int, one_epoch: Callable) -> Callable:
    """Each epoch cut, or filled with its own batches repeated, to `batches` batches."""
    return lambda epoch: one_epoch(epoch).repeat().take(batches)


def _epoch_seed(seed: int, epoch) -> tf.Tensor:
    return tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])


def _in_memory_epoch(data: SplitData, chain: _Chain) -> Callable:
    """Whole-split gathers: the chain's overhead over a pre-materialised tensor data set is
    small this way (see bench/data_pipeline.py overhead)."""
    x, _ = data.arrays()
    features, labels = tf.constant(x), tf.constant(data.y)
    count = len(data)

    def one_epoch(epoch):
        order = tf.range(count, dtype=tf.int64)
        if chain.training:
            order = tf.random.experimental.stateless_shuffle(
                order, seed=_epoch_seed(chain.seed, epoch)
            )
        return tf.data.Dataset.from_tensor_slices(
            (tf.gather(features, order), tf.gather(labels, order))
        ).batch(chain.batch_size)

    return one_epoch


def _streamed_epoch(data: SplitData, chain: _Chain) -> Callable:
    """Decoded (and maybe cached) samples, shuffled and augmented sample by sample."""
    training, augment = chain.training, chain.augment
    early_shuffle = training and chain.cache == "none" and data.samples.index_shuffle
    base = None if early_shuffle else _cached(data.dataset(), chain.cache)
    in_memory = data.samples.in_memory
    buffer = max(1, len(data) if in_memory else min(len(data), chain.shuffle_buffer))

    def one_epoch(epoch):
        epoch_seed = chain.seed * 1_000_003 + tf.cast(epoch, tf.int64)  # one scalar per epoch
        if early_shuffle:
            dataset = data.dataset(shuffle_seed=epoch_seed)
        elif training:
            dataset = seeded_shuffle(base, buffer, epoch_seed)
        else:
            dataset = base
        if training and augment is not None:
            dataset = dataset.enumerate().map(
                lambda i, pair: (augment(pair[0], tf.stack([epoch_seed, i])), pair[1]),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        return dataset.batch(chain.batch_size)

    return one_epoch


def _cached(dataset: tf.data.Dataset, cache: str) -> tf.data.Dataset:
    """`dataset` cached in memory (`"memory"`), in files (a path prefix) or not (`"none"`)."""
    if cache == "memory":
        return dataset.cache()
    if cache != "none":
        return dataset.cache(cache)
    return dataset
