"""In-memory arrays: features given as NumPy arrays, lists or a pandas DataFrame."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfpipeline.config import DEFAULT_NA_VALUES
from tfpipeline.data.base import FeatureSamples, LoadedData
from tfpipeline.data.tabular import check_column_names, table_from_cells
from tfpipeline.errors import DataError


@dataclass(frozen=True)
class ArraySamples(FeatureSamples):
    """Features held in memory: `x[i]` is sample `i`'s float32 features."""

    x: np.ndarray
    is_image: bool = False
    value_range: float | None = None  # the largest raw value of an image format (255, 16)
    feature_names: tuple[str, ...] = ()
    in_memory = True
    index_shuffle = False  # shuffled after caching, with a full buffer

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def as_dataset(self, indices: np.ndarray, shuffle_seed: Any = None):
        """Returns a tf.data pipeline of `(index, features)` for `indices`, in that order."""
        from tfpipeline._keras import tf  # TensorFlow loads on first use, not on import

        indices = np.asarray(indices, dtype=np.int64)
        return tf.data.Dataset.from_tensor_slices((indices, self.x[indices]))

    def batches(self, indices: np.ndarray, size: int) -> Iterator[np.ndarray]:
        x = self.x[indices]
        for start in range(0, len(x), size):
            yield x[start : start + size]

    def gather(self, indices: np.ndarray) -> np.ndarray:
        return self.x[indices]

    def row_keys(self) -> np.ndarray:
        """Returns one id per sample, equal for samples with identical features."""
        flat = self.x.reshape(len(self.x), -1)
        return np.unique(flat, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)

    def finite_rows(self) -> np.ndarray:
        return np.isfinite(self.x.reshape(len(self.x), -1)).all(axis=1)

    def constant_features(self, rows: np.ndarray) -> list[str]:
        """Names (or indices) of the feature columns holding a single value over `rows`;
        none for images."""
        if self.is_image or len(rows) < 2:
            return []
        values = self.x[rows].reshape(len(rows), -1)
        with np.errstate(invalid="ignore"):
            constant = np.nanmax(values, axis=0) == np.nanmin(values, axis=0)
        names = self.feature_names or tuple(str(i) for i in range(values.shape[1]))
        return [names[i] for i in np.flatnonzero(constant)]


def from_arrays(
    x: Any,
    y: Any,
    name: str = "arrays",
    na_values: Sequence[str] = DEFAULT_NA_VALUES,
    categorical_columns: Sequence[str] = (),
) -> LoadedData:
    """Wraps in-memory features and labels (NumPy arrays, lists or a pandas DataFrame).

    A DataFrame is a table: its columns keep their names, and text columns are categorical
    (see `tabular`). Labels may be one per sample, or one-hot rows (`(samples, classes)`,
    a single 1 per row), read as the index of their 1.

    Raises:
        DataError: if array features are not numeric, labels are neither one per sample nor
            one-hot, or `x` and `y` differ in length.
    """
    labels, note = _one_label_per_sample(y)
    notes = {"labels": note} if note else {}
    if hasattr(x, "columns") and hasattr(x, "__getitem__"):  # a DataFrame
        names = [str(c) for c in x.columns]
        check_column_names(names, "The DataFrame")
        samples, table_notes = table_from_cells(
            names, [list(x[c]) for c in x.columns], na_values, categorical_columns
        )
        notes.update(table_notes)
        rows = len(samples)
    else:
        try:
            features = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError(
                "Array features must be numeric. Pass a pandas DataFrame to have text "
                "columns encoded as categories."
            ) from None
        if features.ndim == 0:
            raise DataError("Array features must hold one row per sample. Received one value.")
        if features.ndim == 1:
            features = features[:, None]
        samples, rows = ArraySamples(features), len(features)
    if rows != len(labels):
        raise DataError(
            f"Features and labels must have one row per sample. Received {rows} "
            f"feature rows and {len(labels)} labels."
        )
    return LoadedData(name, samples, labels, notes)


def _one_label_per_sample(y: Any) -> tuple[np.ndarray, str | None]:
    """Labels as one per sample; one-hot rows become the index of their 1 (said in a note)."""
    try:
        labels = np.asarray(y)
    except (TypeError, ValueError):  # ragged nested lists
        labels = None
    if labels is None or labels.ndim == 0 or labels.dtype == object and labels.ndim > 1:
        raise DataError(
            "Labels must be a sequence with one label per sample (class indices or names, "
            f"shape (n,)) or one-hot rows (shape (n, classes)). Received: {type(y).__name__}"
            + ("" if labels is None else f" of shape {labels.shape}")
            + "."
        )
    if len(labels) == 0:
        raise DataError("No labels were given: pass one label per sample.")
    if labels.ndim == 1:
        return labels, None
    labels = labels.reshape(len(labels), -1)
    if labels.shape[1] == 1:
        return labels[:, 0], None
    numeric = np.issubdtype(labels.dtype, np.number) or labels.dtype == bool
    one_hot = numeric and np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(1) == 1)
    if not one_hot:
        bad = 0 if not numeric else int(np.flatnonzero((labels != 0).sum(1) != 1)[:1].sum())
        raise DataError(
            f"Labels must be one per sample (class indices or names, shape (n,)) or one-hot "
            f"rows (shape (n, classes), a single 1 per row). Received shape {labels.shape}, "
            f"and row {bad} is not one-hot: {labels[bad].tolist()[:10]}."
        )
    return np.argmax(labels, axis=1), (
        f"one-hot labels of {labels.shape[1]} classes read as class indices 0-{labels.shape[1] - 1}"
    )
