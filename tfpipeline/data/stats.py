"""Statistics of the training split, for normalization inside the model and for noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tfpipeline.data.split import SplitData

# A feature's standard deviation, as used for normalization, is at least its training range
# divided by this. It leaves ordinary features alone (a normal feature's range is about 6 to 8
# standard deviations) but stops a nearly constant one (one odd value among thousands) from
# getting a huge multiplier that would swamp the int8 scale of every other feature.
RANGE_OVER_STD_LIMIT = 20.0


@dataclass(frozen=True)
class FeatureStats:
    """Per-feature (per-channel for images) statistics of the training split.

    Attributes:
        mean: the mean.
        variance: the variance, as measured.
        minimum: the smallest value.
        maximum: the largest value.
    """

    mean: np.ndarray
    variance: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray

    @property
    def max_abs(self) -> np.ndarray:
        """The largest absolute value, at least a tiny positive number."""
        return np.maximum(np.maximum(np.abs(self.minimum), np.abs(self.maximum)), 1e-12)

    def normalization_variance(self) -> np.ndarray:
        """The variance to standardize with: floored so that int8 export stays accurate.

        Each feature's standard deviation is raised to at least its range divided by
        `RANGE_OVER_STD_LIMIT`; a constant feature gets variance 1 (it is only centred).
        """
        floor = np.square((self.maximum - self.minimum) / RANGE_OVER_STD_LIMIT)
        variance = np.maximum(self.variance, floor)
        return np.where(variance > 0, variance, 1.0).astype(np.float32)


def feature_statistics(
    train: SplitData | np.ndarray, per_channel: bool = False, batch: int = 4096
) -> FeatureStats:
    """Computes mean, variance, minimum and maximum over the training split, in one pass.

    Only the training split may be passed here, so that nothing of the validation or test
    split leaks into the model. File sources are streamed, so memory stays flat.

    Args:
        train: the training `SplitData`, or a NumPy array of training features.
        per_channel: reduce over every axis but the last (images). Defaults to `False`.
        batch: samples per streamed batch. Defaults to `4096`.

    Returns:
        The statistics, float32, of shape `(features,)` (or `(channels,)`).
    """
    total = total_sq = low = high = None
    count = 0
    for x in _batches(train, batch):
        x = np.asarray(x, dtype=np.float64)
        flat = x.reshape(-1, x.shape[-1]) if per_channel else x.reshape(len(x), -1)
        sums, squares = flat.sum(axis=0), np.square(flat).sum(axis=0)
        if total is None:
            total, total_sq, low, high = sums, squares, flat.min(axis=0), flat.max(axis=0)
        else:
            total, total_sq = total + sums, total_sq + squares
            low, high = np.minimum(low, flat.min(axis=0)), np.maximum(high, flat.max(axis=0))
        count += len(flat)
    mean = total / count
    variance = np.maximum(total_sq / count - np.square(mean), 0.0)
    return FeatureStats(*(a.astype(np.float32) for a in (mean, variance, low, high)))


def _batches(train, batch: int):
    if isinstance(train, np.ndarray):
        for start in range(0, len(train), batch):
            yield train[start : start + batch]
        return
    yield from train.samples.batches(train.indices, batch)
