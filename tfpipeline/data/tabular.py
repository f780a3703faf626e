"""Tables as users bring them: CSV files, DataFrames, named feature arrays.

A `TableSamples` holds each column as read: numbers (float32, NaN where missing) or text
(`str`, `None` where missing). Cleaning and splitting work on it like on any samples. Then
`fit_encoding` learns, from the training split only, how each row becomes the one float
vector the model takes (TFLite has no string ops, so this runs outside the model): numeric
columns as they are, text columns one-hot. The encoding is recorded in the manifest and the
model card, and `Predictor` applies the same code to the rows an app has.

Rules (the model card states them for each column):
- a numeric cell that is missing (`data.na_values`) stays NaN for cleaning: its row is
  dropped, or the cell gets the training median (`data.clean.non_finite: impute_median`);
- a text column with at most `data.categorical.max_categories` values seen in training is
  one-hot; with more, the most frequent `max_categories - 1` keep a position each and the
  rest share one `(other)` position;
- a missing text cell encodes as all zeros; a value never seen in training goes to
  `(other)` when the column has one, else all zeros; categories are compared as trimmed
  text, a number as a number (`1`, `1.0` and `01` are the category `1`);
- a text column whose training values are (nearly) all distinct, such as a name, and a
  numeric column that only numbers the rows (whole numbers rising from 0 or 1 in file
  order) carry no information that generalizes: they are dropped, with a warning naming
  them.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.config import DEFAULT_NA_VALUES
from tfpipeline.data.labels import is_missing, label_text, sort_key
from tfpipeline.errors import DataError

OTHER = "(other)"
# A text column with at least this share of distinct values among its training values (and
# more values than fit one-hot) names its rows rather than describing them.
IDENTIFIER_SHARE = 0.95


@dataclass(frozen=True)
class TableSamples:
    """Named columns as read, before encoding.

    Attributes:
        names: the column names, in order.
        columns: one array per column: float32 (numbers, NaN where missing) or object
            (`str`, `None` where missing).
    """

    names: tuple[str, ...]
    columns: tuple[np.ndarray, ...]
    is_image = False
    value_range = None

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def is_text(self, index: int) -> bool:
        return self.columns[index].dtype == object

    def column(self, name: str) -> np.ndarray:
        return self.columns[self.names.index(name)]

    def finite_rows(self) -> np.ndarray:
        """Rows whose numeric cells are all present and finite (text cells may be missing)."""
        keep = np.ones(len(self), dtype=bool)
        for i, values in enumerate(self.columns):
            if not self.is_text(i):
                keep &= np.isfinite(values)
        return keep

    def row_keys(self) -> np.ndarray:
        """One id per row, equal for rows whose cells are all equal."""
        codes = [_codes(values) for values in self.columns]
        if not codes:
            return np.zeros(len(self), dtype=np.int64)
        stacked = np.stack(codes, axis=1)
        return np.unique(stacked, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)

    def constant_columns(self, rows: np.ndarray) -> list[str]:
        """Names the columns holding a single value over `rows`."""
        if len(rows) < 2:
            return []
        return [
            name
            for name, values in zip(self.names, self.columns, strict=True)
            if len(np.unique(_codes(values[rows]))) == 1
        ]


def _codes(values: np.ndarray) -> np.ndarray:
    """Integer codes of a column's values (equal values, equal codes; missing is a value)."""
    if values.dtype == object:
        values = np.array(["\0" if v is None else v for v in values], dtype=object)
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def read_csv_table(path: str | Path) -> tuple[tuple[str, ...], list[list[str]]]:
    """Reads a CSV file with a header row; returns the column names and the data rows (text;
    missing-value markers are read later, with the table).

    Raises:
        DataError: for a missing or empty file, a blank or repeated column name, or a row
            with another number of fields than the header (named by line).
    """
    file = Path(path)
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "not found"
        raise DataError(f"CSV file {what}: {file}")
    numbered = csv_rows(file)
    if not numbered:
        raise DataError(f"CSV file {file} is empty: it needs a header row and data rows.")
    header = [name.strip() for name in numbered[0][1]]
    check_column_names(header, f"CSV file {file}")
    if len(numbered) == 1:
        raise DataError(f"CSV file {file} has a header but no data rows.")
    for line, row in numbered[1:]:  # `line`: where the row ends in the file
        if len(row) != len(header):
            raise DataError(
                f"CSV file {file}, line {line}: {len(row)} fields where the header has "
                f"{len(header)}."
            )
    return tuple(header), [row for _, row in numbered[1:]]


def csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV file (UTF-8, a byte-order mark allowed), each with the
    file line it ends on.

    Raises:
        DataError: for a file that is not UTF-8 text or not CSV.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            return [(reader.line_num, row) for row in reader if row]  # blank lines skipped
    except UnicodeDecodeError as exc:
        raise DataError(
            f"CSV file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8."
        ) from None
    except csv.Error as exc:
        raise DataError(f"CSV file {path} cannot be read as CSV: {exc}") from None


def check_column_names(names: Sequence[str], where: str) -> None:
    """Refuses blank and repeated column names, naming them.

    Raises:
        DataError: naming the column (1-based position) and the fix.
    """
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            raise DataError(
                f"{where}: column {position} has no name in the header row. Every column "
                "needs a name (a row index written by pandas has none: save with "
                "index=False, or name or remove that column)."
            )
        if name in seen:
            raise DataError(
                f"{where}: column name {name!r} appears twice (columns {seen[name]} and "
                f"{position}). Rename one of them."
            )
        seen[name] = position


def table_from_cells(
    names: Sequence[str],
    cells: Sequence[Sequence[Any]],
    na_values: Sequence[str] = DEFAULT_NA_VALUES,
    text_columns: Sequence[str] = (),
) -> tuple[TableSamples, dict]:
    """Builds a table from columns of raw cells (text from a CSV file, or Python values).

    A column whose present cells are all numbers is numeric unless `text_columns` names it;
    a column with any other text is text (categorical), and when most of its cells are
    numbers the text found among them is noted (a missing-value marker not in `na_values`?).

    Returns:
        The table, and notes for the cleaning report (`mixed_columns`: for each such
        column, the first text found and its row).
    """
    na = set(na_values)
    kept, columns, mixed, empty = [], [], [], []
    for name, values in zip(names, cells, strict=True):
        texts = [_cell_text(v, na) for v in values]
        if all(t is None for t in texts):
            empty.append(name)  # no value at all: nothing to learn, and every row would go
            continue
        kept.append(name)
        numbers = None if name in text_columns else _numbers(texts)
        if numbers is not None:
            columns.append(numbers)
            continue
        columns.append(np.array([category_text(t) for t in texts], dtype=object))
        present = [t for t in texts if t is not None]
        parsed = [t for t in present if is_number(t)]
        if name not in text_columns and len(parsed) >= 0.8 * len(present):
            row, text = next(
                (i, t) for i, t in enumerate(texts) if t is not None and not is_number(t)
            )
            mixed.append({"column": name, "text": text, "row": row})
    if not kept:
        raise DataError(
            f"No feature column holds a value: {', '.join(names) or 'there are none'}. "
            "Check `data.feature_columns`, `data.label_column` and `data.na_values`."
        )
    notes = {"mixed_columns": mixed} if mixed else {}
    if empty:
        notes["empty_columns"] = empty
    return TableSamples(tuple(kept), tuple(columns)), notes


def _cell_text(value: Any, na: set[str]) -> str | None:
    """A cell as text, `None` when missing (a missing marker, `None`, NaN, or pandas' `NA`
    and `NaT`)."""
    if is_missing(value):
        return None
    text = label_text(value).strip()
    return None if text in na else text


def category_text(text: str | None) -> str | None:
    """A categorical cell as it is compared: trimmed text, and a number as a number (`1`,
    `1.0` and `01` are all `1`; `2.50` is `2.5`), whether it came from a CSV file or a float."""
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if not np.isfinite(number):
        return text
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


def _numbers(texts: list[str | None]) -> np.ndarray | None:
    """The column as float32 (NaN where missing), or `None` if a cell is not a number."""
    try:
        return np.array([np.nan if t is None else float(t) for t in texts], dtype=np.float32)
    except ValueError:
        return None


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
            texts = [_cell_text(v, na) for v in column_values(column.name)]
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
                dropped.append((name, "a row number (rising 1, 2, 3, ... in file order)"))
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
        reasons = "; ".join(f"{n}: {r}" for n, r in dropped) or "no columns"
        raise DataError(f"No feature column is left to train on ({reasons}).")
    return TableEncoding(tuple(columns), tuple(dropped), tuple(na_values), impute)


def _sorted(values) -> tuple[str, ...]:
    return tuple(sorted(values, key=sort_key))


def _counts_rows(values: np.ndarray) -> bool:
    """Whether a numeric column numbers the rows: whole numbers rising in file order from 0
    or 1, with few gaps (rows removed from a numbered file), such as R's `rownames`."""
    if len(values) < 3 or not np.all(np.isfinite(values)) or values[0] not in (0, 1):
        return False
    whole = np.all(values == np.round(values))
    return bool(whole and np.all(np.diff(values) > 0) and values[-1] <= 1.1 * len(values))
