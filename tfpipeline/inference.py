"""Predictors: run an exported artifact in the runtime an app would use.

`.tflite` files run in the LiteRT interpreter (`ai_edge_litert`), `.onnx` files in
onnxruntime, SavedModel folders through `tf.saved_model.load`. Each predictor takes raw float
features and returns float probabilities, quantizing and dequantizing int8 tensors itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfpipeline.errors import TfpipelineError


class TFLitePredictor:
    """Runs a `.tflite` file in the LiteRT interpreter.

    Args:
        path: the `.tflite` file.
    """

    format = "tflite"

    def __init__(self, path: str | Path):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self._interpreter = Interpreter(model_path=str(self.path))
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = None

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Returns the model's float outputs for the raw inputs `x` (a batch)."""
        x = np.asarray(x, dtype=np.float32)
        if self._batch != len(x):
            self._interpreter.resize_tensor_input(self._input["index"], list(x.shape))
            self._interpreter.allocate_tensors()
            self._batch = len(x)
        self._interpreter.set_tensor(self._input["index"], _quantize(x, self._input))
        self._interpreter.invoke()
        return _dequantize(self._interpreter.get_tensor(self._output["index"]), self._output)


def _quantize(x: np.ndarray, details: dict) -> np.ndarray:
    dtype = details["dtype"]
    if dtype == np.float32:
        return x
    scale, zero_point = details["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def _dequantize(y: np.ndarray, details: dict) -> np.ndarray:
    if details["dtype"] == np.float32:
        return y.copy()
    scale, zero_point = details["quantization"]
    return ((y.astype(np.float32) - zero_point) * scale).astype(np.float32)


class OnnxPredictor:
    """Runs an `.onnx` file in onnxruntime on the CPU.

    Args:
        path: the `.onnx` file.
    """

    format = "onnx"

    def __init__(self, path: str | Path):
        import onnxruntime

        self.path = Path(path)
        self._session = onnxruntime.InferenceSession(
            str(self.path), providers=["CPUExecutionProvider"]
        )
        self._input_name = self._session.get_inputs()[0].name

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Returns the model's float outputs for the raw inputs `x` (a batch)."""
        feed = {self._input_name: np.asarray(x, dtype=np.float32)}
        return self._session.run(None, feed)[0].astype(np.float32)


class SavedModelPredictor:
    """Runs a SavedModel folder's `serving_default` signature.

    Args:
        path: the SavedModel folder.
    """

    format = "saved_model"

    def __init__(self, path: str | Path):
        from tfpipeline._keras import tf

        self.path = Path(path)
        self._tf = tf
        self._signature = tf.saved_model.load(str(self.path)).signatures["serving_default"]
        self._input_name = next(iter(self._signature.structured_input_signature[1]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Returns the model's float outputs for the raw inputs `x` (a batch)."""
        tensor = self._tf.constant(np.asarray(x, dtype=np.float32))
        outputs = self._signature(**{self._input_name: tensor})
        return next(iter(outputs.values())).numpy().astype(np.float32)


def load_predictor(path: str | Path) -> TFLitePredictor | OnnxPredictor | SavedModelPredictor:
    """Opens an exported model in the runtime that matches its format.

    Args:
        path: a `.tflite` file, an `.onnx` file or a SavedModel folder.

    Returns:
        A predictor whose `predict(x)` returns float outputs.

    Raises:
        TfpipelineError: if the path does not exist or is not one of those formats.
    """
    path = Path(path)
    if not path.exists():
        raise TfpipelineError(f"Model file not found: {path}")
    if path.is_dir() and (path / "saved_model.pb").exists():
        return SavedModelPredictor(path)
    if path.is_file() and path.suffix == ".tflite":
        return TFLitePredictor(path)
    if path.is_file() and path.suffix == ".onnx":
        return OnnxPredictor(path)
    raise TfpipelineError(
        f"Cannot tell the format of {path}. Accepted: a .tflite file, an .onnx file or a "
        "SavedModel folder (holding saved_model.pb)."
    )
