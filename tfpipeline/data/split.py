"""Seeded train / validation / test splits: stratified for classification (scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfpipeline.config import SplitConfig
from tfpipeline.data.base import FeatureSamples
from tfpipeline.errors import DataError


@dataclass(frozen=True)
class SplitData:
    """One split: which samples of a source it holds, and their encoded labels.

    Attributes:
        samples: the source's samples (see `FeatureSamples`).
        indices: the sample indices, sorted.
        y: the encoded label of each of those samples, in the same order.
    """

    samples: FeatureSamples
    indices: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    def dataset(self, shuffle_seed: int | None = None):
        """Returns an unbatched tf.data pipeline of `(features, label)` pairs.

        Args:
            shuffle_seed: for sources that shuffle cheaply before decoding (image files),
                reshuffle every epoch with this seed. Defaults to `None` (sample order).
        """
        from tfpipeline._keras import tf

        position = np.zeros(int(self.indices.max()) + 1 if len(self) else 1, dtype=np.int64)
        position[self.indices] = np.arange(len(self))
        labels, where = tf.constant(self.y), tf.constant(position)
        return self.samples.as_dataset(self.indices, shuffle_seed).map(
            lambda i, x: (x, tf.gather(labels, tf.gather(where, i))),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )

    def shard(self, count: int, index: int) -> SplitData:
        """Returns share `index` of `count` near-equal, disjoint shares of this split (every
        `count`-th sample), for one worker of a multi-worker run."""
        return SplitData(self.samples, self.indices[index::count], self.y[index::count])

    def arrays(self, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Returns `(x, y)` of the split (its first `limit` samples) as NumPy arrays."""
        count = len(self) if limit is None else min(limit, len(self))
        return self.samples.gather(self.indices[:count]), self.y[:count]


@dataclass(frozen=True)
class Splits:
    """The train, validation and test splits (validation may be empty)."""

    train: SplitData
    val: SplitData
    test: SplitData

    def sizes(self) -> dict[str, int]:
        """Returns the number of samples in each split."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def calibration_samples(self, count: int) -> np.ndarray:
        """Returns the samples that calibrate a quantized export: the first `count` of the
        training split (validation and test judge the export, so they never shape it)."""
        return self.train.arrays(limit=count)[0]

    # In-memory views, for small data and for the API's convenience.
    @property
    def x_train(self) -> np.ndarray:
        return self.train.arrays()[0]

    @property
    def y_train(self) -> np.ndarray:
        return self.train.y

    @property
    def x_val(self) -> np.ndarray:
        return self.val.arrays()[0]

    @property
    def y_val(self) -> np.ndarray:
        return self.val.y

    @property
    def x_test(self) -> np.ndarray:
        return self.test.arrays()[0]

    @property
    def y_test(self) -> np.ndarray:
        return self.test.y


def split_indices(
    y: np.ndarray,
    config: SplitConfig,
    seed: int,
    stratify: bool = True,
    class_names: Sequence[str] | None = None,
    with_test: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Splits positions `0..len(y)-1` into disjoint train / val / test parts.

    Args:
        y: the labels (class indices when `stratify`).
        config: the fractions of each split.
        seed: the split's seed; the same seed gives the same splits.
        stratify: keep each class's share in every split. Defaults to `True`.
        class_names: the label of each class index, for error messages. Defaults to `None`.
        with_test: cut a test split; `False` when the test set comes from elsewhere, and
            train and val share the data in the ratio of their fractions. Defaults to `True`.

    Returns:
        `(train, val, test)` sorted position arrays (`test` empty without `with_test`).

    Raises:
        DataError: if there is no data, or a class is too small to be in every split.
    """
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(y))
    if len(y) == 0:
        raise DataError("The data set is empty after cleaning; there is nothing to split.")
    fractions = {"train": config.train, "val": config.val, "test": config.test if with_test else 0}
    if stratify:
        _check_class_counts(y, fractions, class_names)
    empty = positions[:0]
    rest, test = positions, empty
    if with_test:
        rest, test = train_test_split(
            positions, test_size=config.test, stratify=y if stratify else None, random_state=seed
        )
    if config.val == 0:
        return np.sort(rest), empty, np.sort(test)
    train, val = train_test_split(
        rest,
        test_size=config.val / (config.train + config.val),
        stratify=y[rest] if stratify else None,
        random_state=seed,
    )
    return np.sort(train), np.sort(val), np.sort(test)


def _check_class_counts(
    y: np.ndarray, fractions: dict[str, float], class_names: Sequence[str] | None
) -> None:
    classes, counts = np.unique(y, return_counts=True)
    needed = sum(1 for f in fractions.values() if f > 0)
    smallest = int(np.argmin(counts))
    if counts[smallest] < needed:
        index = int(classes[smallest])
        label = class_names[index] if class_names is not None else index
        raise DataError(
            f"Class {label!r} has {counts[smallest]} sample(s); a stratified split "
            f"into {needed} parts needs at least {needed} per class. Add samples of that class, "
            "remove it, or use fewer splits."
        )
    for name in ("test", "val"):
        fraction = fractions[name] / sum(fractions.values())
        if fraction > 0 and round(fraction * len(y)) < len(classes):
            raise DataError(
                f"The {name} split ({fractions[name]:g} of {len(y)} samples) is smaller than the "
                f"number of classes ({len(classes)}), so it cannot hold every class. "
                f"Raise `data.split.{name}` or add data."
            )
