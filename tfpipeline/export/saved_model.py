"""SavedModel export (for TF Serving) with a `serving_default` signature."""

from __future__ import annotations

from pathlib import Path

from tfpipeline._atomic import dir_atomic
from tfpipeline._keras import keras, require_tf_keras_model, tf
from tfpipeline.export._signature import serving_function


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
    model = require_tf_keras_model(model, "export_saved_model", bridge=True)
    with dir_atomic(path) as tmp:
        tf.saved_model.save(
            model, str(tmp), signatures={"serving_default": serving_function(model)}
        )
    return Path(path)
