"""Predictors: run an exported model in the runtime an app would use.

`.tflite` files run in the LiteRT interpreter (`ai_edge_litert`), `.onnx` files in
onnxruntime, SavedModel folders through `tf.saved_model.load` once their ops are checked
(`model_files.check_saved_model`). Every predictor takes raw float features and returns float
outputs (probabilities for a classifier), quantizing and dequantizing integer tensors itself,
and checks its input before running it. It also takes
what an app has: rows of named raw values for a table model, image files or photos of any
size for an image model, prepared as in training (see `data.input_spec`) from the input
record of the model card or manifest beside the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.errors import DataError, TfpipelineError, UnsupportedModelError
from tfpipeline.record import read_json_object, read_record
from tfpipeline.report import sha256_of
from tfpipeline.run_folder import MODEL_CARD, RunFolder

DEFAULT_BATCH_SIZE = 256


class Predictor:
    """An exported model, loaded in its runtime, with one interface for every format.

    Open one with `Predictor.load(path)`.

    Attributes:
        path: the model file or folder.
        format: `tflite`, `onnx` or `saved_model`.
        input_name: the model's input name.
        input_shape: the shape of one sample (no batch dimension).
        input_dtype: the input's type: `float32`, or `int32` for token ids (a text
            model, which also takes strings: see `predict`).
        labels: class names in output order (from `labels.txt` beside the model), or `None`.
        batch_size: the largest batch run at once; bigger inputs are run in slices.
    """

    format = ""

    def __init__(self, path: Path, batch_size: int = DEFAULT_BATCH_SIZE):
        self.path = path
        self.batch_size = batch_size
        self.labels = _read_labels(path)
        self.input_record = read_input_record(path)
        self.input_name = ""
        self.input_shape: tuple[int, ...] = ()
        self.input_dtype = np.dtype(np.float32)
        self._spec = None

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        num_threads: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        check_manifest: bool = True,
    ) -> Predictor:
        """Opens an exported model in the runtime that matches its format.

        Args:
            path: a `.tflite` file, an `.onnx` file or a SavedModel folder.
            num_threads: CPU threads of the runtime (LiteRT and onnxruntime; TensorFlow
                keeps its process-wide setting); `None` leaves the runtime's default.
                Defaults to `None`.
            batch_size: the largest batch run at once. Defaults to `256`.
            check_manifest: when a `manifest.json` (run folder) or `model_card.json`
                (Android bundle) beside the model records its sha256, refuse a file that
                does not match. Defaults to `True`.

        Returns:
            A `TFLitePredictor`, `OnnxPredictor` or `SavedModelPredictor`.

        Raises:
            TfpipelineError: if the path does not exist, is not one of those formats, cannot
                be read by its runtime (corrupt or truncated), holds a model with more than
                one input, or does not match its recorded sha256.
            UnsupportedModelError: (a TfpipelineError) for a SavedModel whose graphs hold
                ops outside the allow-list of pure computation (`model_files`); nothing of
                it is loaded.
        """
        path = Path(path)
        if not path.exists():
            raise TfpipelineError(f"Model file not found: {path}")
        if batch_size < 1:
            raise ValueError(f"Argument `batch_size` must be >= 1. Received: {batch_size}")
        if path.is_dir() and (path / "saved_model.pb").exists():
            kind = SavedModelPredictor
        elif path.is_file() and path.suffix.lower() == ".tflite":
            kind = TFLitePredictor
        elif path.is_file() and path.suffix.lower() == ".onnx":
            kind = OnnxPredictor
        else:
            raise TfpipelineError(
                f"Cannot tell the format of {path}. Accepted: a .tflite file, an .onnx file or "
                "a SavedModel folder (holding saved_model.pb)."
            )
        if check_manifest:
            checkrecorded_sha256(path)
        return kind(path, num_threads=num_threads, batch_size=batch_size)

    @property
    def input_spec(self):
        """How app inputs (rows, images) become this model's input (`data.input_spec`)."""
        from tfpipeline.data.input_spec import InputSpec

        if self._spec is None:
            record = self.input_record
            if record is None and len(self.input_shape) == 3:  # a bare image model
                record = {"kind": "image"}
            self._spec = InputSpec(record or {}, self.input_shape, self.path.name, self.path.parent)
        return self._spec

    def predict(self, x: Any) -> np.ndarray:
        """Returns the model's float outputs for raw inputs.

        Args:
            x: a batch of samples (`(n, *input_shape)`), or one sample (`input_shape`), of
                raw values. A table model also takes rows by column name: a pandas
                DataFrame, a dict (one row, or columns of values) or a list of dicts (other
                columns are ignored; text is encoded and missing values handled as in
                training). An image model also takes image files (paths), PIL images and
                pixel arrays of any size and channel count, resized as in training. A text
                model takes strings (one, or a list), tokenized as in training with the
                `vocab.txt` beside it, or token ids. An
                audio model also takes WAV files (paths), clips of any length at its sample
                rate and `(samples, sample_rate)` pairs, read, resampled and padded or
                trimmed as in training.

        Returns:
            Float outputs, one row per sample (probabilities for a classifier).

        Raises:
            DataError: (a ValueError) for an input of the wrong shape, a non-numeric dtype, NaN or
                infinite values, values far outside the range the model was trained on
                (when a model card or manifest beside the model records it), pixels that
                look scaled to [0, 1], rows that lack a column, or an unreadable image.
        """
        x = self._check_input(self.input_spec.prepare(x))
        if len(x) <= self.batch_size:
            return self.run(x)
        parts = [self.run(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
        return np.concatenate(parts)

    def predict_classes(self, x: np.ndarray) -> list[str] | np.ndarray:
        """Returns the predicted class of each sample: label names, or indices without labels."""
        outputs = self.predict(x)
        indices = np.argmax(outputs, axis=-1)
        if self.labels is None:
            return indices
        if len(self.labels) != outputs.shape[-1]:
            raise TfpipelineError(
                f"labels.txt beside {self.path.name} lists {len(self.labels)} labels but the "
                f"model has {outputs.shape[-1]} outputs; it does not belong to this model."
            )
        return [self.labels[i] for i in indices]

    def run(self, x: np.ndarray) -> np.ndarray:
        """Runs one batch (cast to `input_dtype`) as it is, without the checks of
        `predict` (for timing)."""
        raise NotImplementedError

    def _check_input(self, x) -> np.ndarray:
        try:
            array = np.asarray(x)
        except (TypeError, ValueError):  # ragged nested lists
            raise DataError(
                f"Input to {self.path.name} must be an array of shape (n, "
                f"{', '.join(map(str, self.input_shape))}); received a ragged sequence."
            ) from None
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            raise DataError(
                f"Input to {self.path.name} must be numeric (raw features). "
                f"Received dtype {array.dtype}."
            )
        if np.iscomplexobj(array):
            raise DataError(f"Input to {self.path.name} must be real numbers, not complex.")
        if self.input_dtype.kind == "i" and np.any(array != np.round(array)):
            raise DataError(
                f"Input to {self.path.name} must be whole token ids (int32): it is a text "
                "model. Pass strings, or the ids of its tokenizer."
            )
        array = array.astype(self.input_dtype)
        if array.shape == self.input_shape:
            array = array[None]
        if array.shape[1:] != self.input_shape:
            raise DataError(
                f"Input to {self.path.name} must have shape (n, "
                f"{', '.join(map(str, self.input_shape))}) or {self.input_shape} for one sample. "
                f"Received shape {array.shape}."
            )
        if not np.all(np.isfinite(array)):
            raise DataError(f"Input to {self.path.name} holds NaN or infinite values.")
        self.input_spec.check_values(array)
        return array


class TFLitePredictor(Predictor):
    """Runs a `.tflite` file in the LiteRT interpreter (see `Predictor`)."""

    format = "tflite"

    def __init__(self, path, num_threads=None, batch_size=DEFAULT_BATCH_SIZE):
        from ai_edge_litert.interpreter import Interpreter

        super().__init__(Path(path), batch_size)
        try:
            self._interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
        except (ValueError, RuntimeError) as exc:
            raise TfpipelineError(
                f"{self.path} is not a readable .tflite model (corrupt or truncated?): {exc}"
            ) from None
        _refuse_select_tf_ops(self.path, self._interpreter)
        inputs = self._interpreter.get_input_details()
        _require_one_input(self.path, [d["name"] for d in inputs])
        self._input = inputs[0]
        self._output = self._interpreter.get_output_details()[0]
        self._in_q, self._out_q = _Quantization(self._input), _Quantization(self._output)
        self.input_name = self._input["name"]
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])
        if np.dtype(self._input["dtype"]).kind == "i" and not self._in_q.scale:
            self.input_dtype = np.dtype(self._input["dtype"])  # token ids, not quantized
        self._batch = None

    def run(self, x: np.ndarray) -> np.ndarray:
        if self._batch != len(x):
            self._interpreter.resize_tensor_input(self._input["index"], list(x.shape))
            self._interpreter.allocate_tensors()
            self._batch = len(x)
        self._interpreter.set_tensor(self._input["index"], self._in_q.quantize(x))
        self._interpreter.invoke()
        return self._out_q.dequantize(self._interpreter.get_tensor(self._output["index"]))


