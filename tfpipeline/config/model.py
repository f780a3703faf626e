"""The `model` section: the seed MLP, a small CNN, a pretrained backbone, or a model given
to the Python API."""

from __future__ import annotations

from dataclasses import dataclass, field

from tfpipeline._schema import setting
from tfpipeline.backbones import BACKBONES

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
MODELS = ("mlp", "cnn", "pretrained", "text", "audio", "custom")
TEXT_ARCHITECTURES = ("bag", "cnn", "lstm", "transformer")


@dataclass(frozen=True)
class FineTuneConfig:
    """Fine-tuning of a pretrained backbone, after the head has trained with it frozen.

    The chosen top of the backbone is unfrozen (its BatchNormalization layers stay frozen,
    in inference mode, keeping their ImageNet statistics) and the whole model trains again
    at a low rate, with the configured optimizer, early stopping and augmentation.

    Attributes:
        enabled: fine-tune after the head's training. Defaults to `False`.
        layers: unfreeze the last this many backbone layers. Defaults to `None`.
        from_layer: unfreeze from this backbone layer, or block (a name prefix such as
            `block_13` of MobileNetV2 or `block6a` of EfficientNet), to the top.
            Defaults to `None`. With neither `layers` nor `from_layer` the whole backbone
            is unfrozen.
        epochs: fine-tuning epochs. Defaults to `5`.
        learning_rate: the constant fine-tuning rate, far below the head's. Defaults to
            `1e-5`.
    """

    enabled: bool = False
    layers: int | None = setting(None, low=1)
    from_layer: str | None = None
    epochs: int = setting(5, low=1)
    learning_rate: float = setting(1e-5, low=0.0, low_open=True)


@dataclass(frozen=True)
class TextConfig:
    """A text model (`model.kind: text`) and its tokenizer.

    The tokenizer runs outside the model (see `tfpipeline.tokenizer` for its exact rules):
    its vocabulary is fitted on the training split and shipped as `vocab.txt`; the model
    takes `sequence_length` int32 token ids.

    Attributes:
        architecture: `bag` (embedding, average over the words: the classic baseline),
            `cnn` (embedding, 1-D convolutions with `model.filters` and
            `model.kernel_size`, max over time), `lstm` (embedding, an LSTM of `units`;
            `bidirectional` reads both ways) or `transformer` (embedding plus learned
            positions, `blocks` encoder blocks of `heads` attention heads, average over
            the words). Each ends with the Dense head of `model.hidden_units`.
            Defaults to `"bag"`.
        vocab_size: the most token ids (the padding and unknown-word ids included).
            Defaults to `10000`.
        sequence_length: the token ids per text (longer texts are cut, shorter padded).
            Defaults to `64`.
        lowercase: lower-case texts before splitting them into words. Defaults to `True`.
        embedding_dim: the size of each word's vector. Defaults to `64`.
        units: the LSTM's units, or the transformer's feed-forward width.
            Defaults to `64`.
        bidirectional: the LSTM reads the text in both directions. Defaults to `False`.
        heads: the transformer's attention heads. Defaults to `2`.
        blocks: the transformer's encoder blocks. Defaults to `1`.
    """

    architecture: str = setting("bag", choices=TEXT_ARCHITECTURES)
    vocab_size: int = setting(10_000, low=3, high=1_000_000)
    sequence_length: int = setting(64, low=1, high=4096)
    lowercase: bool = True
    embedding_dim: int = setting(64, low=1, high=4096)
    units: int = setting(64, low=1, high=4096)
    bidirectional: bool = False
    heads: int = setting(2, low=1, high=64)
    blocks: int = setting(1, low=1, high=12)


@dataclass(frozen=True)
class AudioModelConfig:
    """The log-mel front end of `model.kind: audio`, inside the model.

    Attributes:
        frame_ms: the STFT frame (Hann window), in milliseconds. Defaults to `30`.
        step_ms: the step between frames, in milliseconds. Defaults to `20`.
        mel_bins: mel filters. Defaults to `40`.
        lower_hz: the lowest mel filter's edge, in Hz. Defaults to `20`.
        upper_hz: the highest mel filter's edge, in Hz; `null` is half the sample rate.
            Defaults to `None`.
    """

    frame_ms: float = setting(30.0, low=1.0, high=1000.0)
    step_ms: float = setting(20.0, low=1.0, high=1000.0)
    mel_bins: int = setting(40, low=1, high=512)
    lower_hz: float = setting(20.0, low=0.0)
    upper_hz: float | None = setting(None, low=0.0, low_open=True)


@dataclass(frozen=True)
class ModelConfig:
    """The model: the seed MLP, a small CNN, a pretrained backbone with a new head, or a
    tf_keras model given to the Python API.

    Attributes:
        kind: `mlp` (normalization, hidden Dense layers, output), `cnn` (normalization,
            Conv-BN-ReLU blocks with pooling, global average pooling, Dense head),
            `pretrained` (a `tf_keras.applications` backbone with its own preprocessing,
            global average pooling, dropout, Dense head; the backbone is frozen while the
            head trains), `text` (token ids of a text, see `model.text`), `audio` (raw
            samples -> log-mel front end -> normalization -> Conv-BN-ReLU blocks with
            pooling, average over time, Dense head) or `custom` (the model passed to
            `Pipeline.run(model=...)`, used as it is). Defaults to `"mlp"`.
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
        backbone: the pretrained backbone: `mobilenet`, `mobilenet_v2`,
            `mobilenet_v3_small`, `mobilenet_v3_large`, `efficientnet_b0` or
            `efficientnet_v2_b0`. Defaults to `"mobilenet_v2"`.
        alpha: the backbone's width multiplier (MobileNets only); `null` is 1.0.
            Defaults to `None`.
        weights: the backbone's starting weights: `imagenet` (downloaded once by Keras
            into `~/.keras/models`), `none` (random) or the path of a Keras weights file
            (`.h5`) of the backbone without its top. Defaults to `"imagenet"`.
        fine_tune: fine-tuning of the backbone after the head's training.
        text: the text model and its tokenizer (`kind: text`).
        audio: the log-mel front end of `kind: audio`.
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
    backbone: str = setting("mobilenet_v2", choices=tuple(BACKBONES))
    alpha: float | None = setting(None, low=0.0, low_open=True)
    weights: str = "imagenet"
    fine_tune: FineTuneConfig = field(default_factory=FineTuneConfig)
    text: TextConfig = field(default_factory=TextConfig)
    audio: AudioModelConfig = field(default_factory=AudioModelConfig)
