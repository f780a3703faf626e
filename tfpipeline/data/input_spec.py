"""What a model takes as input, written down for apps, and the inputs apps have turned into it.

`describe_input` writes the record that the manifest (`data.input`) and the model card
(`input`) carry: for a table, every input position in order with its source column, its
kind, its training statistics and the rules for missing and unseen values; for an image,
its size, channels, colour conversion, resize method and value range. `InputSpec` reads that
record back and turns what an app has (rows of named raw values, image files, photos of any
size) into the model's float input with the same code that prepared the training data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.data.images import COLOR_CONVERSION, RESIZE_METHOD, conform_image, decode_image
from tfpipeline.data.tabular import OTHER, TableEncoding
from tfpipeline.errors import DataError

MISSING_CATEGORY = "all zeros (no position set)"
UNSEEN_CATEGORY = "the column's (other) position if it has one, else all zeros"


def describe_input(data) -> dict[str, Any]:
    """The input record of prepared data (see the module docstring).

    Args:
        data: the `PreparedData`.

    Returns:
        A JSON-ready dict: `kind` (`image` or `features`) and what an app needs for it.
    """
    stats = data.stats
    std = np.sqrt(stats.variance)
    if data.is_image:
        height, width, channels = data.feature_shape
        return {
            "kind": "image",
            "layout": "NHWC: [batch, height, width, channels]",
            "height": int(height),
            "width": int(width),
            "channels": int(channels),
            "color": COLOR_CONVERSION[int(channels)],
            "resize": RESIZE_METHOD,
            "value_range": [0.0, float(data.value_range or 255.0)],
            "pixels": "raw values as decoded (0-255 for 8-bit images), as float32; the "
            "scaling to [0, 1] is inside the model",
            "channel_mean": _floats(stats.mean),
            "channel_std": _floats(std),
        }
    positions = _positions(data.encoding, int(np.prod(data.feature_shape)))
    for position, low, high, mean, spread in zip(
        positions, stats.minimum, stats.maximum, stats.mean, std, strict=True
    ):
        position.update(min=_short(low), max=_short(high), mean=_short(mean), std=_short(spread))
    record = {"kind": "features", "layout": "[batch, features]", "size": len(positions)}
    if data.encoding is not None:
        record.update(data.encoding.to_dict())
        record["missing_categorical"] = MISSING_CATEGORY
        record["unseen_categorical"] = UNSEEN_CATEGORY
    record["features"] = positions
    return record


def _positions(encoding: TableEncoding | None, size: int) -> list[dict[str, Any]]:
    if encoding is None:
        return [{"index": i, "name": f"feature_{i}", "kind": "numeric"} for i in range(size)]
    positions = []
    for column in encoding.columns:
        if column.kind == "numeric":
            positions.append({"name": column.name, "column": column.name, "kind": "numeric"})
            continue
        for value in (*column.categories, *[OTHER] * column.other):
            kind = "other" if value == OTHER and column.other else "one_hot"
            positions.append(
                {"name": f"{column.name}={value}", "column": column.name, "kind": kind}
                | ({"value": value} if kind == "one_hot" else {})
            )
    return [{"index": i, **p} for i, p in enumerate(positions)]


def _floats(values) -> list[float]:
    return [_short(v) for v in np.asarray(values).reshape(-1)]


def _short(value) -> float:
    """A float32 statistic as its shortest decimal (33.1, not 33.099998474121094)."""
    return float(str(np.float32(value)))


class InputSpec:
    """Turns the inputs an app has into a model's float input, as training prepared it.

    Args:
        record: the input record (see `describe_input`).
        input_shape: the model's input shape, without the batch dimension.
        where: the model, for messages.
    """

    def __init__(self, record: Mapping[str, Any], input_shape: tuple[int, ...], where: str):
        self.record = dict(record)
        self.input_shape = tuple(input_shape)
        self.where = where
        self.kind = self.record.get("kind")
        self.encoding = TableEncoding.from_dict(self.record) if "columns" in self.record else None

    def prepare(self, x: Any) -> Any:
        """Returns `x` as the model's input when it is rows or images; anything else as it is.

        Rows: a pandas DataFrame, a dict (one row of scalars, or columns of values) or a
        list of dicts, keyed by column name (other keys are ignored). Images: a file path
        (or a list of them), a PIL image (or a list), or an array of pixels of any size and
        channel count (`(h, w)`, `(h, w, c)` or a batch of them).
        """
        if _is_rows(x):
            return self._rows(x)
        if self.kind == "image":
            return self._images(x)
        return x

    def _rows(self, x: Any) -> np.ndarray:
        if self.encoding is None:
            raise DataError(
                f"{self.where} takes unnamed features (no column names were recorded for "
                f"it); pass an array of shape (n, {', '.join(map(str, self.input_shape))})."
            )
        columns, rows = _columns(x)
        wanted = [column.name for column in self.encoding.columns]
        missing = [name for name in wanted if name not in columns]
        if missing:
            raise DataError(
                f"The rows for {self.where} lack column(s) {', '.join(map(repr, missing))}; "
                f"it takes {', '.join(map(repr, wanted))} (other columns are ignored)."
            )
        rule = "impute" if self.encoding.impute else "refuse"
        return self.encoding.encode(lambda name: columns[name], rows, missing=rule)

    def _images(self, x: Any) -> Any:
        if isinstance(x, (list, tuple)):
            items = list(x)
            if not items or not all(_is_image_item(i) or isinstance(i, np.ndarray) for i in items):
                return x
        elif _is_image_item(x):
            items = [x]
        else:
            array = np.asarray(x)
            if not np.issubdtype(array.dtype, np.number) or array.shape[-3:] == self.input_shape:
                return x  # already the model's size (or not pixels: refused by the checks)
            if array.ndim not in (2, 3, 4):
                return x
            items = list(array) if array.ndim == 4 else [array]
        height, width, channels = self.input_shape
        return np.stack([self._image(item, (height, width), channels) for item in items])

    def _image(self, item: Any, size: tuple[int, int], channels: int) -> np.ndarray:
        from tfpipeline._keras import tf

        if isinstance(item, (str, Path)):
            path = Path(item)
            if not path.is_file():
                raise DataError(f"Image file not found: {path}")
            try:
                return decode_image(path.read_bytes(), size, channels).numpy()
            except Exception as exc:  # TensorFlow and Pillow raise their own kinds
                raise DataError(f"Cannot decode image {path}: {exc}") from None
        pixels = np.asarray(item)  # a PIL image gives its pixels, (h, w) or (h, w, c)
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        if pixels.ndim != 3 or not np.issubdtype(pixels.dtype, np.number):
            raise DataError(
                f"An image for {self.where} must be (height, width) or (height, width, "
                f"channels) pixels. Received shape {pixels.shape}, dtype {pixels.dtype}."
            )
        return conform_image(tf.constant(pixels.astype(np.float32)), size, channels).numpy()

    def check_scale(self, array: np.ndarray) -> None:
        """Refuses images whose pixels look already scaled to [0, 1] (the scaling is inside
        the model: such an image would be seen as nearly black and misread)."""
        if self.kind != "image" or not array.size or "value_range" not in self.record:
            return  # without a record, the range the model was trained on is unknown
        high = float(self.record["value_range"][1])
        fractional = np.any(array != np.round(array))
        if high >= 2 and float(array.max()) <= 1.0 and fractional:
            raise DataError(
                f"The pixels given to {self.where} lie in [{array.min():g}, {array.max():g}]: "
                f"they look scaled to [0, 1]. The model takes raw pixel values in [0, "
                f"{high:g}] (its scaling is inside it): pass the image as decoded."
            )


def _is_rows(x: Any) -> bool:
    if isinstance(x, Mapping):
        return True
    if hasattr(x, "columns") and hasattr(x, "iloc"):  # a pandas DataFrame
        return True
    return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(r, Mapping) for r in x)


def _columns(x: Any) -> tuple[dict[str, Sequence[Any]], int]:
    """Rows as `{column: values}` and their count."""
    if hasattr(x, "columns") and hasattr(x, "iloc"):
        return {str(c): list(x[c]) for c in x.columns}, len(x)
    if isinstance(x, Mapping):
        values = list(x.values())
        if values and all(isinstance(v, (list, tuple, np.ndarray)) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) != 1:
                raise DataError(f"The columns given have different lengths: {sorted(lengths)}.")
            return {str(k): list(v) for k, v in x.items()}, lengths.pop()
        x = [x]  # one row
    rows = [{str(k): v for k, v in row.items()} for row in x]
    names = {name for row in rows for name in row}
    return {name: [row.get(name) for row in rows] for name in names}, len(rows)


def _is_image_item(item: Any) -> bool:
    return isinstance(item, (str, Path)) or hasattr(item, "getbands")  # a path or a PIL image
