"""Which layers a TFMOT technique wraps, and the weights its figures are measured on.

TFMOT wraps only the layer types it knows. Layers without trainable weights (a
`Normalization` layer, `Flatten`, `Dropout`) need nothing and are left alone; a layer with
trainable weights that TFMOT does not know gets an error naming it and the option that
skips it, rather than the failure deep inside TFMOT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tfpipeline._keras import keras
from tfpipeline.errors import UnsupportedModelError


def layers_to_wrap(
    model: keras.Model,
    supports: Callable[[keras.layers.Layer], bool],
    skip_layers: Sequence[str],
    technique: str,
    option: str,
) -> set[str]:
    """Returns the names of the layers `technique` wraps.

    Args:
        model: the model to wrap.
        supports: whether TFMOT can wrap a layer for this technique.
        skip_layers: layer names or layer class names (`Conv2D`) to leave alone.
        technique: the technique, as said in messages ("pruned").
        option: the setting that skips layers, as said in messages.

    Raises:
        UnsupportedModelError: for a layer with trainable weights that TFMOT cannot wrap.
        ValueError: for a `skip_layers` entry that names no layer of the model.
    """
    _check_skip_layers(model, skip_layers, option)
    chosen = set()
    for layer in model.layers:
        if is_skipped(layer, skip_layers) or not layer.trainable_weights:
            continue
        if not supports(layer):
            raise UnsupportedModelError(
                f"Layer {layer.name!r} ({type(layer).__name__}) cannot be {technique}: "
                "TensorFlow Model Optimization has no support for that layer type. "
                f"Skip it with `{option}: [{layer.name}]` (by name) or "
                f"`{option}: [{type(layer).__name__}]` (by type)."
            )
        chosen.add(layer.name)
    if not chosen:
        raise UnsupportedModelError(
            f"No layer of model {model.name!r} can be {technique}: it has no layer with "
            f"trainable weights that TensorFlow Model Optimization supports, or `{option}` "
            "skips them all."
        )
    return chosen


def wrap_layers(
    model: keras.Model, names: set[str], wrap: Callable[[keras.layers.Layer], keras.layers.Layer]
) -> keras.Model:
    """Clones a copy of `model` with the named layers passed through `wrap`.

    The model is copied first: wrapping reuses layer objects, and fine-tuning the wrapped
    model must not change the one it started from.
    """
    return keras.models.clone_model(
        copy_model(model),
        clone_function=lambda layer: wrap(layer) if layer.name in names else layer,
    )


def copy_model(model: keras.Model) -> keras.Model:
    """Returns a clone of `model` holding copies of its weights."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def weight_matrices(layer: keras.layers.Layer) -> list[np.ndarray]:
    """The layer's weights with two or more axes (kernels, embeddings), as arrays.

    These are what pruning and clustering act on; biases and scales are left dense. A
    wrapper's own variables (such as the original weights kept by cluster-preserving QAT) are
    left out: only the wrapped layer's weights are what the exported model holds.
    """
    own = f"{layer.name}/" if hasattr(layer, "layer") else None
    return [
        w.numpy()
        for w in layer.weights
        if len(w.shape) >= 2 and not (own and w.name.startswith(own))
    ]


def per_layer(model: keras.Model, measure: Callable[[list[np.ndarray]], Any]) -> dict[str, Any]:
    """Applies `measure` to each layer's kernels (see `weight_matrices`), by layer name.

    Layers without a kernel are left out.
    """
    figures = {}
    for layer in model.layers:
        matrices = weight_matrices(layer)
        if matrices:
            figures[layer.name] = measure(matrices)
    return figures


def is_skipped(layer: keras.layers.Layer, skip_layers: Sequence[str]) -> bool:
    """Whether `skip_layers` names the layer or its class."""
    return layer.name in skip_layers or type(layer).__name__ in skip_layers


def _check_skip_layers(model: keras.Model, skip_layers: Sequence[str], option: str) -> None:
    known = {name for layer in model.layers for name in (layer.name, type(layer).__name__)}
    unknown = [name for name in skip_layers if name not in known]
    if unknown:
        names = ", ".join(layer.name for layer in model.layers)
        raise ValueError(
            f"`{option}` names no layer of model {model.name!r}: {', '.join(unknown)}. "
            f"Its layers are: {names} (a layer type such as Dense also works)."
        )
