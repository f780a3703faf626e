"""Cleaning: rows that cannot be trained on are counted and dropped, never silently."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# How many offending row numbers a report keeps, so that a user can look at them.
EXAMPLES_KEPT = 5


@dataclass(frozen=True)
class CleaningReport:
    """What cleaning did.

    Attributes:
        rows_in: rows before cleaning.
        rows_out: rows after cleaning.
        non_finite_rows: rows dropped for a NaN or infinite feature.
        duplicate_rows: rows dropped as exact copies (features and label) of an earlier row.
        non_finite_examples: the first few dropped non-finite row numbers (0-based).
        duplicate_examples: the first few dropped duplicate row numbers (0-based).
    """

    rows_in: int
    rows_out: int
    non_finite_rows: int
    duplicate_rows: int
    non_finite_examples: list[int]
    duplicate_examples: list[int]

    def to_dict(self) -> dict:
        """Returns the report as a plain dict (for the manifest)."""
        return asdict(self)

    def summary(self) -> str:
        """Returns a one-line human summary."""
        return (
            f"{self.rows_in} rows, dropped {self.non_finite_rows} non-finite and "
            f"{self.duplicate_rows} duplicate, kept {self.rows_out}"
        )


def clean(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, CleaningReport]:
    """Drops rows with non-finite features, then exact duplicate rows (first copy kept).

    Args:
        x: features, shape `(samples, features)`.
        y: labels, shape `(samples,)`.

    Returns:
        `(x, y, report)`: the kept rows, in their original order, and what was dropped.
    """
    rows = np.arange(len(x))
    finite = np.isfinite(x).all(axis=1)
    non_finite = rows[~finite]
    rows = rows[finite]

    table = np.concatenate([x[rows], y[rows, None].astype(x.dtype)], axis=1)
    _, first = np.unique(table, axis=0, return_index=True)
    keep = np.zeros(len(rows), dtype=bool)
    keep[first] = True
    duplicates = rows[~keep]
    rows = rows[keep]

    report = CleaningReport(
        rows_in=len(x),
        rows_out=len(rows),
        non_finite_rows=len(non_finite),
        duplicate_rows=len(duplicates),
        non_finite_examples=non_finite[:EXAMPLES_KEPT].tolist(),
        duplicate_examples=duplicates[:EXAMPLES_KEPT].tolist(),
    )
    return x[rows], y[rows], report
