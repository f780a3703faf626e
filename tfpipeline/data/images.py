"""Image folders: one sub-folder per class, decoded and resized by TensorFlow inside tf.data."""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfpipeline.config import DEFAULT_MAX_IMAGE_PIXELS
from tfpipeline.data.base import (
    FileSamples,
    LoadedData,
    file_list_dataset,
    list_class_files,
)
from tfpipeline.errors import DataError

# The image formats read, with their file suffixes: TensorFlow decodes PNG, JPEG, BMP and
# GIF; Pillow (a dependency of matplotlib) TIFF and WebP (see `decode_image`).
IMAGE_FORMATS = {
    "PNG": (".png",),
    "JPEG": (".jpg", ".jpeg"),
    "BMP": (".bmp",),
    "GIF": (".gif",),
    "TIFF": (".tif", ".tiff"),
    "WebP": (".webp",),
}
IMAGE_SUFFIXES = tuple(suffix for suffixes in IMAGE_FORMATS.values() for suffix in suffixes)

# How every image is brought to the model's input, in training and in `Predictor` alike (the
# model card says the same to apps).
COLOR_CONVERSION = {
    3: "RGB: a grayscale image is repeated on the three channels; alpha is dropped",
    1: "grayscale: RGB converted as 0.2989 R + 0.5870 G + 0.1140 B "
    "(tf.image.rgb_to_grayscale); alpha is dropped",
}
RESIZE_METHOD = (
    "bilinear, straight to height x width (the aspect ratio is not kept, no crop, no "
    "antialiasing: tf.image.resize), after the colour conversion; values clipped to 0-255"
)


def decode_image(contents, image_size: tuple[int, int], channels: int):
    """Decodes image bytes to a float32 `(height, width, channels)` image in [0, 255].

    PNG, JPEG, BMP and GIF (its first frame) are decoded by TensorFlow, TIFF and WebP by
    Pillow (told apart by their first bytes); then `conform_image`.
    """
    from tfpipeline._keras import tf

    head, webp = tf.strings.substr(contents, 0, 4), tf.strings.substr(contents, 8, 4)
    tiff = tf.logical_or(tf.equal(head, b"II*\x00"), tf.equal(head, b"MM\x00*"))
    pillow = tf.logical_or(tiff, tf.logical_and(tf.equal(head, b"RIFF"), tf.equal(webp, b"WEBP")))
    image = tf.cond(
        pillow,
        lambda: _pillow_decode(contents),
        lambda: tf.io.decode_image(contents, channels=0, expand_animations=False),
    )
    return conform_image(image, image_size, channels)


def _pillow_decode(contents):
    from tfpipeline._keras import tf

    image = tf.numpy_function(_pillow_pixels, [contents], tf.uint8, stateful=False)
    image.set_shape([None, None, None])
    return image


