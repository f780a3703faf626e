"""Model builders: the seed MLP, a small CNN and a pretrained backbone with a new head, each
taking raw input (its normalization or the backbone's preprocessing inside the model)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from tfpipeline._keras import keras, tf
from tfpipeline.backbones import backbone_spec, build_backbone, check_images, freeze_backbone
from tfpipeline.config import ModelConfig
from tfpipeline.data import PreparedData
from tfpipeline.errors import ConfigError


def normalization_layer(data: PreparedData) -> keras.layers.Layer | None:
    """Returns the input normalization fitted on the training split, or `None`.

    `standardize` subtracts the mean and divides by the (floored) standard deviation, per
    feature or per image channel; `scale` divides images by their value range and features by
    their largest absolute training value.
    """
    stats = data.stats
    if data.normalization == "standardize":
        return keras.layers.Normalization(
            mean=stats.mean,
            variance=stats.normalization_variance(),
            name="normalization",
            dtype="float32",  # raw values keep their precision under mixed precision too
        )
    if data.normalization == "scale":
        if data.is_image:
            return keras.layers.Rescaling(
                1.0 / (data.value_range or 255.0), name="normalization", dtype="float32"
            )
        zeros = stats.mean * 0
        return keras.layers.Normalization(
            mean=zeros, variance=stats.max_abs**2, name="normalization", dtype="float32"
        )
    return None


def input_normalization(model: keras.Model) -> list[str]:
    """Names the `Normalization` layers that read the model's raw input (its first layers).

    A quantization-aware model's wrapper of such a layer counts as the layer, and the input
    quantize layer before it (turned off, see `apply_qat`) is passed over.
    """
    names = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer) or type(layer).__name__ == "QuantizeLayer":
            continue
        if not isinstance(getattr(layer, "layer", layer), keras.layers.Normalization):
            break
        names.append(layer.name)
    return names


def output_rescaling(model: keras.Model) -> list[str]:
    """Names the layers that make a regression model's output: the `Rescaling` it ends with
    (standardized prediction to the target's units, see `build_model`) and the Dense layer
    before it (the converter folds the rescaling into that layer's weights), or nothing."""
    layers = model.layers
    if len(layers) < 2 or not isinstance(
        getattr(layers[-1], "layer", layers[-1]), keras.layers.Rescaling
    ):
        return []
    before = layers[-2]
    dense = isinstance(getattr(before, "layer", before), keras.layers.Dense)
    return [before.name, layers[-1].name] if dense else [layers[-1].name]


def is_quantization_aware(model: keras.Model) -> bool:
    """Whether `model` holds TFMOT's quantization-aware wrappers (see `apply_qat`)."""
    return any(type(layer).__name__.startswith("QuantizeWrapper") for layer in model.layers)


def build_model(config: ModelConfig, data: PreparedData, seed: int = 0) -> keras.Model:
    """Builds the configured model: `mlp` (the seed shape), `cnn` or `pretrained`.

    `mlp` and `cnn` start with the normalization fitted on the training split, `pretrained`
    with its backbone's own preprocessing (the backbone is frozen unless its weights are
    random: the head trains first, see `tfpipeline.backbones.unfreeze_backbone`), so the
    model (and every file exported from it) takes raw features or pixels. Each ends with
    the output layer: softmax over the classes for classification (named `probabilities`);
    for regression, one linear unit that learns the standardized target, then a rescaling by
    the training targets' standard deviation and mean (named `prediction`), so that the
    model outputs the target's own units.

    Args:
        config: the model section of the config.
        data: the prepared data (input shape, task, classes, training statistics).
        seed: seed of the kernel initializers. Defaults to `0`.

    Returns:
        An uncompiled tf_keras model named `mlp`, `cnn` or after its backbone.

    Raises:
        ValueError: for `kind: custom` (pass the model itself to the pipeline), or a CNN on
            data that is not image-shaped.
        ConfigError: for a hidden layer of more than `MAX_LAYER_WEIGHTS` weights, a
            model that does not fit in memory (naming `model.hidden_units`), or a backbone
            that cannot take the data or load its weights.
    """
    family = _family(config)
    family.check(config, data)
    try:
        if family.build is not None:
            return family.build(config, data, seed)
        _check_size(config, family.width(config, data))
        return _build(config, data, seed)
    except (MemoryError, tf.errors.ResourceExhaustedError):
        raise ConfigError(
            f"The model does not fit in memory: {_weight_count(config, data):,} weights "
            f"(model.hidden_units={config.hidden_units}). Choose smaller layers."
        ) from None


# One Dense layer with more weights than this is refused before it is built (1 GB in float32;
# far beyond a model meant for a phone).
MAX_LAYER_WEIGHTS = 250_000_000


def _weight_count(config: ModelConfig, data: PreparedData) -> int:
    """The weights of the hidden Dense layers and the output layer (after at most 2,048
    backbone features)."""
    family = _family(config)
    width = family.width(config, data) if family.width is not None else 2048
    total = 0
    for units in [*config.hidden_units, data.num_outputs or 1]:
        total += (width + 1) * units
        width = units
    return total


def _check_size(config: ModelConfig, width: int) -> None:
    for i, units in enumerate(config.hidden_units):
        weights = (width + 1) * units
        if weights > MAX_LAYER_WEIGHTS:
            raise ConfigError(
                f"Config key `model.hidden_units` asks for a Dense layer of {weights:,} "
                f"weights (model.hidden_units[{i}]: {width} inputs x {units} units), more than the "
                f"{MAX_LAYER_WEIGHTS:,} allowed per layer. Received: "
                f"model.hidden_units={config.hidden_units}"
            )
        width = units


def _build(config: ModelConfig, data: PreparedData, seed: int) -> keras.Model:
    model = keras.Sequential(name=config.kind)
    model.add(keras.Input(shape=data.feature_shape, name="features"))
    normalization = normalization_layer(data)
    if normalization is not None:
        model.add(normalization)
    layers = _Layers(config, seed)
    _family(config).body(model, config, layers, data)
    for layer in _head(config, data, layers, seed):
        model.add(layer)
    return model


def _head(
    config: ModelConfig, data: PreparedData, layers: _Layers, seed: int
) -> list[keras.layers.Layer]:
    """The hidden Dense layers (each with its batch normalization and dropout, if any) and
    the output: a softmax, or a linear unit rescaled to the target's units."""
    head = []
    for i, units in enumerate(config.hidden_units):
        head.append(layers.dense(units, config.activation, f"dense_{i}"))
        if config.batch_norm:
            head.append(_batch_norm(f"dense_{i}_bn"))
        if config.dropout > 0:
            head.append(
                keras.layers.Dropout(config.dropout, seed=seed + i, name=f"dense_{i}_dropout")
            )
    # Under a mixed-precision policy too: a float32 softmax / output.
    if data.task == "classification":
        head.append(layers.dense(data.num_outputs, "softmax", "probabilities", dtype="float32"))
        return head
    mean, std = data.target or (0.0, 1.0)
    head.append(layers.dense(1, None, "standardized_prediction", dtype="float32"))
    head.append(keras.layers.Rescaling(std, offset=mean, name="prediction", dtype="float32"))
    return head


def _build_pretrained(config: ModelConfig, data: PreparedData, seed: int) -> keras.Model:
    """Raw pixels (grayscale repeated on 3 channels) -> the backbone with its preprocessing
    -> global average pooling -> dropout -> the head; the backbone frozen unless its weights
    are random."""
    inputs = keras.Input(shape=data.feature_shape, name="features")
    x = inputs
    if data.feature_shape[-1] == 1:  # the backbones take RGB
        x = keras.layers.Concatenate(name="grayscale_to_rgb")([x, x, x])
    features = build_backbone(config.backbone, config.alpha, config.weights, x)
    _check_size(config, int(features.shape[-1]))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    if config.dropout > 0:
        x = keras.layers.Dropout(config.dropout, seed=seed, name="head_dropout")(x)
    for layer in _head(config, data, _Layers(config, seed), seed):
        x = layer(x)
    model = keras.Model(inputs, x, name=config.backbone)
    if config.weights != "none":  # random weights hold nothing to keep: they train too
        freeze_backbone(model)
    return model


def _batch_norm(name: str) -> keras.layers.BatchNormalization:
    # Momentum 0.9, not Keras's 0.99: the moving statistics used at inference must settle
    # within the few hundred steps that small data sets train for.
    return keras.layers.BatchNormalization(momentum=0.9, name=name)


class _Layers:
    """Makes Dense and Conv2D layers with the configured, seeded initializer and L2 decay."""

    def __init__(self, config: ModelConfig, seed: int):
        self.config = config
        self.seed = seed
        self.count = 0

    def _options(self) -> dict:
        self.count += 1
        init = {"class_name": self.config.initializer, "config": {"seed": self.seed + self.count}}
        regularizer = keras.regularizers.L2(self.config.l2) if self.config.l2 > 0 else None
        return {
            "kernel_initializer": keras.initializers.get(init),
            "kernel_regularizer": regularizer,
        }

    def dense(
        self, units: int, activation: str | None, name: str, dtype: str | None = None
    ) -> keras.layers.Dense:
        return keras.layers.Dense(
            units, activation=activation, name=name, dtype=dtype, **self._options()
        )

    def conv(self, filters: int, index: int) -> keras.layers.Conv2D:
        return keras.layers.Conv2D(
            filters,
            self.config.kernel_size,
            padding="same",
            use_bias=False,  # the batch normalization after it has the bias
            name=f"conv_{index}",
            **self._options(),
        )


def describe_model(config: ModelConfig, data: PreparedData, model: keras.Model) -> str:
    """The built model in one line, for the log: normalization, family, widths, output."""
    widths = " -> ".join(str(u) for u in config.hidden_units)
    hidden = f"{widths} {config.activation} -> " if widths else ""
    output = f"{data.num_outputs} softmax" if data.class_names else "1 linear"
    start = "" if config.kind == "pretrained" else f"{data.normalization} normalization -> "
    return (
        f"{model.name}: {start}{_family(config).describe(config)}{hidden}{output}, "
        f"{config.initializer} init, {model.count_params():,} parameters"
    )


def _flatten(model: keras.Sequential, config: ModelConfig, layers: _Layers, data) -> None:
    if len(data.feature_shape) > 1:
        model.add(keras.layers.Flatten(name="flatten"))


def _conv_blocks(model: keras.Sequential, config: ModelConfig, layers: _Layers, data) -> None:
    for i, filters in enumerate(config.filters):
        model.add(layers.conv(filters, i))
        model.add(_batch_norm(f"conv_{i}_bn"))
        model.add(keras.layers.ReLU(name=f"conv_{i}_relu"))
        if min(model.output_shape[1:3]) >= 2:
            model.add(keras.layers.MaxPooling2D(2, name=f"conv_{i}_pool"))
    model.add(keras.layers.GlobalAveragePooling2D(name="pool"))


def _image_shaped(config: ModelConfig, data: PreparedData) -> None:
    if len(data.feature_shape) != 3:
        raise ValueError(
            f"`model.kind: {config.kind}` needs image-shaped data (height, width, channels). "
            f"Received features of shape {data.feature_shape}; use `model.kind: mlp`, an image "
            "source, or `data.as_images: true` for digits."
        )


@dataclass(frozen=True)
class ModelFamily:
    """What a `model.kind` builds between the input normalization and the Dense layers, or
    (with `build`) the whole model.

    Attributes:
        body: adds its layers to a Sequential model (after the normalization).
        width: how many values reach the first Dense layer (for the size checks).
        describe: its layers in a few words, for the log (`"conv [16, 32] -> "`).
        check: refuses data the family cannot take (a `ValueError` naming why).
        build: builds the whole model instead, from `(config, data, seed)` (a model that
            is not a stack of layers, such as a backbone with skip connections).
    """

    body: Callable[..., None] | None = None
    width: Callable[[ModelConfig, PreparedData], int] | None = None
    describe: Callable[[ModelConfig], str] = lambda config: ""
    check: Callable[[ModelConfig, PreparedData], None] = lambda config, data: None
    build: Callable[[ModelConfig, PreparedData, int], keras.Model] | None = None


def _describe_pretrained(config: ModelConfig) -> str:
    spec = backbone_spec(config.backbone)
    alpha = f" alpha {config.alpha or 1.0:g}" if spec.alphas else ""
    tuning = ", fine-tuned after" if config.fine_tune.enabled else ""
    if config.weights == "none":
        state = "random weights, trained with the head"
    else:
        weights = "ImageNet" if config.weights == "imagenet" else config.weights
        state = f"{weights} weights, frozen for the head{tuning}"
    return f"{spec.preprocessing_text} -> {config.backbone}{alpha} ({state}) -> average pool -> "


def _check_pretrained(config: ModelConfig, data: PreparedData) -> None:
    check_images(config.backbone, data.feature_shape)


# The model families `build_model` knows, by `model.kind`: the one place a new family
# registers (its name is also among the choices of `model.kind` in the config schema).
MODEL_FAMILIES: dict[str, ModelFamily] = {
    "mlp": ModelFamily(_flatten, lambda config, data: math.prod(data.feature_shape)),
    "cnn": ModelFamily(
        _conv_blocks,
        lambda config, data: config.filters[-1],
        lambda config: f"conv {config.filters} -> ",
        _image_shaped,
    ),
    "pretrained": ModelFamily(
        describe=_describe_pretrained, check=_check_pretrained, build=_build_pretrained
    ),
}


def _family(config: ModelConfig) -> ModelFamily:
    if config.kind not in MODEL_FAMILIES:  # `custom`: the caller's own model
        raise ValueError(
            f"`model.kind: {config.kind}` uses the model you pass: "
            "`Pipeline(config).run(model=...)`."
        )
    return MODEL_FAMILIES[config.kind]
