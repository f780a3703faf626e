"""Pretrained vision backbones from `tf_keras.applications`, built flat into the model.

The backbone's own preprocessing is inside the model, so the model and every file exported
from it take raw pixels 0-255, as an app has them. Its layers are built into one flat
functional model (not nested as one layer): TensorFlow Model Optimization wraps the layers
of a model, not those of a model inside it.

This module is light (TensorFlow is imported inside the functions): the config schema takes
the backbone names from `BACKBONES`, the one place a backbone registers.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfpipeline.errors import ConfigError


@dataclass(frozen=True)
class Backbone:
    """A `tf_keras.applications` backbone as `model.kind: pretrained` uses it.

    Attributes:
        constructor: its function in `tf_keras.applications` (`"MobileNetV2"`).
        alphas: the width multipliers (`model.alpha`) it has; empty when it has none.
        preprocessing: `"tf"` when the package adds the backbone's preprocessing (pixels to
            [-1, 1] by `x / 127.5 - 1`), `"inside"` when the application has its own layers
            for it (MobileNetV3's rescaling, EfficientNet's rescaling and normalization).
        prunable: whether TensorFlow Model Optimization can prune and quantization-aware
            train it (said in the docs; the compress stage finds out for itself).
        options: extra arguments of the constructor.
    """

    constructor: str
    alphas: tuple[float, ...] = ()
    preprocessing: str = "inside"
    prunable: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def preprocessing_text(self) -> str:
        """What the preprocessing inside the model does, in words."""
        if self.preprocessing == "tf":
            return "x / 127.5 - 1 (pixels to [-1, 1])"
        return f"{self.constructor}'s own preprocessing layers"


# The backbones `model.kind: pretrained` builds, by `model.backbone`: the one place a new one
# registers. The smallest image side each accepts is `MIN_IMAGE_SIZE`.
BACKBONES: dict[str, Backbone] = {
    "mobilenet": Backbone("MobileNet", (0.25, 0.5, 0.75, 1.0), "tf", prunable=True),
    "mobilenet_v2": Backbone("MobileNetV2", (0.35, 0.5, 0.75, 1.0, 1.3, 1.4), "tf", True),
    "mobilenet_v3_small": Backbone(
        "MobileNetV3Small", (0.75, 1.0), options={"include_preprocessing": True}
    ),
    "mobilenet_v3_large": Backbone(
        "MobileNetV3Large", (0.75, 1.0), options={"include_preprocessing": True}
    ),
    "efficientnet_b0": Backbone("EfficientNetB0"),
    "efficientnet_v2_b0": Backbone("EfficientNetV2B0", options={"include_preprocessing": True}),
}
MIN_IMAGE_SIZE = 32
WEIGHTS_SUFFIXES = (".h5", ".hdf5")


def backbone_spec(name: str) -> Backbone:
    """The registered backbone called `name`.

    Raises:
        ConfigError: for a name that is not registered (with the names that are).
    """
    if name not in BACKBONES:
        raise ConfigError(
            f"Config key `model.backbone` must be one of {', '.join(BACKBONES)}. "
            f"Received: model.backbone={name!r}"
        )
    return BACKBONES[name]


def check_backbone_settings(name: str, alpha: float | None, weights: str) -> None:
    """Refuses a `model.alpha` the backbone does not have, or a `model.weights` that is
    neither `imagenet`, `none` nor an existing `.h5` file.

    Raises:
        ConfigError: naming the key, what it accepts and the value received.
    """
    spec = backbone_spec(name)
    if alpha is not None and alpha not in spec.alphas:
        accepted = ", ".join(f"{a:g}" for a in spec.alphas) or "none (leave it unset)"
        raise ConfigError(
            f"Config key `model.alpha` (width multiplier) of backbone {name} must be one of "
            f"{accepted}. Received: model.alpha={alpha:g}"
        )
    if weights in ("imagenet", "none"):
        return
    path = Path(weights)
    if not path.is_file() or not path.name.lower().endswith(WEIGHTS_SUFFIXES):
        missing = "" if path.is_file() else " (no such file)"
        raise ConfigError(
            "Config key `model.weights` must be `imagenet`, `none` or the path of an existing "
            f"Keras weights file ({', '.join(WEIGHTS_SUFFIXES)}) of {name} without its top. "
            f"Received: model.weights={weights!r}{missing}"
        )


def check_images(name: str, feature_shape: tuple[int, ...]) -> None:
    """Refuses data a backbone cannot take: anything but images of at least
    `MIN_IMAGE_SIZE` pixels a side, with 1 or 3 channels.

    Raises:
        ConfigError: naming the shape received and what would be accepted.
    """
    if len(feature_shape) != 3 or feature_shape[-1] not in (1, 3):
        raise ConfigError(
            "`model.kind: pretrained` needs images (height, width, 1 or 3 channels). "
            f"Received features of shape {tuple(feature_shape)}; use an image source "
            "(`data.source: image_dir`) or `model.kind: mlp`."
        )
    if min(feature_shape[:2]) < MIN_IMAGE_SIZE:
        raise ConfigError(
            f"Backbone {name} needs images of at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} "
            f"pixels. Received: data.image_size={list(feature_shape[:2])}"
        )


def build_backbone(name: str, alpha: float | None, weights: str, inputs) -> Any:
    """Builds backbone `name` on the tensor `inputs` (raw pixels, 3 channels), its
    preprocessing first; returns its feature-map tensor.

    Raises:
        ConfigError: when ImageNet weights cannot be downloaded (naming the file, the
            cache folder and the offline alternatives), or a weights file does not fit the
            backbone.
    """
    from tfpipeline._keras import keras

    spec = backbone_spec(name)
    x = inputs
    if spec.preprocessing == "tf":
        x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="preprocessing")(x)
    options = dict(spec.options)
    if spec.alphas:
        options["alpha"] = 1.0 if alpha is None else alpha
    keras_weights = None if weights == "none" else weights
    constructor = getattr(keras.applications, spec.constructor)
    try:
        application = constructor(
            include_top=False, weights=keras_weights, input_tensor=x, **options
        )
    except Exception as exc:  # Keras raises a bare Exception for a failed download
        raise _weights_error(name, weights, exc) from None
    return application.output


def keras_cache_folder() -> Path:
    """Where Keras keeps downloaded weights files (`$KERAS_HOME/models`, `~/.keras/models`)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def _weights_error(name: str, weights: str, exc: Exception) -> Exception:
    """A `ConfigError` for a download or weights file that failed; other errors unchanged."""
    text = str(exc)
    download = re.search(r"URL fetch failure on (\S+?):?\s", text + " ")
    if weights == "imagenet" and download:
        url = download.group(1)
        cached = keras_cache_folder() / url.rsplit("/", 1)[-1]
        return ConfigError(
            f"`model.weights: imagenet` needs {name}'s ImageNet weights, which Keras "
            f"downloads once from {url} into {cached}; the download failed "
            f"({text.split(':', 2)[-1].strip()}). Without network: copy that file from a "
            "machine that has it (same path), or set `model.weights` to its path, or "
            "`model.weights: none` to start from random weights."
        )
    if weights not in ("imagenet", "none"):
        return ConfigError(
            f"The weights file {weights} does not fit backbone {name} (alpha and "
            f"include_top=False must match the file: Keras's `..._no_top.h5` files, or "
            f"weights saved from the same backbone). Keras said: {text}"
        )
    return exc


