"""Cleaning: rows that cannot be trained on are counted and dropped (or imputed), never silently."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from tfpipeline.config import CleanConfig
from tfpipeline.data.base import LoadedData
from tfpipeline.errors import DataError

# How many offending rows (or files) a report names, so that a user can look at them.
EXAMPLES_KEPT = 5


@dataclass(frozen=True)
class CleaningReport:
    """What cleaning did.

    Attributes:
        rows_in: samples loaded (after unreadable files were skipped).
        rows_out: samples kept.
        non_finite_rows: samples with a NaN or infinite feature.
        non_finite_action: `"dropped"` or `"imputed"` (with training-split medians).
        non_finite_kind: what those samples are called (`non-finite`, or `empty text`).
        duplicate_rows: samples dropped as exact copies (features and label) of an earlier one.
        bad_label_rows: samples dropped for a missing or unknown label.
        unreadable_files: image files skipped because they do not decode.
        not_image_files: files in an image folder skipped because their suffix is not an
            image's, counted by suffix in `not_image_suffixes`.
        not_image_suffixes: those files' count by suffix (`{".txt": 2}`).
        constant_features: names (or indices) of feature columns with a single value.
        examples: the first few offending rows (0-based) or files, by kind of problem.
    """

    rows_in: int
    rows_out: int
    non_finite_rows: int = 0
    non_finite_action: str = "dropped"
    non_finite_kind: str = "non-finite"
    duplicate_rows: int = 0
    bad_label_rows: int = 0
    unreadable_files: int = 0
    not_image_files: int = 0
    not_image_suffixes: dict[str, int] = field(default_factory=dict)
    constant_features: list[str] = field(default_factory=list)
    examples: dict[str, list] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Returns the report as a plain dict (for the manifest)."""
        return {**asdict(self), "summary": self.summary()}

    def summary(self) -> str:
        """Returns a one-line human summary."""
        parts = [f"{self.rows_in} rows"]
        if self.unreadable_files:
            parts.append(f"skipped {self.unreadable_files} unreadable files")
        if self.not_image_files:
            kinds = ", ".join(f"{n} {s}" for s, n in sorted(self.not_image_suffixes.items()))
            parts.append(f"skipped {self.not_image_files} files that are not images ({kinds})")
        parts.append(f"{self.non_finite_action} {self.non_finite_rows} {self.non_finite_kind}")
        parts.append(f"dropped {self.duplicate_rows} duplicate")
        parts.append(f"dropped {self.bad_label_rows} with a missing or unknown label")
        if self.constant_features:
            parts.append(f"{len(self.constant_features)} constant feature(s)")
        return ", ".join(parts) + f"; kept {self.rows_out}"


def clean(
    loaded: LoadedData, y: np.ndarray, bad_labels: np.ndarray, config: CleanConfig
) -> tuple[np.ndarray, CleaningReport]:
    """Decides which samples to keep.

    Order: samples with a bad label, then non-finite samples (unless imputed), then exact
    duplicates of an earlier kept sample (same features and label).

    Args:
        loaded: the `LoadedData`.
        y: encoded labels (see `encode_labels`).
        bad_labels: mask of samples whose label is missing or unknown.
        config: the cleaning config.

    Returns:
        `(keep, report)`: the kept sample indices (sorted) and what was done.

    Raises:
        DataError: with `strict: true` and a missing or unknown label (naming rows and
            labels), or when nothing is left.
    """
    samples = loaded.samples
    rows = np.arange(loaded.size)
    examples: dict[str, list] = {}
    unreadable, not_images = _skipped_files(loaded.notes, examples)

    bad = rows[bad_labels]
    if len(bad) and config.strict:
        _refuse_bad_labels(bad, loaded)
    _note(examples, "bad_label_rows", bad, loaded)
    keep = ~bad_labels

    non_finite = ~samples.finite_rows()
    _note(examples, "non_finite_rows", rows[non_finite & keep], loaded)
    non_finite_count = int(np.sum(non_finite & keep))
    if config.non_finite == "drop":
        keep &= ~non_finite

    duplicates = np.zeros(loaded.size, dtype=bool)
    if config.duplicates == "drop":
        duplicates = _later_copies(samples.row_keys(), y, keep)
        keep &= ~duplicates
    _note(examples, "duplicate_rows", rows[duplicates], loaded)

    kept = rows[keep]
    report = CleaningReport(
        rows_in=loaded.size,
        rows_out=len(kept),
        non_finite_rows=non_finite_count,
        non_finite_action="dropped" if config.non_finite == "drop" else "imputed",
        non_finite_kind=samples.missing_kind,
        duplicate_rows=int(duplicates.sum()),
        bad_label_rows=len(bad),
        unreadable_files=len(unreadable),
        not_image_files=not_images["count"],
        not_image_suffixes=not_images["by_suffix"],
        constant_features=samples.constant_features(kept),
        examples=examples,
    )
    if len(kept) == 0:
        raise DataError(
            f"No usable samples are left after cleaning {loaded.name}: {report.summary()}."
        )
    return kept, report


def _skipped_files(notes: dict, examples: dict[str, list]) -> tuple[list, dict]:
    """The files skipped while loading (`unreadable_files`, `not_images` notes), the first
    few of each kind named in `examples`."""
    unreadable = notes.get("unreadable_files", [])
    if unreadable:
        examples["unreadable_files"] = unreadable[:EXAMPLES_KEPT]
    not_images = notes.get("not_images", {"count": 0, "by_suffix": {}, "files": []})
    if not_images["files"]:
        examples["not_image_files"] = [str(f) for f in not_images["files"][:EXAMPLES_KEPT]]
    return unreadable, not_images


def _refuse_bad_labels(bad: np.ndarray, loaded: LoadedData) -> None:
    shown = ", ".join(f"row {i}: {loaded.labels[i]!r}" for i in bad[:EXAMPLES_KEPT])
    raise DataError(
        f"{len(bad)} sample(s) have a missing or unknown label ({shown}); "
        "`data.clean.strict` is true. Fix the labels, list them in `data.classes`, or "
        "set `data.clean.strict: false` to drop those rows."
    )


def _later_copies(keys: np.ndarray, y: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Marks every candidate that repeats an earlier candidate's features and label."""
    rows = np.flatnonzero(candidates)
    pairs = np.stack([keys[rows], np.asarray(y[rows], dtype=np.float64).view(np.int64)], axis=1)
    _, first = np.unique(pairs, axis=0, return_index=True)
    later = np.ones(len(rows), dtype=bool)
    later[first] = False
    out = np.zeros(len(keys), dtype=bool)
    out[rows[later]] = True
    return out


def _note(examples: dict, kind: str, rows: np.ndarray, loaded: LoadedData) -> None:
    if len(rows) == 0:
        return
    examples[kind] = loaded.samples.row_names(rows[:EXAMPLES_KEPT])
