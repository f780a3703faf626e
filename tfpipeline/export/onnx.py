"""ONNX export with tf2onnx, checked with `onnx.checker`."""

from __future__ import annotations

from pathlib import Path

from tfpipeline._atomic import write_bytes_atomic
from tfpipeline._keras import keras, require_tf_keras_model
from tfpipeline.export._signature import input_spec


def export_onnx(model: keras.Model, path: str | Path, opset: int = 17) -> Path:
    """Converts `model` to an `.onnx` file with a dynamic batch dimension.

    The input and output names are those of the TFLite signature (the Keras input and output
    names), and the file passes `onnx.checker` before it is written.

    Args:
        model: a tf_keras model.
        path: the file to write (atomically).
        opset: the ONNX opset. Defaults to `17`.

    Returns:
        The written path.

    Raises:
        UnsupportedModelError: if `model` is not a tf_keras model.
    """
    import onnx
    import tf2onnx

    require_tf_keras_model(model, "export_onnx")
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=[input_spec(model)], opset=opset)
    onnx.checker.check_model(proto, full_check=True)
    return write_bytes_atomic(path, proto.SerializeToString())
