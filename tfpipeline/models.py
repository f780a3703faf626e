"""Model builders: the seed MLP with its normalization inside the model."""

from __future__ import annotations

import numpy as np

from tfpipeline._keras import keras
from tfpipeline.config import ModelConfig

# Features whose training variance is below this fraction of the largest variance are scaled
# as if they had it. Without the floor a constant (or nearly constant) feature gets a huge
# multiplier that swamps the int8 scale of every other feature.
VARIANCE_FLOOR = 1e-3


def feature_statistics(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Computes the per-feature mean and floored variance of the training features.

    Args:
        x_train: training features, shape `(samples, features)`. Only the training split may
            be passed here, so that nothing of the test split leaks into the model.

    Returns:
        `(mean, variance)`, each of shape `(features,)`, float32.
    """
    x = np.asarray(x_train, dtype=np.float64)
    mean = x.mean(axis=0)
    variance = x.var(axis=0)
    floor = max(float(variance.max()) * VARIANCE_FLOOR, 1e-12)
    return mean.astype(np.float32), np.maximum(variance, floor).astype(np.float32)


def build_model(
    config: ModelConfig, x_train: np.ndarray, num_classes: int, seed: int = 0
) -> keras.Model:
    """Builds the seed MLP: Normalization -> Dense hidden layers -> Dense softmax.

    The normalization statistics come from `x_train` only and live inside the model, so the
    model (and every file exported from it) takes raw features.

    Args:
        config: the model section of the config.
        x_train: the training split's features, shape `(samples, features)`.
        num_classes: width of the softmax output.
        seed: seed of the kernel initializers. Defaults to `0`.

    Returns:
        An uncompiled tf_keras model named `mlp`.
    """
    mean, variance = feature_statistics(x_train)
    model = keras.Sequential(name="mlp")
    model.add(keras.Input(shape=(x_train.shape[1],), name="features"))
    model.add(keras.layers.Normalization(mean=mean, variance=variance, name="normalization"))
    for i, units in enumerate(config.hidden_units):
        model.add(
            keras.layers.Dense(
                units,
                activation=config.activation,
                kernel_initializer=_initializer(config.initializer, seed + i),
                name=f"dense_{i}",
            )
        )
    model.add(
        keras.layers.Dense(
            num_classes,
            activation="softmax",
            kernel_initializer=_initializer(config.initializer, seed + len(config.hidden_units)),
            name="probabilities",
        )
    )
    return model


def _initializer(name: str, seed: int) -> keras.initializers.Initializer:
    return keras.initializers.get({"class_name": name, "config": {"seed": seed}})
