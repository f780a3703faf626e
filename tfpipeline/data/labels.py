"""Label encoding: raw labels (ints, floats or strings) to class indices or float targets."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tfpipeline.errors import DataError


def is_missing(value: object) -> bool:
    """Whether a raw value means "missing": `None`, NaN, pandas' `NA` and `NaT`, blank text."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    return isinstance(value, str) and value.strip() == ""


def label_text(value: object) -> str:
    """A raw value as text; a whole float as an integer (`2.0` -> `"2"`), like a CSV has it."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def sort_key(text: str) -> tuple:
    """Sorts numbers numerically (`"2"` before `"10"`), then text."""
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


def encode_labels(
    raw: np.ndarray, task: str = "classification", classes: Sequence[str] | None = None
) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Encodes raw labels.

    Classification: each label becomes the index of its class in sorted order (numbers sort
    numerically, `"2"` before `"10"`); `classes` fixes the accepted labels. Regression: each
    label becomes a float target.

    Args:
        raw: one raw label per sample.
        task: `"classification"` or `"regression"`. Defaults to `"classification"`.
        classes: accepted class labels; `None` accepts every label found. Defaults to `None`.

    Returns:
        `(y, class_names, bad)`: int64 class indices (or float32 targets), the class names in
        index order (empty for regression), and a boolean mask of the samples whose label is
        missing or unknown (their `y` is 0 and must not be used).
    """
    texts = [None if is_missing(v) else label_text(v) for v in raw]
    if task == "regression":
        return _encode_targets(texts)
    known = sorted(
        {t for t in texts if t is not None} if classes is None else set(classes), key=sort_key
    )
    unprintable = [name for name in known if not name.isprintable()]
    if unprintable:  # labels.txt holds one class per line, for the app that reads it
        raise DataError(
            f"Class label {unprintable[0]!r} holds a line break or another control "
            "character; labels.txt (one label per line, read by apps) cannot carry it. "
            "Clean the labels (or rename the class folder) to printable text."
        )
    index = {name: i for i, name in enumerate(known)}
    bad = np.array([t is None or t not in index for t in texts], dtype=bool)
    y = np.array([index.get(t, 0) if t is not None else 0 for t in texts], dtype=np.int64)
    return y, tuple(known), bad


def _encode_targets(texts: list[str | None]) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    y = np.zeros(len(texts), dtype=np.float32)
    bad = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        try:
            y[i] = float(text)  # type: ignore[arg-type]
            bad[i] = not math.isfinite(y[i])
        except (TypeError, ValueError):
            bad[i] = True
    y[bad] = 0.0
    return y, (), bad
