"""Model builders: the seed MLP, with its normalization inside the model."""

from __future__ import annotations

from tfpipeline._keras import keras
from tfpipeline.config import ModelConfig
from tfpipeline.data import PreparedData


def normalization_layer(data: PreparedData) -> keras.layers.Layer | None:
    """Returns the input normalization fitted on the training split, or `None`.

    `standardize` subtracts the mean and divides by the (floored) standard deviation, per
    feature or per image channel; `scale` divides images by their value range and features by
    their largest absolute training value.
    """
    stats = data.stats
    if data.normalization == "standardize":
        return keras.layers.Normalization(
            mean=stats.mean, variance=stats.normalization_variance(), name="normalization"
        )
    if data.normalization == "scale":
        if data.is_image:
            return keras.layers.Rescaling(1.0 / (data.value_range or 255.0), name="normalization")
        zeros = stats.mean * 0
        return keras.layers.Normalization(
            mean=zeros, variance=stats.max_abs**2, name="normalization"
        )
    return None


def build_model(config: ModelConfig, data: PreparedData, seed: int = 0) -> keras.Model:
    """Builds the seed MLP: normalization -> (flatten) -> Dense hidden layers -> output.

    The normalization statistics come from the training split only and live inside the
    model, so the model (and every file exported from it) takes raw features or pixels.

    Args:
        config: the model section of the config.
        data: the prepared data (input shape, task, classes, training statistics).
        seed: seed of the kernel initializers. Defaults to `0`.

    Returns:
        An uncompiled tf_keras model named `mlp`: softmax over the classes for
        classification (output `probabilities`), one linear unit for regression (output
        `prediction`).
    """
    model = keras.Sequential(name="mlp")
    model.add(keras.Input(shape=data.feature_shape, name="features"))
    normalization = normalization_layer(data)
    if normalization is not None:
        model.add(normalization)
    if len(data.feature_shape) > 1:
        model.add(keras.layers.Flatten(name="flatten"))
    for i, units in enumerate(config.hidden_units):
        model.add(
            keras.layers.Dense(
                units,
                activation=config.activation,
                kernel_initializer=_initializer(config.initializer, seed + i),
                name=f"dense_{i}",
            )
        )
    classification = data.task == "classification"
    model.add(
        keras.layers.Dense(
            data.num_outputs,
            activation="softmax" if classification else None,
            kernel_initializer=_initializer(config.initializer, seed + len(config.hidden_units)),
            name="probabilities" if classification else "prediction",
        )
    )
    return model


def _initializer(name: str, seed: int) -> keras.initializers.Initializer:
    return keras.initializers.get({"class_name": name, "config": {"seed": seed}})
