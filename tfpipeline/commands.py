"""The deployment commands behind `tfpipeline verify`, `predict` and `benchmark`.

Each works on files that already exist (a run folder's artifacts, an Android bundle, any
`.tflite`, `.onnx` or SavedModel) and never changes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.config import TFLITE_VARIANTS, load_config
from tfpipeline.data.images import IMAGE_SUFFIXES
from tfpipeline.data.tabular import check_column_names, csv_rows, is_number, read_csv_table
from tfpipeline.errors import (
    ConfigError,
    DataError,
    TfpipelineError,
    UnsupportedModelError,
    not_a_file,
)
from tfpipeline.inference import Predictor, read_input_record, recorded_sha256
from tfpipeline.record import MalformedRecordError, read_json_object, read_record
from tfpipeline.report import sha256_of
from tfpipeline.run_folder import (
    ANDROID_DIR,
    MANIFEST,
    MODEL_CARD,
    RUN_CONFIG,
    SAVED_MODEL,
    RunFolder,
    tflite_file,
)

DATA_SOURCES = {".csv": "csv", ".tfrecord": "tfrecord", ".tfrecords": "tfrecord"}


def config_for_model(model: Path, config_file: Path | None, overrides, data: Path | None):
    """The config that describes a model's data: `--config`, else the run's own, else the default.

    A model inside a run folder (with `run_config.yaml`), or in the Android bundle inside
    one, is judged on that run's data and split; `--data` replaces the data file (its kind
    read from its suffix).

    Raises:
        ConfigError: for a text or audio model without a config to find: the default data
            cannot feed it.
    """
    source = config_file or _run_config_of(model)
    overrides = list(overrides)
    if data is not None:
        overrides += _data_overrides(data)
    if source is None and data is None:
        kind = (read_input_record(model) or {}).get("kind") if model.exists() else None
        if kind in ("text", "audio"):
            raise ConfigError(
                f"{model} is a{'n' if kind == 'audio' else ''} {kind} model and no run config "
                "lies beside it (nor above its Android bundle), so the default data (digits) "
                "cannot feed it. Give --config with the run's run_config.yaml."
            )
    return load_config(source, overrides)


def _run_config_of(model: Path) -> Path | None:
    """The run's config beside `model`, or above it when `model` is in the run's bundle."""
    folders = [model.parent] + ([model.parent.parent] if model.parent.name == ANDROID_DIR else [])
    return next((f / RUN_CONFIG for f in folders if (f / RUN_CONFIG).is_file()), None)


def verify_command(model: Path, config, reference: Path | None, variant: str | None, log) -> bool:
    """Runs `model` on the config's test split and checks it; returns whether it passed."""
    from tfpipeline.data import prepare_data
    from tfpipeline.evaluation import baseline_scores
    from tfpipeline.export.verify import check_artifact, measure_artifact

    data = prepare_data(config.data, text=config.model.text)
    x, y = data.splits.test.arrays()
    variant = variant or _recorded_variant(model) or _variant_from_name(model)
    reference = reference or _default_reference(model)
    if reference is not None:
        outputs = Predictor.load(reference).predict(x)
        log(f"reference: {reference} (float outputs compared)")
    else:
        outputs = Predictor.load(model).predict(x)  # no reference: only accuracy is judged
        log("reference: none (give --reference to compare outputs); judging accuracy only")
    figures = measure_artifact(
        model,
        x,
        y,
        outputs,
        config.verify.latency_runs,
        config.verify.latency_warmup,
        task=data.task,
        tie_margin=config.verify.tie_margin,
    )
    if reference is None:  # nothing to compare outputs with
        compared = ("top1_agreement", "decisive_agreement", "ties", "max_abs_diff")
        compared += ("max_rel_diff", "keras_test_mae")
        figures = {k: v for k, v in figures.items() if k not in compared}
    if data.task == "regression":  # judged against the mean predictor too
        baseline = baseline_scores(data.splits.train.y, y, data.task)
        figures["baseline_test_mae"] = baseline["mae"]
    failures = check_artifact(model.name, variant, figures, config.verify)
    log(f"{model} ({variant}) on {len(y)} test samples of {data.name}:")
    for name, value in figures.items():
        log(f"  {name}: {value:.6g}")
    for failure in failures:
        log(f"FAIL {failure}")
    log("passed" if not failures else "failed")
    return not failures


