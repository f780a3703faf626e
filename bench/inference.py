"""Single-sample inference: the int8 .tflite in LiteRT against float ONNX and Keras.

Usage: python bench/inference.py [--runs N]

Runs the default pipeline once (tiny latency settings) into a temporary folder, then, in one
process and on the same test samples, times one sample per call with one CPU thread each:

- the int8 `.tflite` in the LiteRT interpreter, through `Predictor` (quantizing the float
  input and dequantizing the output in NumPy, as an app in Python would) and as the
  interpreter alone (input already quantized: set_tensor, invoke, get_tensor);
- the float `.onnx` in onnxruntime;
- the Keras model through `model.predict` and as a direct call.

Targets: int8 .tflite p50 <= float ONNX p50, and >= 1000x faster than Keras `predict`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import tfpipeline as tp  # noqa: E402
from tfpipeline._keras import keras  # noqa: E402
from tfpipeline.benchmark import benchmark_artifact, benchmark_keras, latency_figures  # noqa: E402


def interpreter_only(path: Path, x: np.ndarray, runs: int) -> dict[str, float]:
    """The LiteRT interpreter on pre-quantized samples: what the runtime itself costs."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    details_in = interpreter.get_input_details()[0]
    details_out = interpreter.get_output_details()[0]
    scale, zero_point = details_in["quantization"]
    quantized = np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)

    def run(sample):
        interpreter.set_tensor(details_in["index"], sample)
        interpreter.invoke()
        return interpreter.get_tensor(details_out["index"])

    return latency_figures(run, quantized, runs, runs // 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="timed calls per model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = tp.load_config(overrides={"verify.latency_runs": 20})
        run_dir = Path(folder) / "run"
        tp.Pipeline(config, log=lambda line: None, verbose=0).run(run_dir)
        data = tp.prepare_data(config.data)
        x = data.splits.test.arrays()[0]
        int8 = benchmark_artifact(run_dir / "model_int8.tflite", x, args.runs, 200, num_threads=1)
        raw = interpreter_only(run_dir / "model_int8.tflite", x, args.runs)
        onnx = benchmark_artifact(run_dir / "model.onnx", x, args.runs, 200, num_threads=1)
        keras_model = keras.models.load_model(run_dir / "model.keras")
        keras_figures = benchmark_keras(keras_model, x, runs=100, warmup=10)
    rows = [
        ("int8 .tflite, LiteRT, Predictor", int8["latency_ms_p50"], int8["latency_ms_p99"]),
        ("int8 .tflite, LiteRT, interpreter alone", raw["latency_ms_p50"], raw["latency_ms_p99"]),
        ("float .onnx, onnxruntime", onnx["latency_ms_p50"], onnx["latency_ms_p99"]),
        ("Keras model.predict", keras_figures["predict_ms_p50"], keras_figures["predict_ms_p95"]),
        ("Keras direct call", keras_figures["call_ms_p50"], keras_figures["call_ms_p95"]),
    ]
    print("| one sample per call, 1 thread | p50 us | p99 us (Keras: p95) |")
    print("|---|---:|---:|")
    for name, p50, tail in rows:
        print(f"| {name} | {p50 * 1000:.1f} | {tail * 1000:.1f} |")
    print(
        f"int8 Predictor p50 / ONNX p50: {int8['latency_ms_p50'] / onnx['latency_ms_p50']:.2f} "
        "(target <= 1)"
    )
    print(
        f"Keras predict p50 / int8 Predictor p50: "
        f"{keras_figures['predict_ms_p50'] / int8['latency_ms_p50']:,.0f}x (target >= 1000x)"
    )


if __name__ == "__main__":
    main()
