"""What a model takes as input, written down for apps, and the inputs apps have turned into it.

`describe_input` writes the record that the manifest (`data.input`) and the model card
(`input`) carry: for a table, every input position in order with its source column, its
kind, its training statistics and the rules for missing and unseen values; for an image,
its size, channels, colour conversion, resize method and value range. `InputSpec` reads that
record back and turns what an app has (rows of named raw values, image files, photos of any
size) into the model's float input with the same code that prepared the training data.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline._text import listed
from tfpipeline.data.encoding import OTHER, TableEncoding
from tfpipeline.data.images import (
    COLOR_CONVERSION,
    IMAGE_FORMATS,
    RESIZE_METHOD,
    conform_image,
    decode_image,
    pil_pixels,
    pixel_count_error,
)
from tfpipeline.data.tabular import check_column_names
from tfpipeline.errors import DataError, not_a_file

MISSING_CATEGORY = "all zeros (no position set)"
# A value more than this many training ranges beyond its training minimum or maximum is
# refused (grams given for kilograms), not extrapolated.
OUT_OF_RANGE_SPANS = 3.0
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
            "pixels": "raw values as decoded (0-255 for 8-bit images), as float32; their "
            "scaling (or a pretrained backbone's preprocessing) is inside the model",
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
        try:
            columns = "columns" in self.record
            self.encoding = TableEncoding.from_dict(self.record) if columns else None
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise DataError(
                f"The input record of {where} (model card or manifest) is malformed "
                f"({type(exc).__name__}: {exc}); its `columns` must each hold `name` and "
                "`kind` (with `categories` and `other` for a categorical one). Export the "
                "model again."
            ) from None

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
                f"The rows for {self.where} lack column(s) {_some(missing)}; it takes "
                f"{_some(wanted)} (other columns are ignored)."
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
            try:
                array = np.asarray(x)
            except (TypeError, ValueError):  # ragged: refused, named, by the input checks
                return x
            if not np.issubdtype(array.dtype, np.number) or array.shape[-3:] == self.input_shape:
                return x  # already the model's size (or not pixels: refused by the checks)
            if array.ndim not in (2, 3, 4):
                return x
            items = list(array) if array.ndim == 4 else [array]
        if len(self.input_shape) != 3:
            raise DataError(
                f"The input record of {self.where} says it takes images, but the model takes "
                f"samples of shape {self.input_shape}, not (height, width, channels): the "
                "record does not belong to this model. Export the model again."
            )
        height, width, channels = self.input_shape
        return np.stack([self._image(item, (height, width), channels) for item in items])

    def _image(self, item: Any, size: tuple[int, int], channels: int) -> np.ndarray:
        from tfpipeline._keras import tf

        if isinstance(item, (str, Path)):
            return self._image_file(Path(item), size, channels)
        if hasattr(item, "getbands"):  # a PIL image: its pixels as its file would decode
            pixels = pil_pixels(item)
        else:
            pixels = np.asarray(item)
            if pixels.dtype == np.uint16:  # 16-bit pixels, scaled as a 16-bit file is
                pixels = pixels.astype(np.float32) * (255.0 / 65535.0)
        if pixels.ndim == 2:
            pixels = pixels[..., None]
        if pixels.ndim != 3 or not np.issubdtype(pixels.dtype, np.number) or not pixels.size:
            raise DataError(
                f"An image for {self.where} must be (height, width) or (height, width, "
                f"channels) pixels, at least one. Received shape {pixels.shape}, dtype "
                f"{pixels.dtype}."
            )
        return conform_image(tf.constant(pixels.astype(np.float32)), size, channels).numpy()

    def _image_file(self, path: Path, size: tuple[int, int], channels: int) -> np.ndarray:
        if not path.is_file():
            raise DataError(f"Image file {not_a_file(path)}: {path}")
        contents = path.read_bytes()
        too_large = pixel_count_error(contents, str(path))
        if too_large:
            raise DataError(too_large)
        try:
            return decode_image(contents, size, channels).numpy()
        except Exception:  # TensorFlow and Pillow raise their own kinds
            *formats, last = IMAGE_FORMATS
            raise DataError(
                f"Cannot decode image {path}: it is not a readable {', '.join(formats)} or "
                f"{last} file."
            ) from None

    def check_values(self, array: np.ndarray) -> None:
        """Refuses values far outside what the model was trained on: an input position more
        than `OUT_OF_RANGE_SPANS` times its training range beyond its training minimum or
        maximum (a feature in the wrong units, features given in another order; an outlier
        within that is the model's to judge), and images whose pixels look already
        scaled to [0, 1] (the scaling is inside the model: such an image is misread as
        nearly black).

        Raises:
            DataError: naming the position (feature), the value and the training range.
        """
        if not array.size:
            return
        flat = array.reshape(len(array), -1)
        low, high, names = self._ranges
        if low is None:
            return
        if len(low) not in (1, flat.shape[1]):
            raise DataError(
                f"The input record of {self.where} lists {len(low)} input positions but the "
                f"model takes {flat.shape[1]}; it does not belong to this model."
            )
        span = OUT_OF_RANGE_SPANS * np.maximum(high - low, 1e-6)
        outside = ((flat < low - span) | (flat > high + span)) & (high > low)
        if outside.any():
            row, position = (int(i) for i in np.argwhere(outside)[0])
            name = names[position] if names else "the input"
            raise DataError(
                f"Input to {self.where} lies far outside the raw values the model was trained "
                f"on: {name} = {flat[row, position]:g} in sample {row}, where training had "
                f"[{low[position]:g}, {high[position]:g}]. Feed raw values in the units the "
                "model was trained on (not normalized ones: the normalization is inside the "
                "model), in its input order."
            )
        value_high = float(np.max(high))
        fractional = np.any(flat != np.round(flat))
        if self.kind == "image" and value_high >= 2 and float(flat.max()) <= 1.0 and fractional:
            raise DataError(
                f"The pixels given to {self.where} lie in [{flat.min():g}, {flat.max():g}]: "
                f"they look scaled to [0, 1]. The model takes raw pixel values in [0, "
                f"{value_high:g}] (its scaling is inside it): pass the image as decoded."
            )

    @functools.cached_property
    def _ranges(self) -> tuple[np.ndarray | None, np.ndarray | None, list[str]]:
        """Each input position's training minimum and maximum (one pair for all positions
        when only a value range is recorded), and their names."""
        try:
            features = self.record.get("features")
            if features:
                low = np.array([float(f["min"]) for f in features])
                high = np.array([float(f["max"]) for f in features])
                return low, high, [str(f.get("name", i)) for i, f in enumerate(features)]
            if "value_range" in self.record:
                low, high = (float(v) for v in self.record["value_range"])
                return np.array([low]), np.array([high]), []
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise DataError(
                f"The input record of {self.where} is malformed ({type(exc).__name__}: {exc}): "
                "each feature needs a numeric `min` and `max`, a value range two numbers. "
                "Export the model again."
            ) from None
        return None, None, []


def _some(names: Sequence[str], shown: int = 8) -> str:
    return listed([repr(name) for name in names], shown)


def _is_rows(x: Any) -> bool:
    if isinstance(x, Mapping):
        return True
    if hasattr(x, "columns") and hasattr(x, "iloc"):  # a pandas DataFrame
        return True
    return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(r, Mapping) for r in x)


def _columns(x: Any) -> tuple[dict[str, Sequence[Any]], int]:
    """Rows as `{column: values}` and their count."""
    if hasattr(x, "columns") and hasattr(x, "iloc"):
        names = [str(c) for c in x.columns]
        check_column_names(names, "The DataFrame")
        return {name: x.iloc[:, i].tolist() for i, name in enumerate(names)}, len(x)
    if isinstance(x, Mapping):
        values = list(x.values())
        if values and all(_is_column(v) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) != 1:
                raise DataError(f"The columns given have different lengths: {sorted(lengths)}.")
            return {str(k): list(v) for k, v in x.items()}, lengths.pop()
        x = [x]  # one row
    rows = [{str(k): v for k, v in row.items()} for row in x]
    names = {name for row in rows for name in row}
    return {name: [row.get(name) for row in rows] for name in names}, len(rows)


def _is_column(value: Any) -> bool:
    """Whether a dict value is a column of values (a list, a 1-D array, a pandas Series)."""
    return isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) == 1


def _is_image_item(item: Any) -> bool:
    return isinstance(item, (str, Path)) or hasattr(item, "getbands")  # a path or a PIL image