def read_inputs(path: str | Path, predictor) -> Any:
    """Reads samples for a model from a `.npy`, a CSV, an image or a WAV file; for a text
    model, the text itself or a `.txt` file.

    A CSV with a header row is read as rows by column name when the model records its
    columns (model card or manifest beside it); otherwise as numbers, one sample per row. An
    image is prepared as in training (see `Predictor.predict`); a text is tokenized so.
    """
    if predictor.input_spec.kind == "text":
        return [_read_text_input(str(path))]
    path = Path(path)
    if not path.is_file() and predictor.input_dtype.kind == "i":
        raise DataError(
            f"{predictor.path.name} takes token ids (int32): it is a text model, but no model "
            "card (model_card.json) or run manifest beside it says how to tokenize, so it "
            f"cannot take the text {str(path)[:40]!r}. Keep it with its bundle's "
            "model_card.json and vocab.txt, or give a .npy file of token ids."
        )
    if not path.is_file():
        raise DataError(f"Input file {not_a_file(path)}: {path}")
    input_shape = predictor.input_shape
    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = load_npy(path)
    elif suffix == ".csv" and _named_columns(path, predictor):
        header, body = read_csv_table(path)
        return {name: [row[i] for row in body] for i, name in enumerate(header)}
    elif suffix == ".csv":
        array = _read_numeric_csv(path)
    elif suffix == ".wav":
        if len(input_shape) != 1:
            raise DataError(
                f"{path.name} is a WAV file, but the model takes samples of shape "
                f"{input_shape}, not (samples,) of audio. Give a .npy or .csv file instead."
            )
        return [path]  # read, resampled and padded or trimmed by the predictor, as in training
    elif suffix in IMAGE_SUFFIXES:
        if len(input_shape) != 3:
            raise DataError(
                f"{path.name} is an image, but the model takes samples of shape {input_shape}, "
                "not (height, width, channels). Give a .npy or .csv file instead."
            )
        return [path]  # decoded and resized by the predictor, as in training
    else:
        raise DataError(
            f"Cannot read inputs from {path.name}: accepted are .npy, .csv (rows under a "
            "header of column names, or numbers, one sample per row), images "
            f"({', '.join(IMAGE_SUFFIXES)}) and .wav audio."
        )
    if array.shape == input_shape:
        array = array[None]
    if array.ndim == 2 and len(input_shape) > 1 and array.shape[1] == np.prod(input_shape):
        array = array.reshape(-1, *input_shape)  # flattened samples, one per row
    return np.asarray(array, dtype=np.float32)


def _read_text_input(text: str) -> str:
    """The text of a `.txt` file named by `text`, or `text` itself."""
    from tfpipeline.data.text import TEXT_SUFFIX, read_text_file

    path = Path(text)
    if len(text) > 4096 or path.suffix.lower() != TEXT_SUFFIX:
        if len(text) <= 4096 and path.is_file():
            raise DataError(
                f"{path} is a file, but a text model takes a text, or a {TEXT_SUFFIX} file "
                "holding one."
            )
        return text
    if not path.is_file():
        raise DataError(
            f"Text file {not_a_file(path)}: {path}. (To classify the words themselves, give "
            f"a text that does not end in {TEXT_SUFFIX}.)"
        )
    content, reason = read_text_file(path)
    if content is None:
        raise DataError(f"Cannot read text file {path}: {reason}.")
    return content


