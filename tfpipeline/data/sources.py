"""Data sources: what each kind of data looks like before cleaning.

Every source gives `LoadedData`: the raw label of every sample, and `samples`, which streams
the features of any chosen samples as a tf.data pipeline. In-memory sources (built-in data
sets, arrays, CSV files) hold their features as one NumPy array; file sources (image folders,
TFRecord files) read and decode them inside tf.data, in parallel, on demand.
"""

from __future__ import annotations

import csv
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.config import DataConfig
from tfpipeline.errors import ConfigError, DataError


@dataclass(frozen=True)
class ArraySamples:
    """Features held in memory: `x[i]` is sample `i`'s float32 features."""

    x: np.ndarray
    is_image: bool = False
    value_range: float | None = None  # the largest raw value of an image format (255, 16)
    feature_names: tuple[str, ...] = ()
    index_shuffle = False  # shuffled after caching, with a full buffer

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def stream(self, indices: np.ndarray, shuffle_seed: int | None = None):
        """Returns a tf.data pipeline of `(index, features)` for `indices`, in that order."""
        from tfpipeline._keras import tf

        indices = np.asarray(indices, dtype=np.int64)
        return tf.data.Dataset.from_tensor_slices((indices, self.x[indices]))

    def row_keys(self) -> np.ndarray:
        """Returns one id per sample, equal for samples with identical features."""
        flat = self.x.reshape(len(self.x), -1)
        return np.unique(flat, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)

    def finite_rows(self) -> np.ndarray:
        return np.isfinite(self.x.reshape(len(self.x), -1)).all(axis=1)


@dataclass(frozen=True)
class LoadedData:
    """Samples and their raw labels, as loaded, before cleaning.

    Attributes:
        name: the data set's name.
        samples: the features (`ArraySamples`, `ImageFiles` or `RecordFiles`).
        labels: the raw label of each sample (ints, floats or strings; `None` or NaN when
            missing).
        notes: problems found while loading (for example unreadable image files), for the
            cleaning report: `{"unreadable_files": [...]}`.
        test: a separately loaded test set (`data.test_path`), or `None`.
    """

    name: str
    samples: Any
    labels: np.ndarray
    notes: dict = field(default_factory=dict)
    test: LoadedData | None = None

    @property
    def size(self) -> int:
        return len(self.labels)


def load_data(config: DataConfig, x: Any = None, y: Any = None) -> LoadedData:
    """Loads the data the data config names.

    Args:
        config: the data section of the config.
        x: features for `source: arrays`: an array-like of shape `(samples, ...)` or a pandas
            DataFrame. Defaults to `None`.
        y: labels for `source: arrays`, one per sample. Defaults to `None`.

    Returns:
        The loaded samples and raw labels (and the separate test set, if configured).

    Raises:
        ConfigError: for arrays given with another source, or a source without its data.
        DataError: for a missing or unreadable file or folder, or data of the wrong shape.
    """
    if (x is not None or y is not None) and config.source != "arrays":
        raise ConfigError(
            f"Arrays were given but `data.source` is {config.source!r}; set `data.source: "
            "arrays` to train on them."
        )
    if config.source == "arrays":
        if x is None or y is None:
            raise ConfigError(
                "`data.source: arrays` needs the arrays: pass `x` and `y` to `load_data` "
                "(or `Pipeline.run(x=..., y=...)`)."
            )
        return from_arrays(x, y)
    if config.source == "builtin":
        return load_builtin(config.name, config.as_images)
    loaded = _load_path(config, config.path)
    if config.test_path:
        test = _load_path(config, config.test_path)
        return LoadedData(loaded.name, loaded.samples, loaded.labels, loaded.notes, test)
    return loaded


def _load_path(config: DataConfig, path: str) -> LoadedData:
    path = os.path.expanduser(path)  # `~/data` in a YAML file is the user's home, as in a shell
    if config.source == "csv":
        return load_csv(path, config.label_column, config.feature_columns)
    if config.source == "image_dir":
        from tfpipeline.data.images import load_image_dir

        return load_image_dir(path, config.image_size, config.channels)
    from tfpipeline.data.records import load_tfrecords

    return load_tfrecords(path, config)


def from_arrays(x: Any, y: Any, name: str = "arrays") -> LoadedData:
    """Wraps in-memory features and labels (NumPy arrays, lists or a pandas DataFrame).

    Raises:
        DataError: if the features are not numeric, or `x` and `y` differ in length.
    """
    columns = list(getattr(x, "columns", []))
    try:
        features = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError):
        bad = _non_numeric_columns(x, columns)
        raise DataError(
            f"Features must be numeric; non-numeric column(s): {', '.join(bad) or '?'}. "
            "Encode categorical columns as numbers first."
        ) from None
    labels = np.asarray(y)
    if labels.ndim != 1:
        labels = labels.reshape(len(labels), -1)
        if labels.shape[1] != 1:
            raise DataError(f"Labels must be one per sample. Received shape {labels.shape}.")
        labels = labels[:, 0]
    if features.ndim == 1:
        features = features[:, None]
    if len(features) != len(labels):
        raise DataError(
            f"Features and labels must have one row per sample. Received {len(features)} "
            f"feature rows and {len(labels)} labels."
        )
    names = tuple(str(c) for c in columns)
    return LoadedData(name, ArraySamples(features, feature_names=names), labels)


