"""Training-only augmentation: stateless random ops, seeded per sample, inside tf.data.

Each sample gets its own seed from `tf.data.Dataset.random`, so augmentation is reproducible
with `data.seed`, differs from epoch to epoch, and runs in a parallel map. It lives only in
the training input chain: the model, and so every exported file, never contains it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tfpipeline.config import AugmentConfig
from tfpipeline.errors import ConfigError

IMAGE_OPTIONS = ("flip", "rotation", "zoom", "translation", "contrast", "brightness")
AUDIO_OPTIONS = ("time_shift", "gain", "background_noise")


def is_enabled(config: AugmentConfig) -> bool:
    """Returns whether any augmentation is asked for."""
    return config.flip != "none" or any(
        getattr(config, name) > 0 for name in IMAGE_OPTIONS[1:] + ("noise",) + AUDIO_OPTIONS
    )


def make_augmenter(
    config: AugmentConfig,
    is_image: bool,
    value_range: float | None = None,
    feature_std: np.ndarray | None = None,
    audio: Any = None,
) -> Callable | None:
    """Builds `augment(x, seed) -> x` for one sample, or `None` when nothing is asked for.

    Args:
        config: the augmentation config.
        is_image: whether samples are `(height, width, channels)` images.
        value_range: the largest raw pixel value (255 for image files), for brightness
            and clipping. Defaults to `None` (255).
        feature_std: each feature's training standard deviation, for `noise`.
            Defaults to `None`.
        audio: the `AudioFiles` of audio clips (their background noise files), for the
            audio options. Defaults to `None` (not audio).

    Raises:
        ConfigError: for image options on feature vectors, `noise` on images, audio options
            on other data, or other options on audio.
    """
    if not is_enabled(config):
        return None
    if audio is not None or any(getattr(config, n) > 0 for n in AUDIO_OPTIONS):
        return _audio_augmenter(config, audio)
    image_options = [n for n in IMAGE_OPTIONS if getattr(config, n) not in ("none", 0.0)]
    if is_image and config.noise > 0:
        raise ConfigError(
            "`data.augment.noise` applies to feature vectors, not images. Use brightness or "
            "contrast for images."
        )
    if not is_image and image_options:
        raise ConfigError(
            f"`data.augment.{image_options[0]}` applies to images, but this data set holds "
            "feature vectors. Use `data.augment.noise` for feature vectors."
        )
    if is_image:
        return _image_augmenter(config, value_range or 255.0)
    return _noise_augmenter(config.noise, feature_std)


def _noise_augmenter(noise: float, feature_std: np.ndarray | None) -> Callable:
    from tfpipeline._keras import tf

    scale = tf.constant(noise * (1.0 if feature_std is None else feature_std), tf.float32)

    def augment(x, seed):
        return x + tf.random.stateless_normal(tf.shape(x), seed=seed) * scale

    return augment


def _image_augmenter(config: AugmentConfig, value_range: float) -> Callable:
    from tfpipeline._keras import tf

    def augment(image, seed):
        seeds = tf.random.experimental.stateless_split(seed, 8)
        if config.flip in ("horizontal", "horizontal_and_vertical"):
            image = tf.image.stateless_random_flip_left_right(image, seeds[0])
        if config.flip in ("vertical", "horizontal_and_vertical"):
            image = tf.image.stateless_random_flip_up_down(image, seeds[1])
        if config.rotation or config.zoom or config.translation:
            image = _affine(image, config, seeds[2:5])
        if config.brightness:
            delta = config.brightness * value_range
            image = tf.image.stateless_random_brightness(image, delta, seeds[5])
        if config.contrast:
            image = tf.image.stateless_random_contrast(
                image, 1 - config.contrast, 1 + config.contrast, seeds[6]
            )
        return tf.clip_by_value(image, 0.0, value_range)

    return augment


def _affine(image, config: AugmentConfig, seeds):
    """Rotates, zooms and translates about the image centre in one projective transform."""
    from tfpipeline._keras import tf

    def uniform(limit, seed):
        return tf.random.stateless_uniform([], seed, -limit, limit) if limit else 0.0

    height = tf.cast(tf.shape(image)[0], tf.float32)
    width = tf.cast(tf.shape(image)[1], tf.float32)
    angle = uniform(config.rotation * 2 * math.pi, seeds[0])
    scale = 1.0 + uniform(config.zoom, seeds[1])
    shift = uniform(config.translation, seeds[2])
    dx, dy = shift * width, shift * height
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = scale * tf.cos(angle), scale * tf.sin(angle)
    # Output pixel (x, y) reads input pixel A @ (x, y, 1): about the centre, then shifted.
    transform = tf.stack(
        [
            cos, -sin, cx - cos * cx + sin * cy - dx,
            sin, cos, cy - sin * cx - cos * cy - dy,
            0.0, 0.0,
        ]
    )  # fmt: skip
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=tf.cast(transform[None], tf.float32),
        output_shape=tf.shape(image)[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    return out[0]


def _audio_augmenter(config: AugmentConfig, audio: Any) -> Callable:
    """Random time shift (zero-filled), gain and added noise on a clip; then clipped to
    [-1, 1]."""
    from tfpipeline._keras import tf

    asked = [n for n in AUDIO_OPTIONS if getattr(config, n) > 0]
    others = [n for n in IMAGE_OPTIONS + ("noise",) if getattr(config, n) not in ("none", 0.0)]
    if audio is None:
        raise ConfigError(
            f"`data.augment.{asked[0]}` applies to audio clips (data.source: audio_dir), but "
            "this data set holds other samples. Received: "
            f"data.augment.{asked[0]}={getattr(config, asked[0])}"
        )
    if others:
        raise ConfigError(
            f"`data.augment.{others[0]}` applies to images or feature vectors, not audio "
            f"clips. Use {', '.join(f'data.augment.{n}' for n in AUDIO_OPTIONS)} for audio."
        )
    noise = audio.noise() if config.background_noise > 0 else None
    noise = None if noise is None else tf.constant(noise, tf.float32)
    length = audio.audio.samples

    def augment(clip, seed):
        seeds = tf.random.experimental.stateless_split(seed, 4)
        if config.time_shift:
            clip = _shift(clip, config.time_shift, length, seeds[0])
        if config.gain:
            clip *= tf.random.stateless_uniform([], seeds[1], 1 - config.gain, 1 + config.gain)
        if config.background_noise:
            level = tf.random.stateless_uniform([], seeds[2], 0.0, config.background_noise)
            clip += level * _noise(noise, length, seeds[3])
        return tf.clip_by_value(clip, -1.0, 1.0)

    return augment


def _shift(clip, fraction: float, length: int, seed):
    """The clip moved by up to `fraction` of its length either way, the gap zero-filled."""
    from tfpipeline._keras import tf

    most = int(fraction * length)
    if most < 1:
        return clip
    shift = tf.random.stateless_uniform([], seed, -most, most + 1, dtype=tf.int32)
    padded = tf.pad(clip, [[most, most]])
    return tf.slice(padded, [most - shift], [length])


def _noise(noise, length: int, seed):
    """Unit-peak noise of `length` samples: a random crop of the background noise (scaled to
    peak 1), or Gaussian noise with standard deviation 1/3 without any."""
    from tfpipeline._keras import tf

    if noise is None:
        return tf.random.stateless_normal([length], seed) / 3.0
    total = tf.shape(noise)[0]
    if noise.shape[0] < length:  # shorter than a clip: repeated
        noise = tf.tile(noise, [length // int(noise.shape[0]) + 1])
        total = tf.shape(noise)[0]
    start = tf.random.stateless_uniform([], seed, 0, total - length + 1, dtype=tf.int32)
    crop = tf.slice(noise, [start], [length])
    return crop / tf.maximum(tf.reduce_max(tf.abs(crop)), 1e-6)
