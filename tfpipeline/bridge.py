"""The Keras 3 bridge: rebuild a Keras 3 model as tf_keras (and back), weights and outputs equal.

TFMOT and tf2onnx's Keras converter work on tf_keras models only, and most new code is
Keras 3. The two APIs serialize the same layers slightly differently (`batch_shape` against
`batch_input_shape`, dtype policies, node formats, options one has and the other lacks), so
the bridge translates the model's config, builds the other library's model from it, copies
the weights layer by layer, and checks on random inputs that both compute the same outputs.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from tfpipeline._keras import keras as tf_keras
from tfpipeline.errors import UnsupportedModelError

# The layers the bridge rebuilds both ways.
SUPPORTED_KERAS3_LAYERS = (
    "InputLayer", "Dense", "Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D",
    "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "BatchNormalization", "Dropout", "Flatten", "Reshape", "Activation",
    "ReLU", "Add", "Concatenate", "Normalization", "Rescaling", "Embedding",
    "LayerNormalization",
)  # fmt: skip

PARITY_TOLERANCE = 1e-5

# Keyword arguments every layer takes through its base class, in both libraries.
_BASE_LAYER_KEYS = {"name", "trainable", "dtype"}

# tf_keras writes the input shape into a first layer's config too; the input layer has it.
_SHAPE_HINTS = {"batch_input_shape", "input_shape"}

# Options a layer's config carries but never uses (tf_keras's SeparableConv2D inherits
# `kernel_*` from Conv2D; its kernels are the depthwise and pointwise ones).
_UNUSED = {
    "SeparableConv1D": {"kernel_initializer", "kernel_regularizer", "kernel_constraint"},
    "SeparableConv2D": {"kernel_initializer", "kernel_regularizer", "kernel_constraint"},
}


def is_keras3_model(model: Any) -> bool:
    """Whether `model` is a Keras 3 model (`import keras`), not a tf_keras one."""
    return any(
        cls.__module__.startswith("keras.") and cls.__name__ in ("Model", "Functional")
        for cls in type(model).__mro__
    )


def from_keras3(model: Any, *, check: bool = True) -> Any:
    """Rebuilds a Keras 3 Sequential or functional model as an equivalent tf_keras model.

    Layer configs are translated, weights copied, and (with `check`) both models are run on
    the same random inputs: their outputs must agree within `PARITY_TOLERANCE`.

    Args:
        model: a built Keras 3 `Sequential` or functional model of `SUPPORTED_KERAS3_LAYERS`.
        check: compare the outputs of both models. Defaults to `True`.

    Returns:
        The tf_keras model (the Keras 3 model is left as it is).

    Raises:
        UnsupportedModelError: for a subclassed model, a layer outside `SUPPORTED_KERAS3_LAYERS`
            (named, with the supported list), a Keras 3 option tf_keras lacks, or outputs
            that differ (naming the first layer that differs).
    """
    _check_layers(model, "Keras 3")
    config = _translate(model.get_config(), "tf_keras")
    if type(model).__name__ == "Sequential":
        config["layers"] = _with_input_layer(config["layers"], model)
        rebuilt = tf_keras.Sequential.from_config(config)
    else:
        _to_tf_keras_nodes(config)
        rebuilt = tf_keras.Model.from_config(config)
    _copy_weights(model, rebuilt)
    if check:
        _check_parity(model, rebuilt)
    return rebuilt


def to_keras3(model: Any, *, check: bool = True) -> Any:
    """Rebuilds a tf_keras Sequential or functional model as a Keras 3 model (the way back).

    Pruned or clustered models must be stripped first (`strip_pruning`, `strip_clustering`):
    their weights are then plain weights.

    Args:
        model: a tf_keras `Sequential` or functional model of `SUPPORTED_KERAS3_LAYERS`.
        check: compare the outputs of both models. Defaults to `True`.

    Returns:
        The Keras 3 model.

    Raises:
        UnsupportedModelError: as `from_keras3`, the other way round.
    """
    import keras  # Keras 3: optional, and loaded only for the way back

    _check_layers(model, "tf_keras")
    config = _translate(model.get_config(), "keras3")
    if type(model).__name__ == "Sequential":
        rebuilt = keras.Sequential.from_config(config)
    else:
        rebuilt = keras.Model.from_config(config)
    _copy_weights(model, rebuilt)
    if check:
        _check_parity(model, rebuilt)
    return rebuilt


def _check_layers(model: Any, library: str) -> None:
    kind = type(model).__name__
    if kind not in ("Sequential", "Functional", "Model") or not hasattr(model, "get_config"):
        raise UnsupportedModelError(
            f"The bridge rebuilds {library} Sequential and functional models; "
            f"{model.name!r} is a {kind} (a subclassed model has no config to translate). "
            "Rebuild it with the functional API."
        )
    for layer in model.layers:
        name = type(layer).__name__
        if name not in SUPPORTED_KERAS3_LAYERS:
            raise UnsupportedModelError(
                f"Layer {layer.name!r} ({name}) is not supported by the Keras 3 bridge. "
                f"Supported layers: {', '.join(SUPPORTED_KERAS3_LAYERS)}."
            )


def _translate(value: Any, target: str, owner: str = "") -> Any:
    """Rewrites a serialized Keras object for the target library, recursively."""
    if isinstance(value, list):
        return [_translate(item, target, owner) for item in value]
    if not isinstance(value, dict):
        return value
    if "class_name" in value and "config" in value and isinstance(value["config"], dict):
        class_name = value["class_name"]
        if class_name in ("DTypePolicy", "Policy"):  # a dtype policy: its name will do
            return value["config"]["name"]
        if class_name == "__keras_tensor__":
            return value
        config = _translate(value["config"], target, class_name)
        config = _fit_config(class_name, value.get("module"), config, target)
        result = {"class_name": class_name, "config": config}
        for key in ("name", "inbound_nodes"):
            if key in value:
                result[key] = value[key]
        return result
    return {key: _translate(item, target, owner) for key, item in value.items()}


def _fit_config(class_name: str, module: str | None, config: dict, target: str) -> dict:
    """Renames the keys the two libraries name differently and drops those the target lacks.

    A dropped key must hold an unset value (`None`, `False`, empty): a real setting the
    target cannot express is an error, not a silent change.
    """
    if class_name == "InputLayer":
        config = dict(config)
        if target == "tf_keras" and "batch_shape" in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        if target == "keras3" and "batch_input_shape" in config:
            config["batch_shape"] = config.pop("batch_input_shape")
        if config.pop("optional", False) is not False:
            raise UnsupportedModelError("Optional inputs have no equivalent in tf_keras.")
        return config
    if class_name in ("Sequential", "Functional", "Model"):
        return config
    cls = _target_class(class_name, module, target)
    if cls is None:
        return config
    accepted = _accepted_keys(cls)
    if accepted is None:
        return config
    source = _target_class(class_name, module, "keras3" if target == "tf_keras" else "tf_keras")
    defaults = _defaults(source) if source is not None else {}
    kept = {}
    for key, value in config.items():
        if key in accepted or key in _BASE_LAYER_KEYS:
            kept[key] = value
        elif key in _SHAPE_HINTS or key in _UNUSED.get(class_name, ()):
            continue  # the input shape comes from the model's input layer
        elif value not in (None, False, [], {}, ()) and defaults.get(key, object()) != value:
            library = "tf_keras" if target == "tf_keras" else "Keras 3"
            raise UnsupportedModelError(
                f"{class_name} option `{key}={value!r}` has no equivalent in {library}; "
                "the bridge cannot rebuild this layer as it is."
            )
    return kept


def _target_class(class_name: str, module: str | None, target: str):
    if target == "tf_keras":
        library = tf_keras
    else:
        import keras as library  # Keras 3: the source or target library, loaded on demand
    for namespace in ("layers", "initializers", "regularizers", "constraints"):
        if module and namespace not in module:
            continue
        found = getattr(getattr(library, namespace), class_name, None)
        if inspect.isclass(found):
            return found
    return None


def _defaults(cls) -> dict[str, Any]:
    """The default value of each keyword argument of `cls(...)`."""
    defaults = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is not None:
            for p in inspect.signature(init).parameters.values():
                if p.default is not p.empty:
                    defaults[p.name] = p.default
    return defaults


def _accepted_keys(cls) -> set[str] | None:
    """The keyword arguments `cls(...)` accepts, or `None` when it takes any (`**kwargs`)."""
    keys = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameters = inspect.signature(init).parameters.values()
        keys |= {p.name for p in parameters if p.kind is not p.VAR_KEYWORD and p.name != "self"}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return keys
    return None


def _with_input_layer(layers: list[dict], model: Any) -> list[dict]:
    """Keras 3 Sequential configs may leave the input out; tf_keras needs its shape."""
    if layers and layers[0]["class_name"] == "InputLayer":
        return layers
    shape = [None, *model.inputs[0].shape[1:]]
    return [{"class_name": "InputLayer", "config": {"batch_input_shape": shape}}, *layers]


def _to_tf_keras_nodes(config: dict) -> None:
    """Rewrites Keras 3 functional nodes (`args` of `__keras_tensor__`) as tf_keras lists."""
    for layer in config["layers"]:
        nodes = []
        for node in layer.get("inbound_nodes", []):
            if isinstance(node, dict):
                tensors = list(_keras_tensors(node.get("args", [])))
                nodes.append([[name, index, tensor, {}] for name, index, tensor in tensors])
            else:
                nodes.append(node)
        layer["inbound_nodes"] = nodes


def _keras_tensors(value: Any):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        yield tuple(value["config"]["keras_history"])
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _keras_tensors(item)


def _copy_weights(source: Any, target: Any) -> None:
    for layer in source.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        twin = target.get_layer(layer.name)
        try:
            twin.set_weights(weights)
        except ValueError as exc:
            raise UnsupportedModelError(
                f"Layer {layer.name!r} ({type(layer).__name__}): its weights do not fit the "
                f"rebuilt layer: {exc}"
            ) from None
        if hasattr(twin, "finalize_state"):  # Normalization computes its scale from its state
            twin.finalize_state()


def _sample_inputs(model: Any, rng: np.random.Generator) -> np.ndarray:
    tensor = model.inputs[0]
    shape = [8, *(d if d is not None else 4 for d in tensor.shape[1:])]
    dtype = np.dtype(getattr(tensor.dtype, "name", tensor.dtype))
    if dtype.kind in "iu":
        embedding = next((e for e in model.layers if type(e).__name__ == "Embedding"), None)
        high = embedding.input_dim if embedding is not None else 10
        return rng.integers(0, high, size=shape).astype(dtype)
    return rng.normal(size=shape).astype(np.float32)


def _check_parity(source: Any, rebuilt: Any) -> None:
    x = _sample_inputs(source, np.random.default_rng(0))
    expected = np.asarray(source(x, training=False))
    actual = np.asarray(rebuilt(x, training=False))
    difference = float(np.max(np.abs(expected - actual))) if expected.size else 0.0
    if expected.shape == actual.shape and difference <= PARITY_TOLERANCE:
        return
    first = _first_differing_layer(source, rebuilt, x)
    raise UnsupportedModelError(
        f"The rebuilt model's outputs differ from the original's (max difference "
        f"{difference:.3g} > {PARITY_TOLERANCE:g}); the first layer that differs is {first}."
    )


def _first_differing_layer(source: Any, rebuilt: Any, x: np.ndarray) -> str:
    import keras  # Keras 3, loaded on demand

    for layer in source.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        twin = rebuilt.get_layer(layer.name)
        try:
            library_of = keras if type(source).__module__.startswith("keras") else tf_keras
            expected = library_of.Model(source.inputs, layer.output)(x, training=False)
            library_of = keras if type(rebuilt).__module__.startswith("keras") else tf_keras
            actual = library_of.Model(rebuilt.inputs, twin.output)(x, training=False)
        except Exception:  # noqa: BLE001  (a layer without a single output: keep looking)
            continue
        expected, actual = np.asarray(expected), np.asarray(actual)
        if expected.shape != actual.shape or np.max(np.abs(expected - actual)) > PARITY_TOLERANCE:
            return f"{layer.name!r} ({type(layer).__name__})"
    return "not found layer by layer (the difference appears only at the output)"
