"""SavedModel export (for TF Serving) with a `serving_default` signature."""

from __future__ import annotations

from pathlib import Path

from tfpipeline._atomic import dir_atomic
from tfpipeline._keras import keras, tf
from tfpipeline._model_check import takes_tf_keras_model
from tfpipeline.export._signature import serving_function


@takes_tf_keras_model(bridge=True, stage="export_saved_model")
def export_saved_model(model: keras.Model, path: str | Path) -> Path:
    """Writes `model` as a SavedModel folder (atomically) with a `serving_default` signature.

    Args:
        model: a tf_keras model.
        path: the folder to write.

    Returns:
        The written path.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model.
    """
    with dir_atomic(path) as tmp:
        tf.saved_model.save(
            model, str(tmp), signatures={"serving_default": serving_function(model)}
        )
    return Path(path)
