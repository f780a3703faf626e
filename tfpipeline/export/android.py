"""The Android-ready bundle: one `.tflite`, its labels, and a model card an app can follow.

TFLite metadata (labels and normalization embedded in the file, as Android's Task Library
reads them) needs `tflite-support`, whose last release pins protobuf < 4 and cannot be
installed beside TensorFlow 2.21; the model card carries the same facts as plain JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline import __version__
from tfpipeline._atomic import dir_atomic
from tfpipeline.report import file_stats
from tfpipeline.run_folder import LABELS, MODEL_CARD, VOCABULARY, write_labels
from tfpipeline.tokenizer import Tokenizer

BUNDLE_MODEL = "model.tflite"


def write_android_bundle(
    folder: str | Path,
    tflite_path: str | Path,
    *,
    variant: str,
    class_names: tuple[str, ...] | list[str],
    value_range: tuple[float, float],
    figures: dict[str, Any],
    task: str = "classification",
    input_record: dict[str, Any] | None = None,
    int8_input: dict[str, Any] | None = None,
    tokenizer: Tokenizer | None = None,
) -> Path:
    """Writes `folder` (atomically): `model.tflite`, `labels.txt`, `model_card.json` and,
    for a text model, `vocab.txt`.

    Args:
        folder: the bundle folder to write (replaced whole if it exists).
        tflite_path: the verified `.tflite` to ship.
        variant: its variant (`int8`, `float32`, ...).
        class_names: labels in output order (empty for regression).
        value_range: the smallest and largest raw input value seen in training.
        figures: its verified figures (`test_accuracy` or `test_mae`, latency, size).
        task: `"classification"` or `"regression"`. Defaults to `"classification"`.
        input_record: what the input holds (`data.input_spec.describe_input`): every
            position with its column and statistics, or the image format. Defaults to
            `None`.
        int8_input: how an `int8` model takes its input and why (`Int8Input.to_dict`).
            Defaults to `None`.
        tokenizer: a text model's `Tokenizer`, whose vocabulary is written as `vocab.txt`.
            Defaults to `None`.

    Returns:
        The bundle folder.
    """
    tflite_path = Path(tflite_path)
    with dir_atomic(folder) as tmp:
        shutil.copyfile(tflite_path, tmp / BUNDLE_MODEL)
        if class_names:
            write_labels(tmp / LABELS, class_names)
        if tokenizer is not None:
            tokenizer.write_vocabulary(tmp / VOCABULARY)
        card = model_card(tmp / BUNDLE_MODEL, variant, class_names, value_range, figures, task)
        card["input"].update(input_record or {})
        if int8_input:
            card["input"]["int8_input"] = int8_input
        card["model"].update(
            {k: v for k, v in file_stats(tmp / BUNDLE_MODEL).items() if k != "gzip_bytes"}
        )
        (tmp / MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n", "utf-8")
    return Path(folder)


def model_card(
    path: Path,
    variant: str,
    class_names,
    value_range: tuple[float, float],
    figures: dict[str, Any],
    task: str,
) -> dict[str, Any]:
    """Describes a `.tflite` file for an app: what to feed it and how to read its output."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    signature_key, signature = next(iter(interpreter.get_signature_list().items()))
    tensor_in = interpreter.get_input_details()[0]
    tensor_out = interpreter.get_output_details()[0]
    shape = [int(d) for d in tensor_in["shape_signature"]]
    return {
        "tfpipeline_version": __version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "task": task,
        "model": {
            "file": path.name,
            "format": "tflite",
            "variant": variant,
            "runtime": "LiteRT (org.tensorflow.lite / com.google.ai.edge.litert Interpreter)",
            **{
                k: v
                for k, v in figures.items()
                if k.startswith(("test_", "top1_agreement", "latency_ms_p50"))
            },
        },
        "signature": {
            "key": signature_key,
            "inputs": list(signature["inputs"]),
            "outputs": list(signature["outputs"]),
        },
        "input": {
            "name": signature["inputs"][0],
            "tensor_name": tensor_in["name"],
            "shape": shape,
            "dtype": np.dtype(tensor_in["dtype"]).name,
            "layout": _layout(shape),
            "value_range": [float(value_range[0]), float(value_range[1])],
            "preprocessing": "none beyond what this card's input section says (encoding of "
            "table columns, tokenizing a text with vocab.txt, image resize): feed raw values; "
            "the normalization is inside the model",
            "quantization": _quantization(tensor_in),
        },
        "output": {
            "name": signature["outputs"][0],
            "tensor_name": tensor_out["name"],
            "shape": [int(d) for d in tensor_out["shape_signature"]],
            "dtype": np.dtype(tensor_out["dtype"]).name,
            "meaning": "class probabilities (softmax), one per label in labels.txt order"
            if task == "classification"
            else "the predicted value, in the target's own units",
            "quantization": _quantization(tensor_out),
            "labels": list(class_names),
        },
    }


def _layout(shape: list[int]) -> str:
    if len(shape) == 4:
        return "NHWC: [batch, height, width, channels]"
    if len(shape) == 2:
        return "[batch, features]"
    return f"[batch, {', '.join(f'd{i}' for i in range(1, len(shape)))}]"


def _quantization(details: dict) -> dict[str, Any] | None:
    """Scale and zero point of an integer tensor: real = scale * (q - zero_point)."""
    if np.dtype(details["dtype"]).kind == "f":
        return None
    scale, zero_point = details["quantization"]
    if not scale:  # integers that are not quantized reals (token ids)
        return None
    return {
        "scale": float(scale),
        "zero_point": int(zero_point),
        "formula": "real = scale * (quantized - zero_point)",
    }
