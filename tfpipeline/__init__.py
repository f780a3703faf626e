"""tfpipeline: from raw data to a verified TFLite / ONNX model for Android.

The public API is re-exported here. Stage modules import TensorFlow, so they are loaded on
first use of one of their names: `import tfpipeline` stays fast.
"""

import importlib
import os

# Before TensorFlow is first imported, so that `tf.keras` is tf_keras (see `_keras.py`).
os.environ["TF_USE_LEGACY_KERAS"] = "1"

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "tfpipeline.errors",
    "DataError": "tfpipeline.errors",
    "TfpipelineError": "tfpipeline.errors",
    "UnsupportedModelError": "tfpipeline.errors",
    "VerificationError": "tfpipeline.errors",
    "TrainingError": "tfpipeline.training",
    "PipelineConfig": "tfpipeline.config",
    "default_config_path": "tfpipeline.config",
    "dump_config": "tfpipeline.config",
    "from_dict": "tfpipeline.config",
    "load_config": "tfpipeline.config",
    "CleaningReport": "tfpipeline.data",
    "FeatureStats": "tfpipeline.data",
    "LoadedData": "tfpipeline.data",
    "PreparedData": "tfpipeline.data",
    "SplitData": "tfpipeline.data",
    "Splits": "tfpipeline.data",
    "clean": "tfpipeline.data",
    "encode_labels": "tfpipeline.data",
    "feature_statistics": "tfpipeline.data",
    "from_arrays": "tfpipeline.data",
    "load_data": "tfpipeline.data",
    "make_augmenter": "tfpipeline.data",
    "make_dataset": "tfpipeline.data",
    "prepare_data": "tfpipeline.data",
    "split_indices": "tfpipeline.data",
    "build_model": "tfpipeline.models",
    "save_backbone_weights": "tfpipeline.backbones",
    "unfreeze_backbone": "tfpipeline.backbones",
    "normalization_layer": "tfpipeline.models",
    "TrainResult": "tfpipeline.training",
    "evaluate": "tfpipeline.training",
    "make_optimizer": "tfpipeline.optimizers",
    "make_schedule": "tfpipeline.optimizers",
    "classification_report": "tfpipeline.evaluation",
    "saliency": "tfpipeline.interpret",
    "integrated_gradients": "tfpipeline.interpret",
    "feature_attributions": "tfpipeline.interpret",
    "score": "tfpipeline.training",
    "predict_probabilities": "tfpipeline.training",
    "train": "tfpipeline.training",
    "PruneResult": "tfpipeline.compress",
    "PruningSchedule": "tfpipeline.compress",
    "apply_pruning": "tfpipeline.compress",
    "prune": "tfpipeline.compress",
    "strip_pruning": "tfpipeline.compress",
    "apply_clustering": "tfpipeline.compress",
    "strip_clustering": "tfpipeline.compress",
    "unique_weights": "tfpipeline.compress",
    "apply_qat": "tfpipeline.compress",
    "CompressResult": "tfpipeline.compress",
    "compress_model": "tfpipeline.compress",
    "kernel_sparsity": "tfpipeline.compress",
    "overall_sparsity": "tfpipeline.compress",
    "check_artifact": "tfpipeline.export",
    "export_onnx": "tfpipeline.export",
    "export_saved_model": "tfpipeline.export",
    "export_tflite": "tfpipeline.export",
    "measure_artifact": "tfpipeline.export",
    "load_predictor": "tfpipeline.inference",
    "Predictor": "tfpipeline.inference",
    "benchmark_artifact": "tfpipeline.benchmark",
    "benchmark_keras": "tfpipeline.benchmark",
    "write_android_bundle": "tfpipeline.export",
    "optimize_onnx": "tfpipeline.export",
    "quantize_onnx": "tfpipeline.export",
    "tflite_ops": "tfpipeline.export",
    "Pipeline": "tfpipeline.pipeline",
    "ArtifactRecord": "tfpipeline.record",
    "RunRecord": "tfpipeline.record",
    "read_record": "tfpipeline.record",
    "from_keras3": "tfpipeline.bridge",
    "SUPPORTED_KERAS3_LAYERS": "tfpipeline.bridge",
    "to_keras3": "tfpipeline.bridge",
    "quiet_tensorflow": "tfpipeline.quiet",
    "plot_curves": "tfpipeline.plots",
    "curve_styles": "tfpipeline.plots",
    "SweepGrid": "tfpipeline.sweep",
    "SweepResult": "tfpipeline.sweep",
    "compress_sweep": "tfpipeline.sweep",
    "choose_variant": "tfpipeline.sweep",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tfpipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
