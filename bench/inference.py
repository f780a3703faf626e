"""Single-sample inference: LiteRT against onnxruntime at the same precision, and Keras.

Usage: python bench/inference.py [--runs N]

Runs the default pipeline once (tiny latency settings) into a temporary folder, quantizes
its float `.onnx` to int8 with onnxruntime's static QDQ quantization (calibrated on the
training split), then, in one process and on the same test samples, times one sample per
call with one CPU thread each:

- every exported model through `Predictor.predict` (what an app calls: input checks, float
  in, float out) and through its runtime alone (LiteRT: set_tensor, invoke, get_tensor on
  an input already quantized; onnxruntime: `session.run`, which quantizes inside the graph);
  the int8 `.tflite` also through `Predictor.run` (no input checks);
- the Keras model as a direct call, `model(x, training=False)`, and through `model.predict`.

The timed calls are spread over rounds that take turns, so load from other work on the
machine falls on every model alike. Prints each path's p50 and p99, each model's test
accuracy, and the ratios of p50s: int8 vs int8, float vs float, int8 LiteRT vs float ONNX
(different precisions) and Keras against the int8 `.tflite`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import tfpipeline as tp  # noqa: E402
from tfpipeline._keras import keras  # noqa: E402

ROUNDS = 5
LITERT_INT8 = "int8 .tflite, LiteRT"
ORT_INT8 = "int8 .onnx (QDQ, int8 activations), onnxruntime"
ORT_UINT8 = "int8 .onnx (QDQ, uint8 activations), onnxruntime"
LITERT_FLOAT = "float32 .tflite, LiteRT"
ORT_FLOAT = "float32 .onnx, onnxruntime"
SHORT = {
    LITERT_INT8: "LiteRT int8",
    ORT_INT8: "onnxruntime int8 (int8 act.)",
    ORT_UINT8: "onnxruntime int8 (uint8 act.)",
    LITERT_FLOAT: "LiteRT float32",
    ORT_FLOAT: "onnxruntime float32",
}


def quantize_onnx(float_path: Path, out: Path, x_train: np.ndarray, activations: str) -> Path:
    """Static QDQ int8 quantization of an `.onnx` model, calibrated on training samples.

    Args:
        activations: `"int8"` (as in the int8 `.tflite`) or `"uint8"` (onnxruntime's
            advice for x86 CPUs); weights are int8 either way.
    """
    import onnxruntime
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    input_name = (
        onnxruntime.InferenceSession(str(float_path), providers=["CPUExecutionProvider"])
        .get_inputs()[0]
        .name
    )

    class TrainingSamples(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(np.array_split(x_train.astype(np.float32), 16))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    prepared = out.with_suffix(".prep.onnx")
    # Symbolic shape inference needs sympy, which is not installed here; ONNX's own shape
    # inference covers an MLP's static shapes.
    quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(out),
        TrainingSamples(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8 if activations == "int8" else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    prepared.unlink()
    return out


def litert_alone(path: Path, x: np.ndarray):
    """The LiteRT interpreter on samples already in its input type: the runtime's own cost."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    details_in = interpreter.get_input_details()[0]
    details_out = interpreter.get_output_details()[0]
    if details_in["dtype"] == np.int8:
        scale, zero_point = details_in["quantization"]
        x = np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)

    def run(sample):
        interpreter.set_tensor(details_in["index"], sample)
        interpreter.invoke()
        return interpreter.get_tensor(details_out["index"])

    return run, x


