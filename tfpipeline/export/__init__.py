"""Export stage: SavedModel, TFLite and ONNX files, and their verification."""

from tfpipeline.export.android import write_android_bundle
from tfpipeline.export.onnx import export_onnx, optimize_onnx, quantize_onnx
from tfpipeline.export.saved_model import export_saved_model
from tfpipeline.export.tflite import export_tflite, tflite_ops
from tfpipeline.export.verify import check_artifact, measure_artifact

__all__ = [
    "check_artifact",
    "export_onnx",
    "export_saved_model",
    "export_tflite",
    "measure_artifact",
    "optimize_onnx",
    "quantize_onnx",
    "tflite_ops",
    "write_android_bundle",
]
