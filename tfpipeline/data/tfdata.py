"""The tf.data chain that feeds training and evaluation."""

from __future__ import annotations

import numpy as np

from tfpipeline._keras import tf


def make_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, training: bool, seed: int = 0
) -> tf.data.Dataset:
    """Builds the input chain: cache -> shuffle (training only) -> batch -> prefetch.

    Args:
        x: features.
        y: labels.
        batch_size: samples per batch.
        training: shuffle each epoch when true; keep the order otherwise.
        seed: shuffle seed. Defaults to `0`.

    Returns:
        A batched, prefetching `tf.data.Dataset` of `(features, label)` pairs.
    """
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if training:
        dataset = dataset.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
