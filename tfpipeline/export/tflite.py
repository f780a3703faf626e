"""TFLite export with `tf.lite.TFLiteConverter`: float32 and post-training quantization.

Variants: `float32`; `float16` (float16 weights); `dynamic` (int8 weights, float
activations quantized on the fly); `int8` (full integer, int8 or uint8 input and output,
calibrated);
`int16x8` (int16 activations, int8 weights, float input and output, calibrated).

An `int8` model can keep named layers in float (`float_layers`): tabular models whose raw
features do not share one scale keep their input normalization in float, so that each feature
is standardized before the first quantize (one int8 input scale over features in grams and in
millimetres leaves the small-unit ones one or two quantization steps).
"""

from __future__ import annotations

import re
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tfpipeline._atomic import write_bytes_atomic
from tfpipeline._keras import keras, tf
from tfpipeline.bridge import is_keras3_model
from tfpipeline.config import INT8_IO_TYPES, TFLITE_VARIANTS
from tfpipeline.errors import ConversionError, TfpipelineError, UnsupportedModelError
from tfpipeline.export._signature import exportable_model, input_dtype, serving_function
from tfpipeline.models import is_quantization_aware


def export_tflite(
    model: keras.Model,
    path: str | Path,
    variant: str = "float32",
    calibration_data: np.ndarray | None = None,
    int8_io: str = "int8",
    allow_flex_ops: bool = False,
    float_layers: Sequence[str] = (),
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
        float_layers: names of layers whose ops stay float in the `int8` variant (for
            example a tabular model's input normalization); that model then takes and
            returns float32, quantizing after those layers inside the model. Defaults to
            `()` (full integer, `int8_io` input and output).

    Returns:
        The written path.

    Raises:
        ValueError: for an unknown variant or `int8_io`, a calibrated variant without
            calibration data, or a `float_layers` name that is no layer of the model.
        UnsupportedModelError: if the model needs TensorFlow ops outside LiteRT's built-in
            set and `allow_flex_ops` is off (the ops are named), or if `model` is not a
            Keras model.
        ConversionError: if the converter fails on this variant for another reason (its
            first line is given).

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
    known = {layer.name for layer in model.layers}
    unknown = [name for name in float_layers if name not in known]
    if unknown:
        raise ValueError(
            f"Argument `float_layers` names no layer of model {model.name!r}: "
            f"{', '.join(unknown)}. Its layers are: {', '.join(sorted(known))}."
        )
    floats = tuple(float_layers)
    with tempfile.TemporaryDirectory() as folder:
        converter = _converter(model, Path(folder))
        _set_calibration(converter, variant, calibration_data, input_dtype(model))
        try:
            if variant == "int8" and floats:
                content = _quantize_keeping_float(converter, model, floats, allow_flex_ops)
            else:
                _set_variant(converter, variant, int8_io, allow_flex_ops)
                content = _convert(converter, model, allow_flex_ops)
        except ConversionError as exc:
            raise ConversionError(f"{variant} variant: {exc}") from exc.__cause__
    written = write_bytes_atomic(path, content)
    if variant == "int8":
        _warn_float_ops(written, floats)
    return written


def _converter(model, folder: Path):
    if is_keras3_model(model):  # the bridge could not rebuild it: convert Keras 3's export
        model.export(str(folder / "saved_model"), format="tf_saved_model", verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(str(folder / "saved_model"))
    return tf.lite.TFLiteConverter.from_concrete_functions([serving_function(model)], model)


def _set_calibration(converter, variant: str, calibration_data, dtype=tf.float32) -> None:
    """Gives a calibrated variant its representative samples (training data), as the
    input's type `dtype`."""
    if variant not in ("int8", "int16x8"):
        return
    if calibration_data is None or len(calibration_data) == 0:
        raise ValueError(
            f"Argument `calibration_data` is required for the {variant} variant: pass "
            "training samples (the pipeline uses the first `export.calibration_samples` "
            "of the training split)."
        )
    samples = np.asarray(calibration_data, dtype=dtype.as_numpy_dtype)
    converter.representative_dataset = lambda: ([samples[i : i + 1]] for i in range(len(samples)))


def _set_variant(converter, variant: str, int8_io: str, allow_flex_ops: bool) -> None:
    """Sets the variant's quantization options on the converter."""
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
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


def _quantize_keeping_float(
    converter, model, float_layers: tuple[str, ...], allow_flex_ops: bool = False
) -> bytes:
    """Full-integer quantization except the ops of `float_layers`; float input and output."""
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if allow_flex_ops:
        ops = tf.lite.OpsSet
        converter.target_spec.supported_ops = [ops.TFLITE_BUILTINS, ops.SELECT_TF_OPS]
    if is_quantization_aware(model):
        # Its fake-quant ops say where to quantize; calibration would quantize the rest.
        converter.representative_dataset = None
        return _convert(converter, model, allow_flex_ops)

    def quantize() -> bytes:
        try:
            debugger = quantization_debugger(
                converter, float_layers, float_output=model.layers[-1].name in float_layers
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return debugger.get_nondebug_quantized_model()
        except RuntimeError as exc:  # the debugger runs the model in LiteRT, without flex
            if "Select TensorFlow op" not in str(exc):
                raise
            raise UnsupportedModelError(
                f"Model {model.name!r} needs Select TF ops, and its int8 variant keeps "
                f"{', '.join(float_layers)} in float, which is quantized by running the model "
                "in LiteRT without the flex delegate. Set `export.int8_input: quantized` (one "
                "input scale) to export it with Select TF ops, or replace those ops."
            ) from None

    return _convert(converter, model, allow_flex_ops, quantize)


def quantization_debugger(
    converter, float_layers: Sequence[str] = (), debug_data=None, float_output: bool = False
):
    """TFLite's quantization debugger on a calibrated converter, the ops of `float_layers`
    left out of quantization (named by their output tensors, `<model>/<layer>/...`).

    Args:
        converter: a converter with its representative dataset set.
        float_layers: layer names whose ops stay float. Defaults to none.
        debug_data: raw samples the debugger's `run()` measures each op's error on.
            Defaults to `None`.
        float_output: also keep float the op that writes the model's output (its tensor is
            named after the signature, not the layer). Defaults to `False`.

    Returns:
        The debugger (`get_nondebug_quantized_model()` gives the quantized model).
    """
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    samples = None if debug_data is None else np.asarray(debug_data)
    if samples is not None and not np.issubdtype(samples.dtype, np.integer):
        samples = samples.astype(np.float32)  # token ids stay integers
    dataset = None if samples is None else lambda: ([s[None]] for s in samples)
    with warnings.catch_warnings():  # the debugger runs TensorFlow's deprecated interpreter
        warnings.simplefilter("ignore")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=dataset
        )
        nodes = _layer_nodes(debugger.calibrated_model, tuple(float_layers), float_output)
        if nodes:
            debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=nodes)
    return debugger


def _layer_nodes(content: bytes, layer_names: tuple[str, ...], output: bool = False) -> list[str]:
    """The output tensor names of the ops that belong to the named layers (and, with
    `output`, of the op that writes the model's output)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    names = {
        interpreter._get_tensor_details(index, 0)["name"]
        for op in interpreter._get_ops_details()  # the interpreter's own op listing
        for index in op["outputs"]
    }
    outputs = {d["name"] for d in interpreter.get_output_details()} if output else set()
    return sorted(name for name in names if _in_layers(name, layer_names) or name in outputs)


def _in_layers(tensor: str, layer_names: Sequence[str]) -> bool:
    """Whether a tensor (`<model>/<layer>/op`, several joined by `;`) is a named layer's."""
    return any(f"/{layer}/" in f"/{part}" for layer in layer_names for part in tensor.split(";"))


def _warn_float_ops(path: Path, float_layers: Sequence[str]) -> None:
    """Warns about ops of an int8 model that compute in float outside `float_layers`."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    outputs = {d["index"] for d in interpreter.get_output_details()}
    stray = set()
    for op, details in zip(tflite_ops(path), interpreter._get_ops_details(), strict=True):
        names = [interpreter._get_tensor_details(i, 0)["name"] for i in details["outputs"]]
        kept = any(_in_layers(name, float_layers) for name in names) or (
            float_layers and set(details["outputs"]) & outputs
        )
        if float_ops([op]) and not kept:
            stray.add(op["op"])
    if stray:
        warnings.warn(
            f"{Path(path).name}: op(s) {', '.join(sorted(stray))} compute in float in the int8 "
            "model. They run slower and need float support on the device.",
            stacklevel=3,
        )


def _convert(converter, model: keras.Model, allow_flex_ops: bool, convert=None) -> bytes:
    """Runs the conversion (`converter.convert`, or `convert`), naming the TensorFlow ops a
    model needs beyond LiteRT's built-in set as the converter reports them."""
    try:
        return (convert or converter.convert)()
    except TfpipelineError:  # a refusal of the package's own, already named
        raise
    except Exception as exc:  # the converter raises ConverterError, and others on bad graphs
        needed = sorted(set(re.findall(r"\btf\.(\w+)\(", str(exc))))
        if not needed:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConversionError(
                f"the LiteRT converter failed on model {model.name!r}: {reason}"
            ) from exc
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
    """Names the ops (other than (de)quantization and casts, such as a text model's padding
    mask from booleans) that read or write float tensors."""
    boundary = {"QUANTIZE", "DEQUANTIZE", "CAST"}
    return [
        op["op"]
        for op in ops
        if op["op"] not in boundary and "float32" in op["inputs"] + op["outputs"]
    ]
