"""The one place tfpipeline imports Keras: tf_keras, the Keras 2 API that TFMOT needs.

`tfpipeline/__init__.py` sets `TF_USE_LEGACY_KERAS=1` before TensorFlow is imported, so
`tf.keras` (and the seed example's `from tensorflow.keras import layers, models`) is tf_keras too.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfpipeline.errors import UnsupportedModelError

__all__ = ["keras", "require_tf_keras_model", "tf"]


def require_tf_keras_model(model: object, stage: str) -> keras.Model:
    """Returns `model` if it is a tf_keras model; otherwise raises a clear error.

    Args:
        model: the model handed to a stage.
        stage: the stage's name, for the message.

    Raises:
        UnsupportedModelError: for a Keras 3 model or anything that is not a tf_keras model.
    """
    if isinstance(model, keras.Model):
        return model
    module = type(model).__module__
    if module.startswith("keras"):
        raise UnsupportedModelError(
            f"`{stage}` needs a tf_keras (Keras 2) model; it received a Keras 3 model "
            f"({type(model).__name__} from `{module}`). TFMOT, tf2onnx and the TFLite converter "
            "work on tf_keras models. Build the model with `import tf_keras as keras`, or import "
            "tfpipeline before TensorFlow (it sets TF_USE_LEGACY_KERAS=1) and use "
            "`from tensorflow.keras import layers, models`."
        )
    raise UnsupportedModelError(
        f"`{stage}` needs a tf_keras model (`tf_keras.Model`). Received: {type(model).__name__}"
    )
