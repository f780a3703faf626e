"""The `export` and `verify` sections: which artifacts to write, and what each must meet."""

from __future__ import annotations

from dataclasses import dataclass

from tfpipeline._schema import setting

TFLITE_VARIANTS = ("float32", "float16", "dynamic", "int8", "int16x8")
INT8_IO_TYPES = ("int8", "uint8")
INT8_INPUTS = ("auto", "quantized", "float")


@dataclass(frozen=True)
class ExportConfig:
    """Which artifacts to write.

    Attributes:
        saved_model: write a TensorFlow SavedModel. Defaults to `True`.
        onnx: write an ONNX model with tf2onnx. Defaults to `True`.
        onnx_opset: ONNX opset. Defaults to `17`.
        tflite: TFLite variants to write. Defaults to `["float32", "int8"]`.
        calibration_samples: training samples used to calibrate int8. Defaults to `500`.
        int8_io: input and output type of the `int8` variant when its input is quantized:
            `int8` or `uint8`. Defaults to `"int8"`.
        int8_input: how the `int8` variant takes its input: `quantized` (`int8_io` input
            and output, one scale for every raw value), `float` (float32 input and output;
            the input normalization computes in float before the first quantize), or
            `auto` (`float` when the training features do not share one scale, such as
            grams next to millimetres; `quantized` for images and features on one scale).
            Defaults to `"auto"`.
        allow_flex_ops: let TFLite keep TensorFlow ops outside LiteRT's built-in set
            (Select TF ops). Defaults to `False` (such a model is refused, naming the ops).
        keras: also write the trained tf_keras model as `model.keras`. Defaults to `True`.
        onnx_optimized: also write onnxruntime's graph-optimized copy,
            `model_optimized.onnx`. Defaults to `False`.
        onnx_int8: also write an int8 copy made by onnxruntime's dynamic quantization,
            `model_int8.onnx`. Defaults to `False`.
        android: write the Android bundle `android/` (a `.tflite`, `labels.txt`,
            `model_card.json`). Defaults to `False`.
        android_variant: the TFLite variant the bundle ships; `null` means `int8` when it
            is exported, else the first of `tflite`. Defaults to `null`.
    """

    saved_model: bool = True
    onnx: bool = True
    onnx_opset: int = setting(17, low=13, high=21)
    tflite: list[str] = setting(["float32", "int8"], choices=TFLITE_VARIANTS)
    calibration_samples: int = setting(500, low=1)
    int8_io: str = setting("int8", choices=INT8_IO_TYPES)
    int8_input: str = setting("auto", choices=INT8_INPUTS)
    allow_flex_ops: bool = False
    keras: bool = True
    onnx_optimized: bool = False
    onnx_int8: bool = False
    android: bool = False
    android_variant: str | None = setting(None, choices=TFLITE_VARIANTS)


@dataclass(frozen=True)
class VerifyConfig:
    """Thresholds every artifact must meet in its own runtime, and latency settings.

    Attributes:
        float_max_abs_diff: largest allowed difference of a float artifact's probabilities
            from the Keras model's. Defaults to `1e-4`.
        float_min_agreement: smallest allowed top-1 agreement of a float artifact.
            Defaults to `1.0`.
        float16_max_abs_diff: largest allowed difference of a float16 artifact's outputs.
            Defaults to `1e-2`.
        int8_min_agreement: smallest allowed top-1 agreement of an integer-quantized
            artifact (`dynamic`, `int8`, `int16x8`), on the test samples the Keras model
            decides (see `tie_margin`). Defaults to `0.97`.
        tie_margin: a test sample whose two highest Keras probabilities are closer than
            this is a tie, which quantization may tip either way: counted and reported
            (`ties`), not held against an integer-quantized artifact. Defaults to `0.02`.
        min_accuracy: smallest allowed test accuracy of any artifact. Defaults to `0.0`.
        int8_max_mae_increase: regression only: largest allowed relative increase of an
            integer-quantized artifact's test MAE over the Keras model's. Defaults to `0.1`.
        regression_must_beat_baseline: regression only: an artifact whose test MAE is not
            below the mean predictor's (always predicting the training mean) fails.
            Defaults to `True`.
        latency_runs: timed single-sample calls per artifact. Defaults to `200`.
        latency_warmup: untimed calls before them. Defaults to `20`.
    """

    float_max_abs_diff: float = setting(1e-4, low=0.0)
    float_min_agreement: float = setting(1.0, low=0.0, high=1.0)
    float16_max_abs_diff: float = setting(1e-2, low=0.0)
    int8_min_agreement: float = setting(0.97, low=0.0, high=1.0)
    tie_margin: float = setting(0.02, low=0.0, high=1.0)
    min_accuracy: float = setting(0.0, low=0.0, high=1.0)
    int8_max_mae_increase: float = setting(0.1, low=0.0)
    regression_must_beat_baseline: bool = True
    latency_runs: int = setting(200, low=1, high=1_000_000)
    latency_warmup: int = setting(20, low=0, high=1_000_000)