class _Quantization:
    """Float <-> integer conversion of one tensor: real = scale * (quantized - zero_point).

    Written with plain ufuncs on precomputed constants: on one sample, `np.clip` and float64
    arithmetic cost more than the int8 model itself.
    """

    def __init__(self, details: dict):
        self.dtype = np.dtype(details["dtype"])
        self.is_float = self.dtype.kind == "f"
        scale, zero_point = details["quantization"] if not self.is_float else (1.0, 0)
        self.scale = np.float32(scale)
        self.inverse = np.float32(1.0 / scale) if scale else np.float32(1.0)
        self.zero_point = np.float32(zero_point)
        if not self.is_float:
            info = np.iinfo(self.dtype)
            self.low, self.high = np.float32(info.min), np.float32(info.max)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        if self.is_float:
            return x
        q = np.rint(x * self.inverse) + self.zero_point
        return np.minimum(np.maximum(q, self.low), self.high).astype(self.dtype)

    def dequantize(self, y: np.ndarray) -> np.ndarray:
        if self.is_float:
            return y.astype(np.float32, copy=True)
        return (y.astype(np.float32) - self.zero_point) * self.scale


class OnnxPredictor(Predictor):
    """Runs an `.onnx` file in onnxruntime on the CPU (see `Predictor`)."""

    format = "onnx"

    def __init__(self, path, num_threads=None, batch_size=DEFAULT_BATCH_SIZE):
        import onnxruntime

        super().__init__(Path(path), batch_size)
        options = onnxruntime.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own classes for a bad file
            raise TfpipelineError(
                f"{self.path} is not a readable .onnx model (corrupt or truncated?): {exc}"
            ) from None
        inputs = self._session.get_inputs()
        _require_one_input(self.path, [i.name for i in inputs])
        self.input_name = inputs[0].name
        self.input_shape = tuple(int(d) for d in inputs[0].shape[1:])
        if inputs[0].type in _ONNX_INTEGER_INPUTS:
            self.input_dtype = np.dtype(_ONNX_INTEGER_INPUTS[inputs[0].type])

    def run(self, x: np.ndarray) -> np.ndarray:
        feed = {self.input_name: x.astype(self.input_dtype, copy=False)}
        return self._session.run(None, feed)[0].astype(np.float32)


