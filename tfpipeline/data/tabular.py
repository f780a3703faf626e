"""Tables as users bring them: CSV files, DataFrames, named feature arrays, read as columns.

A `TableSamples` holds each column as read: numbers (float32, NaN where missing) or text
(`str`, `None` where missing; a number in a text column as a number, so that `1`, `1.0` and
`01` are one category). Cleaning and splitting work on it like on any samples; then
`encoding.fit_encoding` learns, from the training split only, how each row becomes the one
float vector the model takes.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.config import DEFAULT_NA_VALUES
from tfpipeline.data.base import Samples
from tfpipeline.data.labels import is_missing, label_text
from tfpipeline.errors import DataError, not_a_file


@dataclass(frozen=True)
class TableSamples(Samples):
    """Named columns as read, before encoding (then `ArraySamples`: see `prepare`).

    Attributes:
        names: the column names, in order.
        columns: one array per column: float32 (numbers, NaN where missing) or object
            (`str`, `None` where missing).
    """

    names: tuple[str, ...]
    columns: tuple[np.ndarray, ...]
    in_memory = True
    is_image = False
    value_range = None

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def is_text(self, index: int) -> bool:
        return self.columns[index].dtype == object

    def has_column(self, name: str) -> bool:
        return name in self._positions

    def column(self, name: str) -> np.ndarray:
        return self.columns[self._positions[name]]

    @functools.cached_property
    def _positions(self) -> dict[str, int]:  # a wide table is looked up column by column
        return {name: index for index, name in enumerate(self.names)}

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

    def constant_features(self, rows: np.ndarray) -> list[str]:
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
        raise DataError(f"CSV file {not_a_file(file)}: {file}")
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
    file line it ends on. A field may be as long as the file.

    Raises:
        DataError: for a file that is not UTF-8 text (naming the line and how to convert
            it) or not CSV.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read CSV file {path}: {exc.strerror or exc}") from None
    text = _utf8_text(data, path)
    _allow_long_fields()
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        return [(reader.line_num, row) for row in reader if row]  # blank lines skipped
    except csv.Error as exc:
        raise DataError(f"CSV file {path} cannot be read as CSV: {exc}") from None


def _utf8_text(data: bytes, path: Path) -> str:
    """A CSV file's bytes as text: UTF-8, its byte-order mark (if any) dropped."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(
            f"CSV file {path} is UTF-16 text; tfpipeline reads UTF-8. Convert it, for example: "
            f"iconv -f utf-16 -t utf-8 {path.name} > {path.stem}-utf8.csv"
        )
    nul = data.find(b"\0")
    if nul >= 0:  # text holds none; UTF-16 without its byte-order mark holds many
        line = data.count(b"\n", 0, nul) + 1
        raise DataError(
            f"CSV file {path}, line {line}: holds a NUL byte, so it "
            "is not UTF-8 text (binary data, or UTF-16 without a byte-order mark?). Save it "
            f"as UTF-8, for example: iconv -f utf-16le -t utf-8 {path.name} > "
            f"{path.stem}-utf8.csv"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"CSV file {path}, line {line}: byte 0x{data[exc.start]:02x} is not UTF-8 text "
            "(Latin-1 or Windows-1252?). Save the file as UTF-8, for example: "
            f"iconv -f latin1 -t utf-8 {path.name} > {path.stem}-utf8.csv"
        ) from None


def _allow_long_fields() -> None:
    """Lifts the csv module's 128 KiB field limit (a long text cell is still a cell)."""
    limit = 2**31 - 1
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:  # a C long of 32 bits
            limit //= 2


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
        texts = [cell_text(v, na) for v in values]
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


def cell_text(value: Any, na: set[str]) -> str | None:
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