def _non_numeric_columns(x: Any, columns: list) -> list[str]:
    bad = []
    for column in columns:
        try:
            np.asarray(x[column], dtype=np.float32)
        except (TypeError, ValueError):
            bad.append(str(column))
    return bad


def load_builtin(name: str, as_images: bool = False) -> LoadedData:
    """Loads a data set bundled with scikit-learn (no download).

    Args:
        name: `digits`, `iris`, `wine` or `breast_cancer`.
        as_images: give `digits` as 8x8x1 images (values 0-16). Defaults to `False`.
    """
    from sklearn import datasets

    loaders = {
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
    }
    if name not in loaders:
        raise ConfigError(f"Unknown built-in data set {name!r}. Accepted: {', '.join(loaders)}.")
    if as_images and name != "digits":
        raise ConfigError(f"`data.as_images` applies to digits only. Received name={name!r}")
    bunch = loaders[name]()
    labels = np.asarray(bunch.target_names)[bunch.target]
    x = bunch.data.astype(np.float32)
    if as_images:
        return LoadedData(name, ArraySamples(x.reshape(-1, 8, 8, 1), True, 16.0), labels)
    return LoadedData(name, ArraySamples(x, feature_names=tuple(bunch.feature_names)), labels)


def load_csv(path: str, label_column: str, feature_columns: list[str] | None) -> LoadedData:
    """Reads a CSV file with a header row: one label column, numeric feature columns.

    Empty cells and `nan`/`inf` spellings become non-finite values for cleaning to handle;
    an empty label cell is a missing label.

    Raises:
        DataError: for a missing file, a file without rows, a missing column, a ragged row or
            a non-numeric feature column (named).
    """
    file = Path(path)
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "not found"
        raise DataError(f"CSV file {what}: {file}")
    with open(file, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    rows = [row for row in rows if row]  # blank lines are not rows
    if not rows:
        raise DataError(f"CSV file {file} is empty: it needs a header row and data rows.")
    header, body = rows[0], rows[1:]
    if not body:
        raise DataError(f"CSV file {file} has a header but no data rows.")
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(
                f"CSV file {file}, line {number}: {len(row)} fields where the header has "
                f"{len(header)}."
            )
    if label_column not in header:
        raise DataError(
            f"Label column {label_column!r} not found in {file}. Columns: {', '.join(header)}. "
            "Set `data.label_column`."
        )
    names = feature_columns or [c for c in header if c != label_column]
    missing = [c for c in names if c not in header]
    if missing:
        raise DataError(
            f"Feature column(s) {', '.join(missing)} not found in {file}. "
            f"Columns: {', '.join(header)}."
        )
    table = np.array(body, dtype=object)
    features = np.empty((len(body), len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        features[:, j] = _numeric_column(table[:, header.index(name)], name, file)
    labels = table[:, header.index(label_column)]
    labels = np.array(
        [None if str(v).strip() == "" else str(v).strip() for v in labels], dtype=object
    )
    samples = ArraySamples(features, feature_names=tuple(names))
    return LoadedData(file.stem, samples, _numeric_labels_if_possible(labels))


def _numeric_column(values: np.ndarray, name: str, file: Path) -> np.ndarray:
    out = np.empty(len(values), dtype=np.float32)
    for i, text in enumerate(values):
        text = str(text).strip()
        try:
            out[i] = float(text) if text else np.nan
        except ValueError:
            raise DataError(
                f"CSV file {file}: feature column {name!r} is not numeric (line {i + 2}: "
                f"{text!r}). Categorical features are not encoded yet: encode the column as "
                "numbers, or leave it out with `data.feature_columns`."
            ) from None
    return out


def _numeric_labels_if_possible(labels: np.ndarray) -> np.ndarray:
    """Turns label strings that are all integers (or all numbers) into numbers."""
    present = [v for v in labels if v is not None]
    for kind in (int, float):
        try:
            [kind(v) for v in present]
        except ValueError:
            continue
        return np.array([None if v is None else kind(v) for v in labels], dtype=object)
    return labels


def expand_glob(pattern: str, what: str) -> list[str]:
    """Returns the sorted files matching `pattern` (a path or a glob).

    Raises:
        DataError: if nothing matches.
    """
    files = sorted(glob.glob(pattern)) if any(ch in pattern for ch in "*?[") else [pattern]
    files = [f for f in files if Path(f).is_file()]
    if not files:
        raise DataError(f"No {what} found at {pattern!r}.")
    return files