def _pillow_pixels(contents: bytes) -> np.ndarray:
    """8-bit pixels `(height, width, channels)` of a TIFF or WebP file (its first frame)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(contents)) as image:
        return pil_pixels(image)


def pil_pixels(image) -> np.ndarray:
    """8-bit pixels `(height, width, channels)` of a PIL image of any mode (its first frame).

    Grayscale stays one channel; palette, CMYK, YCbCr, HSV and Lab images become RGB (with
    alpha where they have it); 16-bit and float grayscale are scaled to 0-255.
    """
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    if image.mode.startswith(("I", "F")):  # 16-bit or float grayscale
        pixels = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if pixels.size and pixels.max() > 255 else 255.0
        return np.clip(pixels * 255.0 / peak, 0, 255).astype(np.uint8)[..., None]
    if image.mode in ("1", "L"):
        mode = "L"
    else:
        mode = "RGBA" if "A" in image.mode or image.mode == "P" else "RGB"
    pixels = np.asarray(image.convert(mode), dtype=np.uint8)
    return pixels if pixels.ndim == 3 else pixels[..., None]


def pixel_count_error(
    source: bytes | str | Path, where: str, limit: int = DEFAULT_MAX_IMAGE_PIXELS
) -> str | None:
    """Why an image must not be decoded (more than `limit` pixels, or more than Pillow's
    decompression-bomb limit, read from its header alone), or `None`. `source` is a file's
    bytes or its path."""
    import io

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = io.BytesIO(source) if isinstance(source, bytes) else source
            with Image.open(opened) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        bomb = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        return (
            f"{where} declares more than {bomb:,} pixels (Pillow's decompression-bomb "
            "limit); resize it first."
        )
    except Exception:  # not an image Pillow reads: let the decoder say what is wrong
        return None
    if width * height > limit:
        return (
            f"{where} is {width}x{height} = {_megapixels(width * height)} megapixels, over "
            f"data.max_image_pixels ({limit:,}); resize it first, or raise "
            "data.max_image_pixels if this machine has the memory to decode it."
        )
    return None


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:,.1f}".removesuffix(".0")


def conform_image(image, image_size: tuple[int, int], channels: int):
    """Brings a decoded `(height, width, any channels)` image to the model's input format.

    Any channel count is converted (see `COLOR_CONVERSION`), then the image is resized (see
    `RESIZE_METHOD`). Returns float32 in [0, 255].
    """
    from tfpipeline._keras import tf

    keep = tf.where(tf.shape(image)[-1] >= 3, 3, 1)  # drop alpha
    image = image[..., :keep]
    have = tf.shape(image)[-1]
    if channels == 3:
        image = tf.cond(have == 1, lambda: tf.image.grayscale_to_rgb(image), lambda: image)
    else:
        image = tf.cond(have == 3, lambda: tf.image.rgb_to_grayscale(image), lambda: image)
    image = tf.ensure_shape(image, [None, None, channels])
    image = tf.image.resize(tf.cast(image, tf.float32), image_size)
    return tf.clip_by_value(image, 0.0, 255.0)


@dataclass(frozen=True)
class ImageFiles(FileSamples):
    """Image files, decoded on demand in parallel inside tf.data.

    Attributes:
        paths: one file path per sample.
        hashes: a hash of each file's bytes (for duplicate detection).
        image_size: `(height, width)` after resizing.
        channels: 1 or 3.
    """

    paths: np.ndarray
    hashes: np.ndarray
    image_size: tuple[int, int]
    channels: int
    is_image = True
    value_range = 255.0

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (*self.image_size, self.channels)

    def as_dataset(self, indices: np.ndarray, shuffle_seed=None):
        """Returns a tf.data pipeline of `(index, image)` for `indices`.

        With `shuffle_seed`, the file list is reshuffled every epoch before decoding.
        """
        from tfpipeline._keras import tf

        dataset = file_list_dataset(self.paths, indices, shuffle_seed)
        size, channels = self.image_size, self.channels
        return dataset.map(
            lambda i, path: (i, decode_image(tf.io.read_file(path), size, channels)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )


def load_image_dir(
    path: str,
    image_size: list[int],
    channels: int,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> LoadedData:
    """Lists an image folder (`root/<class>/<file>`) and checks that every image decodes.

    Files that do not decode (corrupt, empty, not an image) or declare more than
    `max_pixels` pixels (checked before decoding) are skipped and named in the
    `unreadable_files` note (the too large ones in a warning too); files whose suffix is not
    an image's are skipped and counted by suffix in the `not_images` note (with a few named).

    Raises:
        DataError: for a missing folder, a sub-folder that leads back to the data folder (a
            symbolic link loop), or fewer than two class folders with images.
    """
    root = Path(path)
    if not root.is_dir():
        kind = "is a file, not a folder" if root.exists() else "not found"
        raise DataError(f"Image folder {kind}: {root}")
    files, labels, others = _list_class_files(root)
    files, labels, too_large = _skip_too_large(files, labels, max_pixels)
    size = (int(image_size[0]), int(image_size[1]))
    readable, hashes = _scan(np.array(files), size, channels)
    unreadable = too_large + [f for f, ok in zip(files, readable, strict=True) if not ok]
    keep = np.flatnonzero(readable)
    samples = ImageFiles(np.array(files)[keep], hashes[keep], size, channels)
    return LoadedData(
        root.name,
        samples,
        np.array(labels, dtype=object)[keep],
        notes={"unreadable_files": unreadable, **_not_images(others)},
    )


def _list_class_files(root: Path) -> tuple[list[str], list[str], list[Path]]:
    """Returns the image files under `root/<class>/`, their class, and the other files."""
    files, labels, others = list_class_files(
        root,
        "Image",
        "image",
        lambda file: file.suffix.lower() in IMAGE_SUFFIXES,
        f"images (root/<class>/<image>; accepted suffixes: {', '.join(IMAGE_SUFFIXES)})",
    )
    return [str(file) for file in files], labels, others


def _skip_too_large(
    files: list[str], labels: list[str], max_pixels: int
) -> tuple[list[str], list[str], list[str]]:
    """Leaves out, with a warning, the files declaring more than `max_pixels` pixels (read
    from their headers, before anything is decoded); returns the rest and those left out."""
    reasons = {f: pixel_count_error(f, f, max_pixels) for f in files}
    too_large = [f for f, reason in reasons.items() if reason]
    if too_large:
        skipped = set(too_large)
        labels = [label for f, label in zip(files, labels, strict=True) if f not in skipped]
        files = [f for f in files if f not in skipped]
        more = f" (and {len(too_large) - 1} more)" if len(too_large) > 1 else ""
        warnings.warn(
            f"{len(too_large)} image file(s) skipped, too large to decode: "
            f"{reasons[too_large[0]]}{more}",
            UserWarning,
            stacklevel=3,  # the caller of `load_image_dir`
        )
    return files, labels, too_large


def _not_images(files: list[Path]) -> dict:
    """The `not_images` note: files skipped for their suffix, counted by suffix."""
    if not files:
        return {}
    counts = Counter(file.suffix.lower() or "(no suffix)" for file in files)
    return {"not_images": {"count": len(files), "by_suffix": dict(counts), "files": files}}


def _scan(paths: np.ndarray, image_size: tuple[int, int], channels: int):
    """Decodes every file once, in parallel; returns (readable mask, content hashes)."""
    from tfpipeline._keras import tf

    def check(i, path):
        contents = tf.io.read_file(path)
        image = decode_image(contents, image_size, channels)
        return i, tf.strings.to_hash_bucket_fast(contents, 2**62), tf.reduce_sum(image) * 0

    dataset = (
        tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
        .map(check, num_parallel_calls=tf.data.AUTOTUNE)
        .ignore_errors()
        .batch(256)
    )
    readable = np.zeros(len(paths), dtype=bool)
    hashes = np.zeros(len(paths), dtype=np.int64)
    for index, digest, _ in dataset.as_numpy_iterator():
        readable[index] = True
        hashes[index] = digest
    return readable, hashes