def backbone_layers(model) -> list:
    """The layers of `model` that belong to its backbone (neither the input, the
    preprocessing the package adds, nor the head), in the model's order."""
    return [
        layer
        for layer in model.layers
        if layer.name not in HEAD_LAYERS
        and not re.fullmatch(r"dense_\d+(_bn|_dropout)?", layer.name)
        and type(layer).__name__ != "InputLayer"
    ]


# The layers `build_model` puts around a backbone (`dense_<i>` layers too).
HEAD_LAYERS = frozenset(
    {
        "features",
        "grayscale_to_rgb",
        "preprocessing",
        "pool",
        "head_dropout",
        "probabilities",
        "standardized_prediction",
        "prediction",
    }
)


def freeze_backbone(model) -> None:
    """Freezes every backbone layer of `model` (transfer learning's first phase)."""
    for layer in backbone_layers(model):
        layer.trainable = False


def unfreeze_backbone(model, layers: int | None = None, from_layer: str | None = None) -> int:
    """Unfreezes the top of `model`'s backbone; BatchNormalization layers stay frozen, so
    they keep running in inference mode on their ImageNet statistics.

    Args:
        model: a model built by `build_model` with `model.kind: pretrained`.
        layers: unfreeze the last this many backbone layers. Defaults to `None`.
        from_layer: unfreeze from the first backbone layer with this name, or whose name
            starts with it and `_` (a block: `block_13`), to the end. Defaults to `None`.
            With neither, the whole backbone is unfrozen.

    Returns:
        How many layers with weights were unfrozen.

    Raises:
        ConfigError: for a `from_layer` that names no backbone layer (with the closest).
    """
    backbone = backbone_layers(model)
    start = 0
    if from_layer is not None:
        start = first_layer_index(backbone, from_layer)
    elif layers is not None:
        start = max(0, len(backbone) - layers)
    count = 0
    for layer in backbone[start:]:
        if type(layer).__name__ == "BatchNormalization":
            continue
        layer.trainable = True
        count += bool(layer.weights)
    return count


