"""Stratified, seeded train / validation / test splits (scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfpipeline.config import SplitConfig
from tfpipeline.errors import DataError


@dataclass(frozen=True)
class Splits:
    """The three splits. `x_val`/`y_val` are empty when the validation fraction is 0."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def sizes(self) -> dict[str, int]:
        """Returns the number of samples in each split."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def split_data(
    x: np.ndarray,
    y: np.ndarray,
    config: SplitConfig,
    seed: int,
    class_names: Sequence[str] | None = None,
) -> Splits:
    """Splits features and labels into stratified, disjoint train / val / test parts.

    Args:
        x: features, shape `(samples, features)`.
        y: class indices, shape `(samples,)`.
        config: the fractions of each split.
        seed: the split's seed; the same seed gives the same splits.
        class_names: the label of each class index, for error messages. Defaults to `None`
            (the index is shown).

    Returns:
        The three splits.

    Raises:
        DataError: if there is no data, or a class has too few samples to appear in every split.
    """
    from sklearn.model_selection import train_test_split

    if len(y) == 0:
        raise DataError("The data set is empty after cleaning; there is nothing to split.")
    _check_class_counts(y, config, class_names)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=config.test, stratify=y, random_state=seed
    )
    if config.val == 0:
        empty_x, empty_y = x[:0], y[:0]
        return Splits(x_rest, y_rest, empty_x, empty_y, x_test, y_test)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest,
        y_rest,
        test_size=config.val / (config.train + config.val),
        stratify=y_rest,
        random_state=seed,
    )
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test)


def _check_class_counts(
    y: np.ndarray, config: SplitConfig, class_names: Sequence[str] | None
) -> None:
    classes, counts = np.unique(y, return_counts=True)
    parts = [f for f in (config.train, config.val, config.test) if f > 0]
    needed = len(parts)
    smallest = int(np.argmin(counts))
    if counts[smallest] < needed:
        index = int(classes[smallest])
        label = class_names[index] if class_names is not None else index
        raise DataError(
            f"Class {label!r} has {counts[smallest]} sample(s); a stratified split "
            f"into {needed} parts needs at least {needed} per class. Add samples of that class, "
            "remove it, or use fewer splits."
        )
    for name, fraction in (("test", config.test), ("val", config.val)):
        if fraction > 0 and round(fraction * len(y)) < len(classes):
            raise DataError(
                f"The {name} split ({fraction:g} of {len(y)} samples) is smaller than the "
                f"number of classes ({len(classes)}), so it cannot hold every class. "
                f"Raise `data.split.{name}` or add data."
            )