_ONNX_INTEGER_INPUTS = {"tensor(int32)": np.int32, "tensor(int64)": np.int64}


class SavedModelPredictor(Predictor):
    """Runs a SavedModel folder's `serving_default` signature (see `Predictor`)."""

    format = "saved_model"

    def __init__(self, path, num_threads=None, batch_size=DEFAULT_BATCH_SIZE):
        from tfpipeline._keras import tf
        from tfpipeline.model_files import check_saved_model

        super().__init__(Path(path), batch_size)
        check_saved_model(self.path)  # its ops, read without loading it
        self._tf = tf
        try:
            self._signature = tf.saved_model.load(str(self.path)).signatures["serving_default"]
        except Exception as exc:
            raise TfpipelineError(
                f"{self.path} is not a readable SavedModel with a serving_default signature: {exc}"
            ) from None
        specs = self._signature.structured_input_signature[1]
        _require_one_input(self.path, list(specs))
        self.input_name, spec = next(iter(specs.items()))
        self.input_shape = tuple(int(d) for d in spec.shape[1:])
        if spec.dtype.is_integer:
            self.input_dtype = np.dtype(spec.dtype.as_numpy_dtype)

    def run(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(self.input_dtype, copy=False)
        outputs = self._signature(**{self.input_name: self._tf.constant(x)})
        return next(iter(outputs.values())).numpy().astype(np.float32)


def load_predictor(path: str | Path, **options) -> Predictor:
    """Opens an exported model in the runtime that matches its format (`Predictor.load`)."""
    return Predictor.load(path, **options)


def checkrecorded_sha256(path: Path) -> None:
    """Refuses a model whose sha256 differs from the one its run or bundle recorded.

    Looks for `manifest.json` (a run folder) and `model_card.json` (an Android bundle) in the
    model's folder; a model neither records is accepted as it is.
    """
    recorded = recorded_sha256(path)
    if recorded is None:
        return
    source, expected = recorded
    actual = sha256_of(path)
    if actual != expected.lower():  # the digest as hex text, either case
        raise TfpipelineError(
            f"{path} does not match the sha256 recorded in {source} ({expected[:12]}…, the "
            f"file has {actual[:12]}…): it changed after it was exported and verified. "
            "Export it again, or load it with check_manifest=False to run it anyway."
        )


def recorded_sha256(path: Path) -> tuple[Path, str] | None:
    folder = RunFolder(path.parent)
    if folder.manifest.is_file():
        artifact = read_record(folder.manifest).artifact(path.name)
        if artifact is not None and artifact.sha256 is not None:
            return folder.manifest, artifact.sha256
    card = folder.file(MODEL_CARD)
    if card.is_file():
        model = read_json_object(card).get("model", {})
        if not isinstance(model, dict):
            raise TfpipelineError(f"{card} is malformed: `model` must be an object.")
        if model.get("file") == path.name and "sha256" in model:
            return card, _sha256_text(model["sha256"], card)
    return None


def _sha256_text(value, source: Path) -> str:
    if not isinstance(value, str) or len(value) != 64:
        raise TfpipelineError(f"{source} is malformed: a sha256 must be 64 hexadecimal digits.")
    return value


def _read_labels(path: Path) -> list[str] | None:
    labels = RunFolder(path.parent).labels
    if not labels.is_file():
        return None
    try:
        text = labels.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TfpipelineError(f"Cannot read {labels} as UTF-8 text: {exc}") from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    return names or None


def read_input_record(path: Path) -> dict | None:
    """The input record (see `describe_input`) of the bundle's model card or the run's
    manifest beside the model, or `None`."""
    folder = RunFolder(path.parent)
    card = folder.file(MODEL_CARD)
    card_record = read_json_object(card) if card.is_file() else None
    if card_record is not None and _names_model(card_record, path):
        source, record = card, card_record.get("input")
    elif folder.manifest.is_file():
        data = read_record(folder.manifest).data
        source, record = folder.manifest, None if data is None else data.input
    else:
        return None
    if record is not None and not isinstance(record, dict):
        raise TfpipelineError(f"{source}: its input record must be a JSON object.")
    return record


def _names_model(card: dict, path: Path) -> bool:
    """Whether a model card describes the model `path` (a card of another file does not)."""
    model = card.get("model")
    return not isinstance(model, dict) or model.get("file", path.name) == path.name


def _refuse_select_tf_ops(path: Path, interpreter) -> None:
    """Refuses Select TF (`Flex…`) and custom ops: they run TensorFlow kernels (files,
    network) that LiteRT's built-in set leaves out, and need a delegate this package does
    not load."""
    ops = {d["op_name"] for d in interpreter._get_ops_details()}  # the interpreter's listing
    foreign = sorted(op for op in ops if op.startswith("Flex") or op != op.upper())
    if foreign:
        raise UnsupportedModelError(
            f"{path} holds ops outside LiteRT's built-in set ({', '.join(foreign[:8])}): Select "
            "TF and custom ops are not run here. Export the model without them, or run it "
            "yourself with the flex delegate if you trust it."
        )


def _require_one_input(path: Path, names: list[str]) -> None:
    if len(names) != 1:
        raise TfpipelineError(
            f"{path} has {len(names)} inputs ({', '.join(names)}); the predictors take models "
            "with one input tensor. Concatenate the features into one input before exporting."
        )
