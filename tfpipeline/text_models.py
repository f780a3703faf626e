"""Text model bodies: token ids -> embedding -> one vector per text, for the shared head.

Every architecture takes `sequence_length` int32 token ids (0 is padding, see
`tfpipeline.tokenizer`) and converts to LiteRT's built-in ops (embedding lookups, 1-D
convolutions, LSTM, attention); `TEXT_BODIES` is the one place an architecture registers
(its name is also among the choices of `model.text.architecture`).
"""

from __future__ import annotations

from collections.abc import Callable

from tfpipeline._keras import keras, tf
from tfpipeline.config import ModelConfig


@keras.utils.register_keras_serializable(package="tfpipeline")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned vector per position to a sequence of word vectors.

    Args:
        sequence_length: the positions.
        initializer: the vectors' initializer. Defaults to `"glorot_uniform"`.
    """

    def __init__(self, sequence_length: int, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions",
            shape=(self.sequence_length, int(input_shape[-1])),
            initializer=self.initializer,
        )
        super().build(input_shape)

    def call(self, inputs):
        return inputs + tf.cast(self.positions, inputs.dtype)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "initializer": keras.initializers.serialize(self.initializer),
        }


@keras.utils.register_keras_serializable(package="tfpipeline")
class MaskedAverage(keras.layers.Layer):
    """The average of a sequence's vectors over its unmasked steps; a zero vector for a
    sequence with no unmasked step.

    `GlobalAveragePooling1D` divides by the number of unmasked steps, which is 0 for a text
    with no word (an empty string, punctuation only: all padding): the float model then
    returns NaN and the int8 `.tflite` fails in LiteRT's DIV. Here the count is at least 1.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return tf.reduce_mean(inputs, axis=1)
        weights = tf.expand_dims(tf.cast(mask, inputs.dtype), -1)
        total = tf.reduce_sum(inputs * weights, axis=1)
        return total / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)

    def compute_mask(self, inputs, mask=None):
        return None


def _initializer(config: ModelConfig, seed: int):
    return keras.initializers.get({"class_name": config.initializer, "config": {"seed": seed}})


def _embedding(config: ModelConfig, vocab_size: int, seed: int, mask_zero: bool = False):
    # Only the bag masks its padding (`MaskedAverage`); the other bodies read the whole
    # sequence, whose padding id's vector learns to say little (masks do not convert to
    # LiteRT's built-in LSTM, convolution and attention ops).
    return keras.layers.Embedding(
        vocab_size,
        config.text.embedding_dim,
        mask_zero=mask_zero,
        embeddings_initializer=keras.initializers.RandomUniform(-0.05, 0.05, seed=seed),
        name="embedding",
    )


def _bag(config: ModelConfig, ids, vocab_size: int, seed: int):
    """The average of the text's word vectors, padding left out (the mask); zeros for a
    text with no word."""
    x = _embedding(config, vocab_size, seed, mask_zero=True)(ids)
    return MaskedAverage(name="pool")(x)


def _cnn(config: ModelConfig, ids, vocab_size: int, seed: int):
    """1-D convolutions over the word vectors (`model.filters`), then the max over time."""
    x = _embedding(config, vocab_size, seed)(ids)
    for i, filters in enumerate(config.filters):
        x = keras.layers.Conv1D(
            filters,
            config.kernel_size,
            padding="same",
            activation="relu",
            kernel_initializer=_initializer(config, seed + 1 + i),
            name=f"conv_{i}",
        )(x)
    return keras.layers.GlobalMaxPooling1D(name="pool")(x)


def _lstm(config: ModelConfig, ids, vocab_size: int, seed: int):
    """An LSTM over the word vectors (both ways with `bidirectional`); its last state.

    The LSTM is unrolled over the `sequence_length` steps: LiteRT's fused LSTM needs a fixed
    batch size, and a rolled loop with a free batch needs Select TF ops (TensorList); the
    unrolled steps are plain built-in ops that take any batch and quantize to int8.
    """
    x = _embedding(config, vocab_size, seed)(ids)
    lstm = keras.layers.LSTM(
        config.text.units,
        kernel_initializer=_initializer(config, seed + 1),
        unroll=True,
        name="lstm",
    )
    if config.text.bidirectional:
        lstm = keras.layers.Bidirectional(lstm, name="bidirectional")
    return lstm(x)


def _transformer(config: ModelConfig, ids, vocab_size: int, seed: int):
    """Word vectors plus learned positions, `blocks` encoder blocks (self-attention and a
    feed-forward layer, each with a residual connection and layer normalization), then the
    average over the positions."""
    text = config.text
    x = _embedding(config, vocab_size, seed)(ids)
    x = PositionEmbedding(text.sequence_length, _initializer(config, seed + 1), name="positions")(x)
    width = text.embedding_dim
    for b in range(text.blocks):
        attention = keras.layers.MultiHeadAttention(
            text.heads,
            max(1, width // text.heads),
            kernel_initializer=_initializer(config, seed + 10 * b + 2),
            name=f"block_{b}_attention",
        )(x, x)
        x = keras.layers.LayerNormalization(name=f"block_{b}_norm_1")(
            keras.layers.Add(name=f"block_{b}_add_1")([x, attention])
        )
        hidden = keras.layers.Dense(
            text.units,
            activation="relu",
            kernel_initializer=_initializer(config, seed + 10 * b + 3),
            name=f"block_{b}_dense_1",
        )(x)
        hidden = keras.layers.Dense(
            width,
            kernel_initializer=_initializer(config, seed + 10 * b + 4),
            name=f"block_{b}_dense_2",
        )(hidden)
        x = keras.layers.LayerNormalization(name=f"block_{b}_norm_2")(
            keras.layers.Add(name=f"block_{b}_add_2")([x, hidden])
        )
    return keras.layers.GlobalAveragePooling1D(name="pool")(x)


# The text architectures, by `model.text.architecture`: `body(config, ids, vocab_size, seed)`
# returns one vector per text.
TEXT_BODIES: dict[str, Callable] = {
    "bag": _bag,
    "cnn": _cnn,
    "lstm": _lstm,
    "transformer": _transformer,
}


def describe_text(config: ModelConfig) -> str:
    """The text body in a few words, for the log."""
    text = config.text
    parts = {
        "bag": "average of the words",
        "cnn": f"conv1d {config.filters} k{config.kernel_size} -> max over time",
        "lstm": f"{'bidirectional ' if text.bidirectional else ''}LSTM {text.units}",
        "transformer": f"{text.blocks} encoder block(s) of {text.heads} heads, "
        f"feed-forward {text.units} -> average",
    }
    return f"token ids -> embedding {text.embedding_dim} -> {parts[text.architecture]} -> "
