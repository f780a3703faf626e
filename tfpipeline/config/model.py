"""The `model` section: the seed MLP, a small CNN, or a model given to the Python API."""

from __future__ import annotations

from dataclasses import dataclass

from tfpipeline._schema import setting

ACTIVATIONS = ("relu", "relu6", "tanh", "sigmoid", "elu", "selu", "gelu", "swish")
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_normal",
)
MODELS = ("mlp", "cnn", "custom")


@dataclass(frozen=True)
class ModelConfig:
    """The model: the seed MLP, a small CNN, or a tf_keras model given to the Python API.

    Attributes:
        kind: `mlp` (normalization, hidden Dense layers, output), `cnn` (normalization,
            Conv-BN-ReLU blocks with pooling, global average pooling, Dense head) or `custom`
            (the model passed to `Pipeline.run(model=...)`, used as it is). Defaults to `"mlp"`.
        hidden_units: width of each hidden Dense layer (the CNN's head). Defaults to
            `[128, 64]`.
        activation: activation of the hidden Dense layers. Defaults to `"relu"`.
        initializer: kernel initializer, seeded with `train.seed`. Defaults to
            `"glorot_uniform"` (Xavier).
        dropout: dropout rate after each hidden Dense layer. Defaults to `0.0`.
        batch_norm: batch normalization after each hidden Dense layer. Defaults to `False`.
        l2: L2 weight decay on every kernel. Defaults to `0.0`.
        filters: the CNN's blocks: filters of each Conv-BN-ReLU block, each followed by 2x2
            max pooling. Defaults to `[16, 32]`.
        kernel_size: the CNN's convolution kernel size. Defaults to `3`.
    """

    kind: str = setting("mlp", choices=MODELS)
    hidden_units: list[int] = setting([128, 64], low=1, high=1_000_000)
    activation: str = setting("relu", choices=ACTIVATIONS)
    initializer: str = setting("glorot_uniform", choices=INITIALIZERS)
    dropout: float = setting(0.0, low=0.0, high=1.0, high_open=True)
    batch_norm: bool = False
    l2: float = setting(0.0, low=0.0, high=1.0)
    filters: list[int] = setting([16, 32], low=1, high=4096)
    kernel_size: int = setting(3, low=1, high=15)
