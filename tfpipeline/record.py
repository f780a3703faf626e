"""The run record: the one definition of `manifest.json`.

Each stage hands back its part (`DataSummary`, `TrainingRecord`, `CompressionRecord`, one
`ArtifactRecord` per exported file, `AndroidRecord`); `RunRecord` holds them all and is what
the reports, the deployment commands and `Predictor` read. `to_dict` writes the manifest's
keys and `from_dict` reads them back; the two are exact inverses. `from_dict` reads files it
did not write (a manifest is untrusted input): a field of the wrong type is refused by name.
Pure Python, so reading a record never imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import re
import stat
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfpipeline._atomic import write_bytes_atomic
from tfpipeline.errors import TfpipelineError

# Keys of an artifact's record that are not measured figures.
_ARTIFACT_FILE_KEYS = ("format", "variant", "path", "size_bytes", "gzip_bytes", "sha256")
_ARTIFACT_LATER_KEYS = (
    "ops",
    "float_ops",
    "passed",
    "diagnosis",
    "removed",
    "compression_ratio",
    "gzip_compression_ratio",
)
MAX_RECORD_BYTES = 64 * 2**20  # a manifest or model card is tens of KiB; refuse what is not
_KERAS_TEST = "keras_test_"  # the trained Keras model's test scores, one key each
_COMPRESSED_TEST = "test_"  # the compressed Keras model's test scores, one key each


class MalformedRecordError(TfpipelineError):
    """A manifest or model card whose content is not what this package writes."""


@dataclass(frozen=True)
class ArtifactRecord:
    """One exported file and what was measured on it in its own runtime.

    Attributes:
        format: `tflite`, `onnx` or `saved_model`.
        variant: `float32`, `float16`, `dynamic`, `int8`, `int16x8` (ONNX: `float32`, `int8`).
        path: the file's name in the run folder.
        size_bytes: raw size. gzip_bytes: gzip size. sha256: the file's (or folder's) digest.
        figures: the measured figures (`test_accuracy` or `test_mae`, `top1_agreement`,
            `max_abs_diff`, latency percentiles, ...), as `measure_artifact` returns them.
        passed: whether it met every threshold of its variant.
        ops: operator counts (`.tflite` only). float_ops: operators left in float.
        diagnosis: where a failed quantized file's error comes from.
        removed: a failed file removed by the gate.
        compression_ratio / gzip_compression_ratio: size ratio to the float32 `.tflite`.
    """

    format: str
    variant: str
    path: str
    size_bytes: int | None = None
    gzip_bytes: int | None = None
    sha256: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    ops: dict[str, int] | None = None
    float_ops: list | None = None
    passed: bool = True
    diagnosis: dict[str, Any] | None = None
    removed: bool = False
    compression_ratio: float | None = None
    gzip_compression_ratio: float | None = None

    def figure(self, name: str, default: float = float("nan")) -> Any:
        """A measured figure by name (`default` when it was not measured)."""
        return self.figures.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        record = {key: getattr(self, key) for key in _ARTIFACT_FILE_KEYS}
        record = {k: v for k, v in record.items() if v is not None or k in ("format", "path")}
        record.update(self.figures)
        for key in _ARTIFACT_LATER_KEYS:
            value = getattr(self, key)
            if key == "passed" or (value not in (None, False)):
                record[key] = value
        return record

    @classmethod
    def from_dict(cls, record: Any, where: str = "artifact") -> ArtifactRecord:
        record = _mapping(record, where)
        known = {*_ARTIFACT_FILE_KEYS, *_ARTIFACT_LATER_KEYS}
        values = {key: record[key] for key in known if key in record}
        for key in ("format", "variant", "path"):  # a bare {path, sha256} record is read too
            values.setdefault(key, "")
        if "sha256" in values:
            values["sha256"] = _sha256(values["sha256"], f"{where}.sha256")
        figures = {key: value for key, value in record.items() if key not in known}
        return _build(cls, {**values, "figures": figures}, where)


@dataclass(frozen=True)
class DataSummary:
    """What was loaded, cleaned, split and fed (the manifest's `data`).

    Attributes:
        name, task: the data set's name; `classification` or `regression`.
        feature_shape, features: one sample's shape, and its number of values.
        num_classes, class_names: the classes (none for regression).
        split_sizes: samples per split; class_counts: per split and class.
        class_weight: the training class weights, if any.
        normalization: how inputs are normalized inside the model.
        augmentation: whether training batches were augmented.
        cleaning: the cleaning report (`summary`, `examples`, counts).
        target: a regression target's training `mean` and `std`.
        input: the input record an app follows (see `describe_input`).
    """

    name: str
    task: str
    feature_shape: list[int] = field(default_factory=list)
    features: int = 0
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)
    split_sizes: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, dict[str, int]] | None = None
    class_weight: Any = None
    normalization: str | None = None
    augmentation: bool = False
    cleaning: dict[str, Any] = field(default_factory=dict)
    target: dict[str, float] | None = None
    input: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: Any, where: str = "data") -> DataSummary:
        return _build(cls, _known(cls, _mapping(record, where)), where)


@dataclass(frozen=True)
class TrainingRecord:
    """What a fit did (the manifest's `training`; see `TrainResult`).

    With a pretrained backbone fine-tuned after its head, `phases` holds each phase
    (`name` `head` or `fine_tune`, `epochs_run`, `best_epoch`, `stopped_early`,
    `learning_rate`, `trainable_weights`, `unfrozen_layers`) and `history` both, one after
    the other; `best_epoch` counts across them.
    """

    epochs_run: int
    stopped_early: bool
    best_epoch: int
    resumed_from_epoch: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    phases: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        if not self.phases:  # one phase: the record as it always was
            del record["phases"]
        return record

    @classmethod
    def from_dict(cls, record: Any, where: str = "training") -> TrainingRecord:
        return _build(cls, _known(cls, _mapping(record, where)), where)


@dataclass(frozen=True)
class CompressionRecord:
    """What compression did (the manifest's `compression`).

    Attributes:
        techniques: the techniques in the order they ran (`prune`, `cluster`, `qat`).
        steps: each technique's step (`CompressStep.to_dict()`: sparsity and distinct
            values per kernel, fine-tuning history).
        sparsity, unique_weights: per kernel, after the last step.
        overall_sparsity: zeros among all kernel weights.
        test_scores: the compressed Keras model's test scores (every exported file is it).
        baseline_float32_tflite: size of the uncompressed model's float32 `.tflite`.
        prune: the pruning target and result, when pruning ran.
        skipped: the enabled techniques TensorFlow Model Optimization could not apply to
            the model, each `{"technique", "reason"}` (the run went on without them).
    """

    techniques: list[str]
    steps: list[dict[str, Any]] = field(default_factory=list)
    sparsity: dict[str, float] = field(default_factory=dict)
    overall_sparsity: float = 0.0
    unique_weights: dict[str, int] = field(default_factory=dict)
    test_scores: dict[str, float] = field(default_factory=dict)
    baseline_float32_tflite: dict[str, Any] | None = None
    prune: dict[str, float] | None = None
    skipped: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        record = {
            "techniques": self.techniques,
            "steps": self.steps,
            "sparsity": self.sparsity,
            "overall_sparsity": self.overall_sparsity,
            "unique_weights": self.unique_weights,
            **{f"{_COMPRESSED_TEST}{k}": v for k, v in self.test_scores.items()},
            "baseline_float32_tflite": self.baseline_float32_tflite,
        }
        if self.prune is not None:
            record["prune"] = self.prune
        if self.skipped:
            record["skipped"] = self.skipped
        return record

    @classmethod
    def from_dict(cls, record: Any, where: str = "compression") -> CompressionRecord:
        record = _mapping(record, where)
        values = _known(cls, record, exclude=("test_scores",))
        return _build(cls, {**values, "test_scores": _prefixed(record, _COMPRESSED_TEST)}, where)


@dataclass(frozen=True)
class AndroidRecord:
    """The Android bundle: whether it was written, from which variant, and where."""

    written: bool
    variant: str
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        record = {"written": self.written, "variant": self.variant}
        return record if self.path is None else {**record, "path": self.path}

    @classmethod
    def from_dict(cls, record: Any, where: str = "android") -> AndroidRecord:
        return _build(cls, _known(cls, _mapping(record, where)), where)


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """A finished run: the manifest of a run folder (and of a sweep's `chosen/` bundle).

    The fields `duration_s`, `model_source`, `training`, `keras_test`, `evaluation`,
    `compression` and `keras_latency` are a pipeline run's (`None` or empty in a bundle).

    Attributes:
        tfpipeline_version: the package version that wrote the run.
        run_name: the run folder's name.
        status: `passed` or `failed`.
        created: when the record was written (ISO time, UTC).
        config: the run's configuration as a dict.
        versions: library versions.
        data: the data summary.
        artifacts: one record per exported file.
        failures: the verification failures, as sentences.
        int8_input: how the int8 model takes its input (`Int8Input.to_dict()`), if any.
        android: the Android bundle, if one was asked for.
        duration_s: how long the run took, in seconds.
        model_source: where the model came from, in words (built from the config, a tf_keras
            model given, or a Keras 3 model rebuilt by the bridge).
        training: the training record.
        keras_test: the trained model's test scores.
        evaluation: the test-split evaluation (per-class figures, confusion matrix, baseline).
        compression: the compression record.
        keras_latency: the Keras model's single-sample latency and batch throughput.
        source: what a bundle was made from (`None` in a run).
    """

    tfpipeline_version: str
    run_name: str
    status: str
    created: str
    config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    data: DataSummary | None = None
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    int8_input: dict[str, Any] | None = None
    android: AndroidRecord | None = None
    duration_s: float | None = None
    model_source: str | None = None
    training: TrainingRecord | None = None
    keras_test: dict[str, float] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    compression: CompressionRecord | None = None
    keras_latency: dict[str, float] | None = None
    source: str | None = None

    @property
    def is_bundle(self) -> bool:
        """Whether this is a bundle made from a sweep variant rather than a pipeline run."""
        return self.source is not None

    def artifact(self, name: str) -> ArtifactRecord | None:
        """The record of the file `name` (`None` if the run did not export it)."""
        return next((a for a in self.artifacts if a.path == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The manifest: the same keys, in the same order, as every earlier version wrote."""
        head = {
            "tfpipeline_version": self.tfpipeline_version,
            "run_name": self.run_name,
            "status": self.status,
            "created": self.created,
        }
        common_tail = {
            "int8_input": self.int8_input,
            "artifacts": [a.to_dict() for a in self.artifacts],
        }
        android = None if self.android is None else self.android.to_dict()
        if self.is_bundle:
            return {
                **head,
                "source": self.source,
                "config": self.config,
                "versions": self.versions,
                "data": _to_dict(self.data),
                **common_tail,
                "android": android,
                "failures": self.failures,
            }
        return {
            **head,
            "duration_s": self.duration_s,
            "config": self.config,
            "versions": self.versions,
            "model_source": self.model_source,
            "data": _to_dict(self.data),
            "training": _to_dict(self.training),
            **{f"{_KERAS_TEST}{k}": v for k, v in self.keras_test.items()},
            "evaluation": self.evaluation,
            "compression": _to_dict(self.compression),
            **common_tail,
            "keras_latency": self.keras_latency,
            "android": android,
            "failures": self.failures,
        }

    @classmethod
    def from_dict(cls, record: Any) -> RunRecord:
        """Reads a manifest (as `json.load` gives it).

        Raises:
            MalformedRecordError: naming the field, when one has the wrong type.
        """
        record = _mapping(record, "manifest")
        artifacts = record.get("artifacts", [])
        if not isinstance(artifacts, list):
            raise MalformedRecordError("manifest is malformed: `artifacts` must list objects.")
        values = _known(cls, record, exclude=("keras_test",))
        for key in ("tfpipeline_version", "run_name", "status", "created"):
            values.setdefault(key, "")  # a bare record of files is read too
        values.update(
            artifacts=[
                ArtifactRecord.from_dict(a, f"artifacts[{i}]") for i, a in enumerate(artifacts)
            ],
            keras_test=_prefixed(record, _KERAS_TEST),
        )
        paths = [a.path for a in values["artifacts"]]
        repeated = sorted({path for path in paths if paths.count(path) > 1})
        if repeated:  # which record would vouch for the file?
            raise MalformedRecordError(
                f"manifest is malformed: `artifacts` records {', '.join(map(repr, repeated))} "
                "more than once."
            )
        readers = {
            "data": DataSummary,
            "training": TrainingRecord,
            "compression": CompressionRecord,
            "android": AndroidRecord,
        }
        for key, reader in readers.items():
            if record.get(key) is not None:
                values[key] = reader.from_dict(record[key], key)
        return _build(cls, values, "manifest")


def write_record(path: str | Path, record: RunRecord) -> Path:
    """Writes the record as JSON to `path`, atomically."""
    text = json.dumps(record.to_dict(), indent=2, sort_keys=False) + "\n"
    return write_bytes_atomic(path, text.encode("utf-8"))


def read_json_object(path: str | Path) -> dict[str, Any]:
    """Reads a JSON file that must hold an object (a manifest, a model card).

    Raises:
        TfpipelineError: for a file that cannot be read, is not JSON, or holds no object.
    """
    path = Path(path)
    try:
        info = path.stat()  # before opening: opening a FIFO would wait for a writer
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"it is not a regular file ({stat.filemode(info.st_mode)})")
        if info.st_size > MAX_RECORD_BYTES:
            raise OSError(f"it is over {MAX_RECORD_BYTES // 2**20} MiB")
        record = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # unreadable, not JSON, too deep
        raise TfpipelineError(f"Cannot read {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(record, dict):
        raise TfpipelineError(
            f"{path} must hold a JSON object; it holds a {type(record).__name__}."
        )
    return record


def read_record(path: str | Path) -> RunRecord:
    """Reads a `manifest.json` into its record.

    Raises:
        TfpipelineError: for a file that cannot be read or is not a manifest, naming it.
    """
    try:
        return RunRecord.from_dict(read_json_object(path))
    except MalformedRecordError as exc:
        raise MalformedRecordError(f"{path}: {exc}") from None


def _to_dict(record) -> dict[str, Any] | None:
    return None if record is None else record.to_dict()


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedRecordError(
            f"manifest is malformed: `{where}` must be an object; it is a {type(value).__name__}."
        )
    return value


def _sha256(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise MalformedRecordError(
            f"manifest is malformed: `{where}` must be 64 hexadecimal digits."
        )
    return value


def _known(cls, record: dict[str, Any], exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keys of `record` that are fields of `cls` (later versions may add others), but
    those in `exclude` (fields the manifest spells as several prefixed keys)."""
    names = {f.name for f in dataclasses.fields(cls)} - set(exclude)
    return {key: value for key, value in record.items() if key in names}


def _build(cls, values: dict[str, Any], where: str):
    """`cls(**values)`, each value first checked against its field's type."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        problem = _type_problem(value, hints[name])
        if problem:
            prefix = "" if where == "manifest" else f"{where}."
            raise MalformedRecordError(
                f"manifest is malformed: `{prefix}{name}` must be {problem}; it is "
                f"{_shown_type(value)}."
            )
    try:
        return cls(**values)
    except TypeError:  # a field without a default is missing
        missing = [
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in values
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        raise MalformedRecordError(
            f"manifest is malformed: `{where}` lacks {', '.join(missing) or 'a field'}."
        ) from None


def _prefixed(record: dict[str, Any], prefix: str) -> dict[str, float]:
    return {
        key[len(prefix) :]: value
        for key, value in record.items()
        if key.startswith(prefix) and isinstance(value, int | float)
    }


def size_ratios(baseline: dict[str, Any], other: dict[str, Any]) -> dict[str, float]:
    """How many times smaller `other` is than `baseline`, raw and gzipped (each holds
    `size_bytes` and `gzip_bytes`)."""
    return {
        "compression_ratio": baseline["size_bytes"] / other["size_bytes"],
        "gzip_compression_ratio": baseline["gzip_bytes"] / other["gzip_bytes"],
    }


def _type_problem(value: Any, hint: Any) -> str | None:
    """What `value` should be to fit the type `hint` ("a str", "a dict or null"), or `None`
    when it fits. Containers are checked one level deep where their items are plain."""
    if hint is Any:
        return None
    options = typing.get_args(hint) if typing.get_origin(hint) in _UNIONS else (hint,)
    if any(_fits(value, option) for option in options):
        return None
    return " or ".join(_type_name(option) for option in options)


def _fits(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    origin = typing.get_origin(hint) or hint
    if origin is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if not isinstance(value, origin):
        return False
    items = typing.get_args(hint)
    if origin is list and items in ((str,), (int,), (float,)):
        return all(_fits(item, items[0]) for item in value)
    return True


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    origin = typing.get_origin(hint) or hint
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             dict: "an object", list: "a list"}  # fmt: skip
    if origin is list and typing.get_args(hint) in ((str,), (int,)):
        return f"a list of {names[typing.get_args(hint)[0]].split(' ', 1)[1]}s"
    return names.get(origin, getattr(origin, "__name__", str(origin)))


def _shown_type(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


_UNIONS = (typing.Union, types.UnionType)