def load_npy(path: Path) -> np.ndarray:
    """Reads a `.npy` file of samples: real numbers, at least one sample, no pickled objects.

    Raises:
        DataError: naming the file, for a missing file, one that is not a whole `.npy` file
            (cut short, or a header that promises more data than it holds), an object,
            text or complex array, or one that holds no samples.
    """
    if not path.is_file():
        raise DataError(f"Input file {not_a_file(path)}: {path}")
    _check_npy_size(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # object arrays, not a .npy file, cut short
        first = str(exc).split(". ")[0]
        raise DataError(
            f"Cannot read {path} as a NumPy .npy file of numbers ({first}); write it with "
            "numpy.save from a numeric array."
        ) from None
    if not isinstance(array, np.ndarray):  # np.load reads .npz archives too
        raise DataError(f"{path} is not a .npy array file (an .npz archive?); give one array.")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise DataError(
            f"{path}: inputs must be real numbers; received complex values ({array.dtype})."
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(
            f"{path}: inputs must be numeric (raw features). Received dtype {array.dtype}."
        )
    if array.ndim == 0:
        raise DataError(f"{path} holds a single number, not samples: save an array of them.")
    if array.size == 0:
        raise DataError(f"{path} holds no samples (shape {array.shape}); give at least one.")
    return array


def _check_npy_size(path: Path) -> None:
    """Refuses a `.npy` file whose header promises more data than the file holds (before
    NumPy allocates what the header asks for). Other faults are left to `np.load`."""
    from numpy.lib import format as npy

    try:
        with open(path, "rb") as handle:
            version = npy.read_magic(handle)
            read_header = npy.read_array_header_1_0 if version == (1, 0) else None
            read_header = read_header or npy.read_array_header_2_0
            shape, _, dtype = read_header(handle)
            start = handle.tell()
    except (ValueError, OSError, EOFError):  # not a .npy header: np.load says what is wrong
        return
    if dtype.hasobject:
        return
    promised = int(np.prod(shape, dtype=object)) * dtype.itemsize
    held = path.stat().st_size - start
    if held < promised:
        raise DataError(
            f"{path} is not a whole .npy file: its header promises shape {tuple(shape)} "
            f"({promised:,} bytes of {dtype}) but the file holds {held:,} bytes of data "
            "(cut short?). Write it again with numpy.save."
        )


def predict_command(model: Path, inputs: str | Path, top: int, log) -> None:
    """Prints each sample's predicted label (top `top`) with its probability."""
    predictor = Predictor.load(model)
    outputs = predictor.predict(read_inputs(inputs, predictor))
    labels = predictor.labels or [str(i) for i in range(outputs.shape[1])]
    for index, row in enumerate(outputs):
        if outputs.shape[1] == 1:
            log(f"{index}: {row[0]:.6g}")
            continue
        best = np.argsort(row)[::-1][:top]
        log(f"{index}: " + ", ".join(f"{labels[i]} {row[i]:.4f}" for i in best))


def benchmark_command(
    models: list[Path], keras_file: Path | None, x: np.ndarray, runs: int, threads, log
) -> list[dict[str, Any]]:
    """Times every model (and a Keras model) on the same samples; prints and returns a table."""
    from tfpipeline.benchmark import benchmark_artifact, benchmark_keras

    keras_model = load_keras_file(keras_file) if keras_file is not None else None  # checked first
    rows = []
    for model in models:
        figures = benchmark_artifact(
            model, x, runs=runs, warmup=max(1, runs // 10), num_threads=threads
        )
        rows.append({"model": str(model), **figures})
    if keras_model is not None:
        figures = benchmark_keras(keras_model, x, runs=min(runs, 50))
        rows.append(
            {
                "model": f"{keras_file} (Keras predict)",
                "latency_ms_p50": figures["predict_ms_p50"],
                "latency_ms_p95": figures["predict_ms_p95"],
            }
        )
        rows.append(
            {
                "model": f"{keras_file} (Keras direct call)",
                "latency_ms_p50": figures["call_ms_p50"],
                "latency_ms_p95": figures["call_ms_p95"],
                "batch32_samples_per_s": figures["batch32_samples_per_s"],
            }
        )
    log(benchmark_table(rows))
    return rows


def benchmark_table(rows: list[dict[str, Any]]) -> str:
    """The benchmark rows as a Markdown table (blank where a figure does not apply)."""
    columns = [
        ("load_ms", "load ms", "{:.1f}"),
        ("latency_ms_p50", "p50 ms", "{:.4f}"),
        ("latency_ms_p95", "p95 ms", "{:.4f}"),
        ("latency_ms_p99", "p99 ms", "{:.4f}"),
        ("batch32_samples_per_s", "batch-32/s", "{:,.0f}"),
        ("memory_mb", "memory MB", "{:.1f}"),
    ]
    lines = [
        "| model | " + " | ".join(title for _, title, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for row in rows:
        cells = [fmt.format(row[key]) if key in row else "" for key, _, fmt in columns]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _data_overrides(data: Path) -> list[str]:
    if data.is_dir():
        return ["data.source=image_dir", f"data.path={json.dumps(str(data))}"]
    source = DATA_SOURCES.get(data.suffix.lower())
    if source is None:
        raise ConfigError(
            f"Cannot tell the kind of data file {data.name}: --data takes a .csv file, a "
            ".tfrecord file or a folder of images (one sub-folder per class)."
        )
    return [f"data.source={source}", f"data.path={json.dumps(str(data))}"]


def _recorded_variant(model: Path) -> str | None:
    """The variant the run's manifest or the bundle's model card records for `model`."""
    folder = RunFolder(model.parent)
    try:
        artifact = (
            read_record(folder.manifest).artifact(model.name) if folder.manifest.is_file() else None
        )
        if artifact is not None:
            return artifact.variant
        card = folder.file(MODEL_CARD)
        if card.is_file():
            variant = read_json_object(card).get("model", {}).get("variant")
            return variant if isinstance(variant, str) else None
    except (AttributeError, TypeError, MalformedRecordError):  # judged by the file's name
        return None
    return None


def _variant_from_name(model: Path) -> str:
    stem = model.stem.lower()
    return next((v for v in TFLITE_VARIANTS if stem.endswith(v)), "float32")


def _default_reference(model: Path) -> Path | None:
    """The run's float model beside `model` (SavedModel, else the float32 .tflite), taken
    only when the run's `manifest.json` records both files and both match their sha256: a
    model the user did not name is never loaded from a folder someone else may have filled."""
    if not _recorded_in_manifest(model):
        return None
    for name in (SAVED_MODEL, tflite_file("float32")):
        candidate = model.parent / name
        if (
            candidate.exists()
            and candidate.resolve() != model.resolve()
            and _recorded_in_manifest(candidate)
        ):
            return candidate
    return None


def _recorded_in_manifest(path: Path) -> bool:
    """Whether the manifest beside `path` records it with the sha256 it has now."""
    try:
        recorded = recorded_sha256(path)
    except TfpipelineError:  # a malformed record vouches for nothing
        return False
    if recorded is None or recorded[0].name != MANIFEST:
        return False
    return sha256_of(path) == recorded[1]


def _read_numeric_csv(path: Path) -> np.ndarray:
    rows = [row for _, row in csv_rows(path)]
    if rows and not all(is_number(cell) for cell in rows[0]):
        check_column_names([cell.strip() for cell in rows[0]], f"CSV file {path}")
        rows = rows[1:]  # a header row
    if not rows:
        raise DataError(f"CSV file {path} holds no samples: give one sample per row.")
    for number, row in enumerate(rows, start=2):
        bad = [cell for cell in row if not is_number(cell)]
        if bad:
            raise DataError(
                f"{path.name}: inputs must be numbers only, one sample per row; row {number} "
                f"holds {bad[0]!r}."
            )
    if not rows or len({len(row) for row in rows}) != 1:
        raise DataError(f"{path.name}: expected rows of equally many numbers.")
    return np.asarray(rows, dtype=np.float32)


def _named_columns(path: Path, predictor) -> bool:
    """Whether a CSV file's header names columns of the model's input (rows by name),
    rather than heading plain numbers."""
    encoding = predictor.input_spec.encoding
    first = next((row for _, row in csv_rows(path)), [])
    if encoding is None or not first or all(is_number(cell) for cell in first):
        return False
    return bool({c.name for c in encoding.columns} & {cell.strip() for cell in first})


def load_keras_file(path: Path):
    """Loads a `.keras` file safely: checked first, then loaded in Keras's `safe_mode`.

    The file's `config.json` is read before Keras sees it and a file that names Python
    modules outside Keras and tfpipeline is refused (`model_files.check_keras_file`); safe
    mode then refuses code stored in it.

    Raises:
        UnsupportedModelError: for a file that holds code (a `Lambda` layer), names other
            modules, a custom class Keras does not know, or is not a `.keras` file; named,
            with what to do.
    """
    from tfpipeline._keras import keras
    from tfpipeline.model_files import check_keras_file

    if path.suffix.lower() != ".keras" or not path.is_file():
        raise UnsupportedModelError(
            f"Cannot load {path}: tfpipeline loads Keras models from `.keras` files only (not "
            "legacy .h5 files or SavedModel folders, which can carry code). Save the model "
            "with `model.save('model.keras')`."
        )
    check_keras_file(path)
    import tfpipeline.audio_frontend  # noqa: F401  (registers the audio layers with Keras)

    try:
        return keras.models.load_model(path, safe_mode=True)
    except (ValueError, TypeError, OSError) as exc:
        first = str(exc).split(". ")[0]
        raise UnsupportedModelError(
            f"Cannot load {path}: {first}. tfpipeline loads Keras files in safe mode, so "
            "layers that carry code (Lambda) or custom classes are refused; load the model "
            "yourself in Python (with its custom_objects, if you trust it) and export it "
            "with the API."
        ) from None
