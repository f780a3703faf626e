"""Data sources: what each kind of data looks like before cleaning.

Every source gives `LoadedData`: the raw label of every sample, and `samples`, which streams
the features of any chosen samples as a tf.data pipeline. In-memory sources (built-in data
sets, arrays, CSV files) hold their features as one NumPy array; file sources (image folders,
TFRecord files) read and decode them inside tf.data, in parallel, on demand.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.config import DEFAULT_NA_VALUES, DataConfig
from tfpipeline.data.tabular import (
    TableSamples,
    category_text,
    check_column_names,
    is_number,
    read_csv_table,
    table_from_cells,
)
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
        return from_arrays(x, y, "arrays", config.na_values, config.categorical.columns or ())
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
        return load_csv(
            path,
            config.label_column,
            config.feature_columns,
            config.na_values,
            config.categorical.columns or (),
        )
    if config.source == "image_dir":
        from tfpipeline.data.images import load_image_dir

        return load_image_dir(path, config.image_size, config.channels, config.max_image_pixels)
    from tfpipeline.data.records import load_tfrecords

    return load_tfrecords(path, config)


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


def load_builtin(name: str, as_images: bool = False) -> LoadedData:
    """Loads a data set bundled with scikit-learn (no download).

    Args:
        name: `digits`, `iris`, `wine`, `breast_cancer` (classes) or `diabetes` (a number:
            disease progression after one year, from ten raw measurements).
        as_images: give `digits` as 8x8x1 images (values 0-16). Defaults to `False`.
    """
    from sklearn import datasets

    loaders = {
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": lambda: datasets.load_diabetes(scaled=False),  # raw units, as apps have
    }
    if name not in loaders:
        raise ConfigError(f"Unknown built-in data set {name!r}. Accepted: {', '.join(loaders)}.")
    if as_images and name != "digits":
        raise ConfigError(f"`data.as_images` applies to digits only. Received name={name!r}")
    bunch = loaders[name]()
    names = getattr(bunch, "target_names", None)
    labels = bunch.target if names is None else np.asarray(names)[bunch.target]
    x = bunch.data.astype(np.float32)
    if as_images:
        return LoadedData(name, ArraySamples(x.reshape(-1, 8, 8, 1), True, 16.0), labels)
    columns = tuple(str(n) for n in bunch.feature_names)
    return LoadedData(name, TableSamples(columns, tuple(x.T.copy())), labels)


def load_csv(
    path: str,
    label_column: str,
    feature_columns: list[str] | None,
    na_values: Sequence[str] = DEFAULT_NA_VALUES,
    categorical_columns: Sequence[str] = (),
) -> LoadedData:
    """Reads a CSV file with a header row: one label column and feature columns.

    Cells in `na_values` (after trimming spaces) are missing: a missing feature is left for
    cleaning, a missing label makes its row unusable. A column whose present cells are all
    numbers is numeric (unless `categorical_columns` names it); any other is categorical,
    encoded once the split is known (see `tabular.fit_encoding`).

    Raises:
        DataError: for a missing or empty file, a blank or repeated column name, a missing
            column, or a ragged row (named by line).
    """
    file = Path(path)
    header, body = read_csv_table(file)
    where = f"CSV file {file}"
    if label_column not in header:
        raise DataError(
            f"Label column {label_column!r} not found in {file}. Columns: {', '.join(header)}. "
            "Set `data.label_column`."
        )
    names = feature_columns or [c for c in header if c != label_column]
    _check_columns(names, header, label_column, categorical_columns, where)
    cells = list(zip(*body, strict=True))
    position = {name: index for index, name in enumerate(header)}  # wide files: no scans
    table, notes = table_from_cells(
        names, [cells[position[n]] for n in names], na_values, categorical_columns
    )
    na = set(na_values)
    labels = np.array(
        [None if v.strip() in na else v.strip() for v in cells[position[label_column]]],
        dtype=object,
    )
    labels = _numeric_labels_if_possible(labels, f"column {label_column!r} of {file}")
    return LoadedData(file.stem, table, labels, notes)


def _check_columns(names, header, label_column: str, categorical, where: str) -> None:
    repeated = sorted(c for c, count in Counter(names).items() if count > 1)
    if repeated:
        raise DataError(
            f"`data.feature_columns` lists {', '.join(map(repr, repeated))} more than once; "
            "list each column once."
        )
    columns = set(header)
    missing = [c for c in names if c not in columns]
    if missing:
        raise DataError(
            f"Feature column(s) {', '.join(missing)} not found in {where}. "
            f"Columns: {', '.join(header)}."
        )
    if label_column in names:
        raise DataError(
            f"The label column {label_column!r} is also listed in `data.feature_columns` "
            f"({where}); a model cannot take its own answer as input. Remove it there."
        )
    unknown = [c for c in categorical if c not in names]
    if unknown:
        raise DataError(
            f"`data.categorical.columns` names column(s) that are not features of {where}: "
            f"{', '.join(unknown)}. Features: {', '.join(names)}."
        )


def _numeric_labels_if_possible(labels: np.ndarray, where: str = "the labels") -> np.ndarray:
    """Turns label strings that are all integers (or all numbers) into numbers, warning when
    two spellings of one number (`1` and `1.0`) become one class; when some labels are text,
    such spellings stay apart, with a warning too."""
    present = [v for v in labels if v is not None]
    numbers = None
    for kind in (int, float):
        try:
            numbers = np.array([None if v is None else kind(v) for v in labels], dtype=object)
        except ValueError:
            continue
        break
    _warn_spellings(present, where, merged=numbers is not None)
    return labels if numbers is None else numbers


def _warn_spellings(present: list[str], where: str, merged: bool) -> None:
    """Warns about labels spelling one number in several ways (`1`, `1.0`, `01`)."""
    spellings: dict[str, set[str]] = {}
    for text in set(present):
        if is_number(text):
            spellings.setdefault(category_text(text), set()).add(text)
    alike = [sorted(group) for group in spellings.values() if len(group) > 1]
    if not alike:
        return
    shown = "; ".join(" and ".join(map(repr, group)) for group in sorted(alike)[:3])
    if merged:
        outcome = "are read as the same number, so each group is one class"
    else:
        outcome = "are kept as separate classes, since some labels are text"
    warnings.warn(
        f"Labels in {where} spell one number in several ways ({shown}): they {outcome}. "
        "Write each class one way to be sure.",
        UserWarning,
        stacklevel=4,
    )


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
