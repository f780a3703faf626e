"""TFLite export with `tf.lite.TFLiteConverter`: float32 and post-training quantization.

Variants: `float32`; `float16` (float16 weights); `dynamic` (int8 weights, float
activations quantized on the fly); `int8` (full integer, int8 or uint8 input and output,
calibrated);
`int16x8` (int16 activations, int8 weights, float input and output, calibrated).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfpipeline._atomic import write_bytes_atomic
from tfpipeline._keras import keras, require_tf_keras_model, tf
from tfpipeline.config import INT8_IO_TYPES, TFLITE_VARIANTS
from tfpipeline.export._signature import serving_function


def export_tflite(
    model: keras.Model,
    path: str | Path,
    variant: str = "float32",
    calibration_data: np.ndarray | None = None,
    int8_io: str = "int8",
) -> Path:
    """Converts `model` to a `.tflite` file with a `serving_default` signature.

    Args:
        model: a tf_keras model.
        path: the file to write (atomically).
        variant: `"float32"`, `"float16"`, `"dynamic"`, `"int8"` (full integer, int8 input
            and output) or `"int16x8"`. Defaults to `"float32"`.
        calibration_data: raw input samples that calibrate the activation ranges (training
            data, never test data); required for `"int8"` and `"int16x8"`.
            Defaults to `None`.
        int8_io: the `int8` variant's input and output type, `"int8"` or `"uint8"` (for
            apps that feed camera bytes). Defaults to `"int8"`.

    Returns:
        The written path.

    Raises:
        ValueError: for an unknown variant or `int8_io`, or a calibrated variant without
            calibration data.
        UnsupportedModelError: if `model` is not a tf_keras model.
    """
    require_tf_keras_model(model, "export_tflite")
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
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serving_function(model)], model)
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
    return write_bytes_atomic(path, converter.convert())