def onnxruntime_alone(path: Path, x: np.ndarray):
    """onnxruntime's `session.run` on float32 samples, one thread (as `Predictor` sets it)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return (lambda sample: session.run(None, {name: sample})), x


def time_rounds(paths: dict, rounds: int) -> dict[str, np.ndarray]:
    """Microseconds of each call, the paths taking turns round by round.

    Args:
        paths: name -> `(run, samples, calls)`: `calls` timed single-sample calls in all.
    """
    timings = {name: [] for name in paths}
    for run, samples, calls in paths.values():  # warm-up, untimed
        for i in range(max(3, calls // (10 * rounds))):
            run(samples[i % len(samples)][None])
    for _ in range(rounds):
        for name, (run, samples, calls) in paths.items():
            for i in range(calls // rounds):
                sample = samples[i % len(samples)][None]
                start = time.perf_counter()
                run(sample)
                timings[name].append((time.perf_counter() - start) * 1e6)
    return {name: np.array(values) for name, values in timings.items()}


def accuracy(predict, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(predict(x), axis=-1) == y))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="timed calls per exported model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config = tp.load_config(overrides={"verify.latency_runs": 20})
        run_dir = Path(folder) / "run"
        tp.Pipeline(config, log=lambda line: None, verbose=0).run(run_dir)
        data = tp.prepare_data(config.data)
        x_train = data.splits.train.arrays()[0]
        x, y = data.splits.test.arrays()
        # Beside the run's own files, so that Predictor reads the same input record for all.
        for activations in ("int8", "uint8"):
            out = run_dir / f"model_{activations}_qdq.onnx"
            quantize_onnx(run_dir / "model.onnx", out, x_train, activations)
        models = {
            LITERT_INT8: ("model_int8.tflite", litert_alone),
            ORT_INT8: ("model_int8_qdq.onnx", onnxruntime_alone),
            ORT_UINT8: ("model_uint8_qdq.onnx", onnxruntime_alone),
            LITERT_FLOAT: ("model_float32.tflite", litert_alone),
            ORT_FLOAT: ("model.onnx", onnxruntime_alone),
        }
        paths, accuracies = {}, {}
        for name, (file, alone) in models.items():
            predictor = tp.Predictor.load(run_dir / file, num_threads=1)
            accuracies[name] = accuracy(predictor.predict, x, y)
            paths[f"{name}, Predictor.predict"] = (predictor.predict, x, args.runs)
            if file == "model_int8.tflite":
                paths[f"{name}, Predictor.run"] = (predictor.run, x, args.runs)
            run, samples = alone(run_dir / file, x)
            paths[f"{name}, runtime alone"] = (run, samples, args.runs)
        model = keras.models.load_model(run_dir / "model.keras")
        accuracies["Keras model"] = accuracy(lambda b: model(b, training=False).numpy(), x, y)
        paths["Keras, direct call"] = (lambda s: model(s, training=False).numpy(), x, 400)
        paths["Keras, model.predict"] = (lambda s: model.predict(s, verbose=0), x, 100)
        timings = time_rounds(paths, ROUNDS)
    report(timings, accuracies)


def report(timings: dict[str, np.ndarray], accuracies: dict[str, float]) -> None:
    p50 = {name: float(np.percentile(t, 50)) for name, t in timings.items()}
    print("| one sample per call, 1 thread | calls | p50 us | p99 us |")
    print("|---|---:|---:|---:|")
    for name, t in timings.items():
        print(f"| {name} | {len(t)} | {p50[name]:.1f} | {np.percentile(t, 99):.1f} |")
    named = (f"{SHORT.get(name, name)} {value:.4f}" for name, value in accuracies.items())
    print("test accuracy: " + ", ".join(named))

    def ratio(label: str, a: str, b: str, path: str, note: str = "") -> None:
        figure = p50[f"{a}, {path}"] / p50[f"{b}, {path}"]
        print(f"  {label}, {path}: {SHORT[a]} / {SHORT[b]}: {figure:.2f}{note}")

    print("p50 ratios (below 1: the first is faster):")
    for path in ("Predictor.predict", "runtime alone"):
        ratio("int8 vs int8", LITERT_INT8, ORT_INT8, path)
        ratio("int8 vs int8", LITERT_INT8, ORT_UINT8, path)
        ratio("float vs float", LITERT_FLOAT, ORT_FLOAT, path)
    ratio("different precisions", LITERT_INT8, ORT_FLOAT, "Predictor.predict", " (target <= 1)")
    litert = f"{LITERT_INT8}, Predictor.predict"
    for keras_path in ("Keras, direct call", "Keras, model.predict"):
        print(
            f"  {keras_path} / {SHORT[LITERT_INT8]} Predictor.predict: "
            f"{p50[keras_path] / p50[litert]:,.0f}x"
        )


if __name__ == "__main__":
    main()
