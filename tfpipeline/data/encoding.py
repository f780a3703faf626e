"""How a table's rows become the model's float input, learned from the training split.

`fit_encoding` learns each column's encoding from the training rows only; `TableEncoding`
applies it to any rows (training, test, an app's) and is recorded in the manifest and the
model card. TFLite has no string ops, so this runs outside the model: numeric columns as
they are, text columns one-hot.

Rules (the model card states them for each column):
- a numeric cell that is missing (`data.na_values`) stays NaN for cleaning: its row is
  dropped, or the cell gets the training median (`data.clean.non_finite: impute_median`);
- a text column with at most `data.categorical.max_categories` values seen in training is
  one-hot; with more, the most frequent `max_categories - 1` keep a position each and the
  rest share one `(other)` position;
- a missing text cell encodes as all zeros; a value never seen in training goes to
  `(other)` when the column has one, else all zeros; categories are compared as trimmed
  text, a number as a number (`1`, `1.0` and `01` are the category `1`);
- a text column whose training values are (nearly) all distinct, such as a name, a numeric
  column that only numbers the rows (whole numbers rising from 0 or 1 in file order, a few
  rows moved allowed), and a column with no value are dropped, with a warning naming them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfpipeline.config import DEFAULT_NA_VALUES
from tfpipeline.data.labels import sort_key
from tfpipeline.data.tabular import TableSamples, category_text, cell_text
from tfpipeline.errors import DataError

OTHER = "(other)"
# A text column with at least this share of distinct values among its training values (and
# more values than fit one-hot) names its rows rather than describing them.
IDENTIFIER_SHARE = 0.95
# A numeric column rising in file order at this share of its steps numbers the rows.
ROW_NUMBER_RISING = 0.9


@dataclass(frozen=True)
class ColumnEncoding:
    """How one column becomes input positions.

    Attributes:
        name: the column.
        kind: `numeric` (one position, the value) or `categorical` (one-hot).
        categories: the categories with a position, in order.
        other: whether one more position holds categories too rare to keep, and unseen ones.
        median: a numeric column's training median (what a missing value becomes under
            `impute_median`).
    """

    name: str
    kind: str
    categories: tuple[str, ...] = ()
    other: bool = False
    median: float | None = None

    @property
    def width(self) -> int:
        return 1 if self.kind == "numeric" else len(self.categories) + int(self.other)

    def position_names(self) -> list[str]:
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}={value}" for value in (*self.categories, *[OTHER] * self.other)]


@dataclass(frozen=True)
class TableEncoding:
    """Turns rows of named raw values into the model's float input vector.

    Attributes:
        columns: the encoded columns, in input order.
        dropped: `(column, reason)` for each column left out.
        na_values: the cells read as missing.
        impute: whether a missing numeric value becomes the training median (`True`) or is
            refused (`False`; training dropped such rows).
    """

    columns: tuple[ColumnEncoding, ...]
    dropped: tuple[tuple[str, str], ...] = ()
    na_values: tuple[str, ...] = DEFAULT_NA_VALUES
    impute: bool = False

    @property
    def width(self) -> int:
        return sum(column.width for column in self.columns)

    def summary(self) -> str:
        """One line: positions, columns, how each text column is encoded, what was left out."""
        parts = [f"{c.name} one-hot {c.width}" for c in self.columns if c.kind != "numeric"]
        numeric = sum(c.kind == "numeric" for c in self.columns)
        parts += [f"{numeric} numeric"] if numeric else []
        text = f"{self.width} positions from {len(self.columns)} columns ({', '.join(parts)})"
        if self.dropped:
            text += f"; left out: {', '.join(name for name, _ in self.dropped)}"
        return text

    def feature_names(self) -> tuple[str, ...]:
        """The name of each input position: `column`, or `column=category` for one-hot."""
        return tuple(name for column in self.columns for name in column.position_names())

    def encode(
        self,
        column_values: Callable[[str], Sequence[Any]],
        rows: int,
        missing: str = "keep",
    ) -> np.ndarray:
        """Encodes `rows` rows whose raw values per column `column_values(name)` gives.

        Args:
            column_values: returns one column's raw values (numbers, text, `None`/NaN).
            rows: the number of rows.
            missing: what a missing numeric value becomes: `keep` (NaN, for cleaning),
                `impute` (the training median) or `refuse` (a `DataError` naming it).

        Returns:
            float32 array of shape `(rows, width)`.

        Raises:
            DataError: for a cell of a numeric column that is not a number, or a refused
                missing value (named by column and row).
        """
        out = np.zeros((rows, self.width), dtype=np.float32)
        na, start = set(self.na_values), 0
        for column in self.columns:
            texts = [cell_text(v, na) for v in column_values(column.name)]
            if column.kind == "numeric":
                out[:, start] = self._numeric(column, texts, missing)
            else:
                index = {value: i for i, value in enumerate(column.categories)}
                fallback = len(column.categories) if column.other else None
                for row, text in enumerate(map(category_text, texts)):
                    position = fallback if text is None else index.get(text, fallback)
                    if text is not None and position is not None:
                        out[row, start + position] = 1.0
            start += column.width
        return out

    def _numeric(self, column: ColumnEncoding, texts, missing: str) -> np.ndarray:
        values = np.empty(len(texts), dtype=np.float32)
        for row, text in enumerate(texts):
            if text is None:
                if missing == "refuse":
                    raise DataError(
                        f"Column {column.name!r} is missing in row {row} (counting from 0); "
                        "the model was "
                        "trained without missing values (data.clean.non_finite: drop). Give "
                        f"a value (the training median is {column.median}), or train with "
                        "data.clean.non_finite: impute_median."
                    )
                values[row] = column.median if missing == "impute" else np.nan
                continue
            try:
                value = float(text)
            except ValueError:
                raise DataError(
                    f"Column {column.name!r}, row {row} (counting from 0): {text!r} is not a "
                    "number (the "
                    f"column is numeric; missing values are written as one of "
                    f"{', '.join(repr(v) for v in self.na_values)})."
                ) from None
            # An infinite value is imputed like a missing one, or left for cleaning to drop.
            values[row] = column.median if missing == "impute" and not np.isfinite(value) else value
        return values

    def to_dict(self) -> dict[str, Any]:
        """The encoding as plain data (for the manifest and the model card)."""
        return {
            "columns": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    **(
                        {"median": c.median}
                        if c.kind == "numeric"
                        else {"categories": list(c.categories), "other": c.other}
                    ),
                }
                for c in self.columns
            ],
            "dropped_columns": [{"name": n, "reason": r} for n, r in self.dropped],
            "na_values": list(self.na_values),
            "missing_numeric": "impute_median" if self.impute else "refuse",
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> TableEncoding:
        """The inverse of `to_dict` (for a model card or manifest read back)."""
        columns = tuple(
            ColumnEncoding(
                name=str(c["name"]),
                kind=_kind(c["kind"]),
                categories=tuple(str(v) for v in _listed(c.get("categories", []))),
                other=bool(c.get("other", False)),
                median=None if c.get("median") is None else float(c["median"]),
            )
            for c in _listed(record["columns"])
        )
        dropped = _listed(record.get("dropped_columns", []))
        return cls(
            columns=columns,
            dropped=tuple((str(d["name"]), str(d["reason"])) for d in dropped),
            na_values=tuple(str(v) for v in _listed(record.get("na_values", DEFAULT_NA_VALUES))),
            impute=record.get("missing_numeric") == "impute_median",
        )


def _listed(value: Any) -> list | tuple:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"expected a list, found {type(value).__name__}")
    return value


def _kind(value: Any) -> str:
    if value not in ("numeric", "categorical"):
        raise ValueError(f"a column's kind must be numeric or categorical, not {value!r}")
    return value


def fit_encoding(
    table: TableSamples,
    rows: np.ndarray,
    max_categories: int = 20,
    na_values: Sequence[str] = DEFAULT_NA_VALUES,
    impute: bool = False,
    empty: Sequence[str] = (),
) -> TableEncoding:
    """Learns each column's encoding from the training rows only (see the module docstring).

    Args:
        empty: columns already left out for holding no value at all (`table_from_cells`'s
            `empty_columns` note), recorded with the others. Defaults to none.

    Raises:
        DataError: when no column is left to feed the model.
    """
    columns, dropped = [], [(name, "no value at all") for name in empty]
    for index, name in enumerate(table.names):
        values = table.columns[index]
        train = values[rows]
        if not table.is_text(index):
            finite = train[np.isfinite(train)]
            if _counts_rows(values):
                dropped.append((name, "a row number (1, 2, 3, ... in file order)"))
            elif not len(finite):
                dropped.append((name, "no value in the training split"))
            else:
                median = float(str(np.float32(np.median(finite))))  # 17.3, not 17.29999923
                columns.append(ColumnEncoding(name, "numeric", median=median))
            continue
        counts = Counter(v for v in train if v is not None)
        present = sum(counts.values())
        if not counts:
            dropped.append((name, "no value in the training split"))
            continue
        if len(counts) > max_categories and len(counts) >= IDENTIFIER_SHARE * present:
            dropped.append(
                (name, f"identifier-like: {len(counts)} distinct values in {present} rows")
            )
            continue
        if len(counts) <= max_categories:
            columns.append(ColumnEncoding(name, "categorical", _sorted(counts)))
            continue
        frequent = sorted(counts, key=lambda v: (-counts[v], sort_key(v)))[: max_categories - 1]
        columns.append(ColumnEncoding(name, "categorical", _sorted(frequent), other=True))
    if not columns:
        reasons = "; ".join(f"{n}: {r}" for n, r in dropped[:5]) or "no columns"
        more = f"; and {len(dropped) - 5:,} more" if len(dropped) > 5 else ""
        raise DataError(f"No feature column is left to train on ({reasons}{more}).")
    return TableEncoding(tuple(columns), tuple(dropped), tuple(na_values), impute)


def _sorted(values) -> tuple[str, ...]:
    return tuple(sorted(values, key=sort_key))


def _counts_rows(values: np.ndarray) -> bool:
    """Whether a numeric column numbers the rows, such as R's `rownames`: distinct whole
    numbers from 0 or 1 with few gaps (rows removed), rising in file order but for a few
    (rows moved)."""
    if len(values) < 3 or not np.all(np.isfinite(values)) or values.min() not in (0, 1):
        return False
    whole = np.all(values == np.round(values)) and len(np.unique(values)) == len(values)
    rising = np.mean(np.diff(values) > 0) >= ROW_NUMBER_RISING
    return bool(whole and rising and values.max() <= 1.1 * len(values))
