"""TFLite export with `tf.lite.TFLiteConverter`: float32 and post-training quantization.

Variants: `float32`; `float16` (float16 weights); `dynamic` (int8 weights, float
activations quantized on the fly); `int8` (full integer, int8 or uint8 input and output,
calibrated);
`int16x8` (int16 activations, int8 weights, float input and output, calibrated).
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path

import numpy as np

from tfpipeline._atomic import write_bytes_atomic
from tfpipeline._keras import keras, tf
from tfpipeline.bridge import is_keras3_model
from tfpipeline.config import INT8_IO_TYPES, TFLITE_VARIANTS
from tfpipeline.errors import UnsupportedModelError
from tfpipeline.export._signature import exportable_model, serving_function


def export_tflite(
    model: keras.Model,
    path: str | Path,
    variant: str = "float32",
    calibration_data: np.ndarray | None = None,
    int8_io: str = "int8",
    allow_flex_ops: bool = False,
) -> Path:
    """Converts `model` to a `.tflite` file with a `serving_default` signature.

    Args:
        model: a tf_keras model, or a Keras 3 model (rebuilt by the bridge; converted from
            its own SavedModel export where the bridge cannot rebuild a layer).
        path: the file to write (atomically).
        variant: `"float32"`, `"float16"`, `"dynamic"`, `"int8"` (full integer, int8 input
            and output) or `"int16x8"`. Defaults to `"float32"`.
        calibration_data: raw input samples that calibrate the activation ranges (training
            data, never test data); required for `"int8"` and `"int16x8"`.
            Defaults to `None`.
        int8_io: the `int8` variant's input and output type, `"int8"` or `"uint8"` (for
            apps that feed camera bytes). Defaults to `"int8"`.
        allow_flex_ops: let the converter keep TensorFlow ops that LiteRT's built-in op
            set lacks (Select TF ops; the app then needs the flex delegate). Defaults to
            `False`: such a model is refused, naming the ops.

    Returns:
        The written path.

    Raises:
        ValueError: for an unknown variant or `int8_io`, or a calibrated variant without
            calibration data.
        UnsupportedModelError: if the model needs TensorFlow ops outside LiteRT's built-in
            set and `allow_flex_ops` is off (the ops are named), or if `model` is not a
            Keras model.

    Warns:
        UserWarning: when ops of an `int8` model still compute in float (named), or when a
            Keras 3 model the bridge cannot rebuild is converted from its own export.
    """
    model = exportable_model(model, "export_tflite")
    if variant not in TFLITE_VARIANTS:
        raise ValueError(
            f"Argument `variant` must be one of {', '.join(TFLITE_VARIANTS)}. "
            f"Received: variant={variant!r}"
        )
    if int8_io not in INT8_IO_TYPES:
        raise ValueError(
            f"Argument `int8_io` must be one of {', '.join(INT8_IO_TYPES)}. "
            f"Received: int8_io={int8_io!r}"
        )
    with tempfile.TemporaryDirectory() as folder:
        converter = _converter(model, Path(folder))
        return _finish(converter, model, path, variant, calibration_data, int8_io, allow_flex_ops)


def _converter(model, folder: Path):
    if is_keras3_model(model):  # the bridge could not rebuild it: convert Keras 3's export
        model.export(str(folder / "saved_model"), format="tf_saved_model", verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(str(folder / "saved_model"))
    return tf.lite.TFLiteConverter.from_concrete_functions([serving_function(model)], model)


def _finish(converter, model, path, variant, calibration_data, int8_io, allow_flex_ops):
    """Sets the variant's options on the converter, converts, checks and writes the file."""
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant in ("int8", "int16x8"):
        if calibration_data is None or len(calibration_data) == 0:
            raise ValueError(
                f"Argument `calibration_data` is required for the {variant} variant: pass "
                "training samples (the pipeline uses the first `export.calibration_samples` "
                "of the training split)."
            )
        samples = np.asarray(calibration_data, dtype=np.float32)
        converter.representative_dataset = lambda: (
            [samples[i : i + 1]] for i in range(len(samples))
        )
    if variant == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.as_dtype(int8_io)
        converter.inference_output_type = tf.as_dtype(int8_io)
    if variant == "int16x8":
        ops = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        converter.target_spec.supported_ops = [ops]
    if allow_flex_ops:
        converter.target_spec.supported_ops = [
            *converter.target_spec.supported_ops,
            tf.lite.OpsSet.SELECT_TF_OPS,
        ]
    content = _convert(converter, model, allow_flex_ops)
    written = write_bytes_atomic(path, content)
    if variant == "int8":
        left_in_float = float_ops(tflite_ops(written))
        if left_in_float:
            warnings.warn(
                f"{Path(path).name}: {len(left_in_float)} op(s) still compute in float in the "
                f"int8 model: {', '.join(left_in_float)}. They run slower and need float "
                "support on the device.",
                stacklevel=2,
            )
    return written


def _convert(converter, model: keras.Model, allow_flex_ops: bool) -> bytes:
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises ConverterError, and others on bad graphs
        needed = sorted(set(re.findall(r"\btf\.(\w+)\(", str(exc))))
        if not needed:
            raise
        if allow_flex_ops:
            raise UnsupportedModelError(
                f"Model {model.name!r} needs TensorFlow ops that neither LiteRT's built-in op "
                f"set nor its Select TF ops support: {', '.join(needed)}. Replace them in the "
                "model."
            ) from None
        raise UnsupportedModelError(
            f"Model {model.name!r} needs TensorFlow ops that LiteRT's built-in op set lacks: "
            f"{', '.join(needed)}. Set `export.allow_flex_ops: true` (API: "
            "allow_flex_ops=True) to keep them as Select TF ops (the app then needs the "
            "LiteRT flex delegate), or replace them in the model."
        ) from None


def tflite_ops(path: str | Path) -> list[dict]:
    """Lists the ops of a `.tflite` file in execution order.

    Returns:
        One dict per op: `op` (its LiteRT name), `inputs` and `outputs` (dtype names).
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    return [
        {
            "op": details["op_name"],
            "inputs": [np.dtype(t).name for t in details.get("operand_types", [])],
            "outputs": [np.dtype(t).name for t in details.get("result_types", [])],
        }
        for details in interpreter._get_ops_details()  # the interpreter's own op listing
    ]


def float_ops(ops: list[dict]) -> list[str]:
    """Names the ops (other than (de)quantization) that read or write float tensors."""
    boundary = {"QUANTIZE", "DEQUANTIZE"}
    return [
        op["op"]
        for op in ops
        if op["op"] not in boundary and "float32" in op["inputs"] + op["outputs"]
    ]
