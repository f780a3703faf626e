"""The one place tfpipeline imports Keras: tf_keras, the Keras 2 API that TFMOT needs.

`tfpipeline/__init__.py` sets `TF_USE_LEGACY_KERAS=1` before TensorFlow is imported, so
`tf.keras` (and the seed example's `from tensorflow.keras import layers, models`) is tf_keras too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import tensorflow as tf
import tf_keras as keras

from tfpipeline.errors import UnsupportedModelError

__all__ = ["keras", "releasing_traced_gradients", "require_tf_keras_model", "tf"]


def require_tf_keras_model(model: object, stage: str, bridge: bool = False) -> keras.Model:
    """Returns `model` as a tf_keras model, or raises a clear error.

    Args:
        model: the model handed to a stage.
        stage: the stage's name, for the message.
        bridge: rebuild a Keras 3 model as tf_keras (`from_keras3`); for stages that do
            not change the model they are given. Defaults to `False`.

    Raises:
        UnsupportedModelError: for a Keras 3 model without `bridge` (or one the bridge cannot
            rebuild), or anything that is not a tf_keras model.
    """
    if isinstance(model, keras.Model):
        return model
    module = type(model).__module__
    if module.startswith("keras"):
        if bridge:
            from tfpipeline.bridge import from_keras3

            return from_keras3(model)
        raise UnsupportedModelError(
            f"`{stage}` changes the model it is given and needs a tf_keras (Keras 2) model; it "
            f"received a Keras 3 model ({type(model).__name__} from `{module}`). Rebuild it "
            "with `model = tfpipeline.from_keras3(model)` (weights copied, outputs checked), "
            "or build it with tf_keras: import tfpipeline before TensorFlow and use "
            "`from tensorflow.keras import layers, models`."
        )
    raise UnsupportedModelError(
        f"`{stage}` needs a tf_keras model (`tf_keras.Model`). Received: {type(model).__name__}"
    )


@contextlib.contextmanager
def releasing_traced_gradients() -> Iterator[None]:
    """Forgets, on leaving, the gradient functions TensorFlow registered inside the block.

    Each time a training step is traced, the optimizer's all-reduce (a `custom_gradient`)
    registers its gradient function in TensorFlow's global gradient registry under a new
    name, and nothing ever removes it: every fit keeps its whole training graph alive (about
    2 MB for the seed model), and a process running many jobs grows without end. Use this
    only around work whose models are dropped at the end (a pipeline run), since a graph
    traced inside cannot be differentiated again afterwards.
    """
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    before = set(registry) if isinstance(registry, dict) else None
    try:
        yield
    finally:
        if before is not None:
            for name in [n for n in registry if n not in before and n.startswith("CustomGrad")]:
                del registry[name]