def first_layer_index(backbone: list, from_layer: str) -> int:
    """The index of the first layer named `from_layer` or `from_layer_...` in `backbone`.

    Raises:
        ConfigError: when no layer matches (naming the closest names and blocks).
    """
    for i, layer in enumerate(backbone):
        if layer.name == from_layer or layer.name.startswith(from_layer + "_"):
            return i
    names = [layer.name for layer in backbone]
    blocks = sorted({re.sub(r"_[a-z]+[a-z_0-9]*$", "", n) for n in names} | set(names))
    close = difflib.get_close_matches(from_layer, blocks, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(
        f"Config key `model.fine_tune.from_layer` names no layer or block of the backbone."
        f"{hint} Received: model.fine_tune.from_layer={from_layer!r}"
    )


def save_backbone_weights(model, path: str | Path) -> Path:
    """Saves the backbone's weights of a `model.kind: pretrained` model as a Keras `.h5`
    file that `model.weights` loads (same backbone and `model.alpha`, any head or classes):
    a backbone trained on one task becomes the starting point of the next.

    Args:
        model: a model built by `build_model` with `model.kind: pretrained` (trained or not).
        path: the file to write (`.h5`), atomically.

    Returns:
        The written path.

    Raises:
        ValueError: for a model without backbone layers, or a path not ending in `.h5`.
    """
    from tfpipeline._atomic import file_atomic
    from tfpipeline._keras import keras

    path = Path(path)
    layers = backbone_layers(model)
    if not layers or "pool" not in {layer.name for layer in model.layers}:
        raise ValueError(
            f"Model {model.name!r} has no pretrained backbone: build it with "
            "`model.kind: pretrained`."
        )
    if not path.name.lower().endswith(WEIGHTS_SUFFIXES):
        raise ValueError(
            f"Argument `path` must end in {' or '.join(WEIGHTS_SUFFIXES)} (a Keras weights "
            f"file). Received: path={str(path)!r}"
        )
    backbone = keras.Model(model.input, model.get_layer("pool").input)
    with file_atomic(path) as temporary:
        backbone.save_weights(str(temporary), save_format="h5")
    return path


def trainable_weight_count(model) -> int:
    """The number of trainable values (scalars) in `model`."""
    import numpy as np

    return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))
