"""CSV files with a header row: one label column and feature columns, read as a table."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfpipeline.config import DEFAULT_NA_VALUES
from tfpipeline.data.base import LoadedData
from tfpipeline.data.tabular import category_text, is_number, read_csv_table, table_from_cells
from tfpipeline.errors import DataError


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
    labels = numeric_labels_if_possible(labels, f"column {label_column!r} of {file}")
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


def numeric_labels_if_possible(labels: np.ndarray, where: str = "the labels") -> np.ndarray:
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
