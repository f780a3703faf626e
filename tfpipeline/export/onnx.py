"""ONNX export with tf2onnx, checked with `onnx.checker`."""

from __future__ import annotations

import logging
from pathlib import Path

from tfpipeline._atomic import file_atomic, write_bytes_atomic
from tfpipeline._keras import keras
from tfpipeline.bridge import is_keras3_model
from tfpipeline.data.audio import ONNX_AUDIO_UNSUPPORTED
from tfpipeline.errors import UnsupportedModelError
from tfpipeline.export._signature import exportable_model, input_spec, serving_tf_function


def onnx_unsupported(model: keras.Model) -> str | None:
    """Why `model` cannot be converted to ONNX (an audio front end inside it), or `None`."""
    for layer in getattr(model, "layers", ()):
        if type(getattr(layer, "layer", layer)).__name__ == "LogMelSpectrogram":
            return ONNX_AUDIO_UNSUPPORTED
    return None


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
        UnsupportedModelError: if `model` is not a tf_keras model, or holds an audio front
            end (see `onnx_unsupported`).
    """
    import onnx
    import tf2onnx

    model = exportable_model(model, "export_onnx")
    reason = onnx_unsupported(model)
    if reason:
        raise UnsupportedModelError(f"Model {model.name!r} cannot be exported to ONNX: {reason}.")
    if is_keras3_model(model):  # the bridge could not rebuild it: convert its own graph
        proto, _ = tf2onnx.convert.from_function(
            serving_tf_function(model), input_signature=[input_spec(model)], opset=opset
        )
    else:
        proto, _ = tf2onnx.convert.from_keras(
            model, input_signature=[input_spec(model)], opset=opset
        )
    onnx.checker.check_model(proto, full_check=True)
    return write_bytes_atomic(path, proto.SerializeToString())


def optimize_onnx(source: str | Path, path: str | Path) -> Path:
    """Writes onnxruntime's graph-optimized copy of an `.onnx` file (atomically).

    The copy is what onnxruntime itself runs after its extended graph optimizations (fused
    and folded nodes), saved so that an app skips that work at load time.

    Args:
        source: the `.onnx` file.
        path: the copy to write.

    Returns:
        The written path.
    """
    import onnxruntime

    with file_atomic(path) as tmp:
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(tmp)
        onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    return Path(path)


def quantize_onnx(source: str | Path, path: str | Path) -> Path:
    """Writes an int8 copy of an `.onnx` file with onnxruntime's dynamic quantization.

    Weights are stored as int8; activations are quantized on the fly, so no calibration
    data is needed (the counterpart of the `dynamic` TFLite variant).

    Args:
        source: the float `.onnx` file.
        path: the copy to write (atomically).

    Returns:
        The written path.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process is for large vision models
    try:
        with file_atomic(path) as tmp:
            quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return Path(path)
