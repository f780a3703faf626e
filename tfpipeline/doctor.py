"""`tfpipeline doctor`: are the libraries here, and do they work together?"""

from __future__ import annotations

import importlib
import os
import platform
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

# (distribution, module) pairs, in the order they are reported.
LIBRARIES = (
    ("tensorflow", "tensorflow"),
    ("tf-keras", "tf_keras"),
    ("tensorflow-model-optimization", "tensorflow_model_optimization"),
    ("tf2onnx", "tf2onnx"),
    ("onnx", "onnx"),
    ("onnxruntime", "onnxruntime"),
    ("ai-edge-litert", "ai_edge_litert"),
    ("numpy", "numpy"),
    ("protobuf", "google.protobuf"),
)

FIXES = {
    "tf_keras": "pip install 'tf-keras>=2.21,<2.22' (the Keras 2 API that TFMOT needs)",
    "tensorflow_model_optimization": "pip install 'tensorflow-model-optimization>=0.8,<0.9'",
    "ai_edge_litert": "pip install 'ai-edge-litert>=2,<3' (the LiteRT interpreter)",
}


def run_doctor(log: Callable[[str], None] = print) -> bool:
    """Prints each library's version and each check's result; returns whether all passed."""
    import tfpipeline

    log(f"tfpipeline {tfpipeline.__version__}, Python {platform.python_version()}")
    healthy = True
    for distribution, module in LIBRARIES:
        version = _version(distribution)
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001  (any import failure is the finding)
            healthy = False
            fix = FIXES.get(module, f"pip install --force-reinstall {distribution}")
            log(f"  FAIL {distribution} {version}: cannot import {module} ({exc}). Fix: {fix}")
        else:
            log(f"  ok   {distribution} {version}")
    for name, check in CHECKS:
        try:
            detail = check()
        except Exception as exc:  # noqa: BLE001  (a broken check is the finding)
            healthy = False
            log(f"  FAIL {name}: {type(exc).__name__}: {exc}")
        else:
            log(f"  ok   {name}: {detail}")
    log("all checks passed" if healthy else "something is broken: see the FAIL lines above")
    return healthy


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _legacy_keras() -> str:
    from tfpipeline._keras import tf

    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise RuntimeError("TF_USE_LEGACY_KERAS is not 1: import tfpipeline before TensorFlow")
    module = type(tf.keras.layers.Dense(1)).__module__
    if not module.startswith("tf_keras"):
        raise RuntimeError(
            f"tf.keras resolves to {module}, not tf_keras: TensorFlow was imported before "
            "tfpipeline; import tfpipeline first"
        )
    return "TF_USE_LEGACY_KERAS=1, tf.keras is tf_keras"


def _tiny_model():
    from tfpipeline._keras import keras

    inputs = keras.Input((4,), name="features")
    outputs = keras.layers.Dense(3, activation="softmax", name="probabilities")(inputs)
    return keras.Model(inputs, outputs)


def _tflite_round_trip() -> str:
    import numpy as np

    from tfpipeline.export import export_tflite
    from tfpipeline.inference import Predictor

    model = _tiny_model()
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        path = export_tflite(model, Path(folder) / "m.tflite", "int8", x)
        outputs = Predictor.load(path).predict(x)
    return f"converted to int8 .tflite and ran in LiteRT, outputs {outputs.shape}"


def _onnx_round_trip() -> str:
    import numpy as np

    from tfpipeline.export import export_onnx
    from tfpipeline.inference import Predictor

    model = _tiny_model()
    x = np.ones((2, 4), dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        path = export_onnx(model, Path(folder) / "m.onnx")
        difference = np.abs(Predictor.load(path).predict(x) - model(x).numpy()).max()
    return f"converted with tf2onnx and ran in onnxruntime, max difference {difference:.1e}"


def _tfmot_wraps() -> str:
    from tfpipeline.compress import apply_pruning

    wrapped, callbacks = apply_pruning(_tiny_model(), 0.5, end_step=2)
    return f"pruning wrapper applied ({len(callbacks)} callback)"


CHECKS = (
    ("tf_keras in effect", _legacy_keras),
    ("TFLite conversion", _tflite_round_trip),
    ("ONNX conversion", _onnx_round_trip),
    ("TFMOT", _tfmot_wraps),
)
