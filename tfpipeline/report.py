"""The human report of a run (`report.md`, the printed artifacts table) and the figures
the record holds about each file (sizes, digests, library versions)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import platform
import tarfile
from importlib import metadata
from pathlib import Path
from typing import Any

from tfpipeline._atomic import write_bytes_atomic
from tfpipeline.errors import TfpipelineError
from tfpipeline.record import ArtifactRecord, CompressionRecord, RunRecord
from tfpipeline.run_folder import CONFUSION_MATRIX, RunFolder

LIBRARIES = (
    "tfpipeline",
    "tensorflow",
    "tf-keras",
    "tensorflow-model-optimization",
    "tf2onnx",
    "onnx",
    "onnxruntime",
    "ai-edge-litert",
    "numpy",
    "scikit-learn",
)


def file_stats(path: str | Path) -> dict[str, Any]:
    """Returns `size_bytes`, `gzip_bytes` and `sha256` of a file or folder.

    A folder's `size_bytes` is the sum of its files' sizes, its `sha256` is `sha256_of`'s (file
    paths and bytes only) and its `gzip_bytes` is the gzip size of a tar of its files in
    sorted order whose headers carry no permissions, owners or times, so that no figure
    depends on the machine or the user.

    Raises:
        TfpipelineError: if a folder holds a symbolic link or a special file (see
            `sha256_of`).
    """
    path = Path(path)
    if not path.is_dir():
        data = path.read_bytes()
        return {
            "size_bytes": len(data),
            "gzip_bytes": _gzip_size(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    files = _folder_files(path)
    return {
        "size_bytes": sum(file.stat().st_size for _, file in files),
        "gzip_bytes": _gzip_size(_tar_bytes(files)),
        "sha256": _folder_sha256(files),
    }


def sha256_of(path: str | Path) -> str:
    """Returns the sha256 of a file's bytes, or of a folder's contents.

    A folder's sha256 covers only the relative paths (POSIX form) and the bytes of its
    files: for each file, in sorted path order, the length of its UTF-8 path, the path, the
    length of its bytes and the bytes (each length as 8 bytes, big-endian). Permissions,
    owners, times and empty folders are not covered, so a copy to another place or user, or a
    `chmod`, keeps it. A symbolic link or a special file (a pipe, a device) inside the folder
    is refused rather than followed: a link can point out of the folder, to bytes the sha256
    would not cover.

    Raises:
        TfpipelineError: if the folder holds a symbolic link or a special file.
    """
    path = Path(path)
    if path.is_dir():
        return _folder_sha256(_folder_files(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _folder_files(folder: Path) -> list[tuple[str, Path]]:
    """The regular files under `folder`, as (relative POSIX path, path), in path order."""

    def fail(error: OSError) -> None:
        raise error

    files = []
    for root, folders, names in os.walk(folder, onerror=fail):  # never follows links
        for name in sorted(folders + names):
            entry = Path(root, name)
            relative = entry.relative_to(folder).as_posix()
            if entry.is_symlink():
                raise TfpipelineError(
                    f"{folder} holds a symbolic link, {relative}: a model folder is measured "
                    "and checked by the files inside it only. Replace the link by the file."
                )
            if name in names:
                if not entry.is_file():
                    raise TfpipelineError(
                        f"{folder} holds {relative}, which is not a regular file or folder."
                    )
                files.append((relative, entry))
    return sorted(files)


def _folder_sha256(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for relative, file in files:
        name = relative.encode("utf-8", "surrogateescape")
        with open(file, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            digest.update(len(name).to_bytes(8, "big") + name + size.to_bytes(8, "big"))
            read = 0
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                read += len(chunk)
        if read != size:
            raise TfpipelineError(f"{file} changed while its sha256 was computed.")
    return digest.hexdigest()


def _tar_bytes(files: list[tuple[str, Path]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for relative, file in files:
            data = file.read_bytes()
            info = tarfile.TarInfo(relative)  # mode 0o644, uid/gid 0, no names, mtime 0
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def library_versions() -> dict[str, str]:
    """Returns the installed version of each library the pipeline depends on, and Python's."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def artifact_table(artifacts: list[ArtifactRecord]) -> str:
    """Returns the artifacts as a Markdown table (also readable as plain text)."""
    regression = bool(artifacts) and "test_mae" in artifacts[0].figures
    scores = "test MAE | keras MAE" if regression else "test acc | agreement"
    header = (
        f"| artifact | size | gzip | {scores} | max abs diff | p50 ms | p95 ms | p99 ms "
        "| batch-32/s | check |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    )
    pair = ("test_mae", "keras_test_mae") if regression else ("test_accuracy", "top1_agreement")
    rows = [
        f"| {a.path} | {_kib(a.size_bytes)} | {_kib(a.gzip_bytes)} "
        f"| {a.figure(pair[0]):.4f} | {a.figure(pair[1]):.4f} | {a.figure('max_abs_diff'):.2e} "
        f"| {a.figure('latency_ms_p50'):.3f} | {a.figure('latency_ms_p95'):.3f} "
        f"| {a.figure('latency_ms_p99'):.3f} "
        f"| {a.figure('batch32_samples_per_s'):,.0f} "
        f"| {'pass' if a.passed else 'FAIL'} |"
        for a in artifacts
    ]
    return "\n".join([*header, *rows])


def _kib(size: int) -> str:
    return f"{size / 1024:.1f} KiB"


def write_report(folder: RunFolder, record: RunRecord) -> Path:
    """Writes `report.md`: summary, data, training, compression and the artifacts table."""
    data, training = record.data, record.training
    lines = [
        f"# tfpipeline run `{record.run_name}`",
        "",
        f"Status: **{record.status}**, in {record.duration_s:.1f} s.",
        "",
        "## Data",
        "",
        f"- Data set: `{data.name}` ({data.task}), features of shape "
        f"{tuple(data.feature_shape)}"
        + (f", {data.num_classes} classes." if data.num_classes else "."),
        f"- Cleaning: {data.cleaning['summary']}.",
        "- Splits: " + ", ".join(f"{name} {size}" for name, size in data.split_sizes.items()) + ".",
        "",
        "## Training",
        "",
        f"- Epochs run: {training.epochs_run}, stopped early: {training.stopped_early}, "
        f"best epoch: {training.best_epoch}.",
        f"- Keras model on the test split: {scores_line(record.keras_test)}.",
    ]
    if training.resumed_from_epoch:
        lines.append(f"- Resumed after epoch {training.resumed_from_epoch} of a killed run.")
    lines += [f"- {text}" for text in phase_texts(training.phases)]
    lines += _evaluation_lines(record.evaluation or {}, record.compression)
    if record.compression:
        lines += ["", "## Compression", "", *_compression_lines(record.compression)]
    lines += ["", "## Artifacts", "", artifact_table(record.artifacts)]
    keras_timing = record.keras_latency
    if keras_timing:
        lines += [
            "",
            f"The Keras model on one sample: `predict` p50 {keras_timing['predict_ms_p50']:.3f} "
            f"ms, direct call p50 {keras_timing['call_ms_p50']:.3f} ms (same machine, same "
            "run).",
        ]
    ratios = [a for a in record.artifacts if a.compression_ratio is not None]
    if ratios:
        lines += ["", "Size against the uncompressed model's float32 `.tflite` (raw / gzip):", ""]
        lines += [
            f"- {a.path}: {a.compression_ratio:.2f}x / {a.gzip_compression_ratio:.2f}x smaller"
            for a in ratios
        ]
    lines += _failure_lines(record)
    lines += [
        "",
        "Accuracy and agreement are measured on the test split in each artifact's own runtime "
        "(LiteRT for .tflite, onnxruntime for .onnx, TensorFlow for the SavedModel); agreement "
        "is top-1 agreement with the Keras model; latency is one sample per call.",
        "",
    ]
    return write_bytes_atomic(folder.report_md, "\n".join(lines).encode("utf-8"))


def _evaluation_lines(evaluation: dict[str, Any], compression) -> list[str]:
    lines = []
    if "baseline" in evaluation:
        lines += ["", "## Evaluation (test split)", ""]
        lines += baseline_table(evaluation, compression)
    if "per_class" in evaluation:
        lines += [
            "",
            f"Accuracy {evaluation['accuracy']:.4f}, loss {evaluation['loss']:.4f}, "
            f"macro F1 {evaluation['macro_f1']:.4f}.",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} "
            f"| {c['support']} |"
            for name, c in evaluation["per_class"].items()
        ]
        lines += ["", f"![confusion matrix]({CONFUSION_MATRIX})"]
    if "attributions" in evaluation:
        lines += ["", "### Feature attributions", ""]
        lines += attribution_lines(evaluation["attributions"])
    return lines


# Features listed in report.md (report.html draws every one the record keeps).
MARKDOWN_TOP_FEATURES = 10


def attribution_text(attributions: dict[str, Any]) -> str:
    """What the attribution figures of an evaluation mean, in two sentences."""
    start = {"training mean": "the training split's mean row", "zeros": "an all-zero row"}
    baseline = start.get(attributions["baseline"], attributions["baseline"])
    return (
        f"Integrated gradients on {attributions['samples']} test rows ({attributions['steps']} "
        f"steps from {baseline}): each figure is how far the feature moved the model's "
        f"{attributions['output']} away from its value at that baseline, averaged over the "
        "rows in absolute value (a row's attributions add up to its output minus the "
        "baseline's). Larger means the model leans on the feature more: it says what the "
        "model uses, not what causes the label."
    )


def attribution_lines(attributions: dict[str, Any]) -> list[str]:
    """The evaluation's feature attributions as Markdown: the sentence and a short table."""
    features = attributions["features"][:MARKDOWN_TOP_FEATURES]
    return [
        attribution_text(attributions),
        "",
        f"| feature (top {len(features)} of {attributions['feature_count']}) | mean abs "
        "attribution |",
        "|---|---:|",
        *[f"| {item['feature']} | {item['mean_abs']:.4f} |" for item in features],
    ]


def _failure_lines(record: RunRecord) -> list[str]:
    if not record.failures:
        return []
    lines = ["", "## Verification failures", ""] + [f"- {f}" for f in record.failures]
    for artifact in record.artifacts:
        if artifact.diagnosis is not None:
            lines += ["", f"Why `{artifact.path}` missed:", ""]
            lines += diagnosis_lines(artifact.diagnosis)
    return lines


def diagnosis_lines(diagnosis: dict[str, Any]) -> list[str]:
    """A quantized artifact's diagnosis (see `export.diagnosis`) as Markdown lines."""
    lines = [
        f"- input feature `{item['feature']}`: {item['steps']:.2g} int8 steps over its "
        "training range"
        for item in diagnosis["inputs"][:5]
    ]
    lines += [
        f"- {layer['op']} `{layer['tensor']}`: error {layer['rmse_over_scale']:.2f} quantization "
        "steps (RMSE / scale; about 0.3 is plain rounding)"
        for layer in diagnosis["layers"]
    ]
    return [*lines, f"- Fix: {diagnosis['fix']}"]


def baseline_table(
    evaluation: dict[str, Any], compression: CompressionRecord | None = None
) -> list[str]:
    """The model's test scores beside the classical baseline's, as Markdown lines (with the
    compressed model's, which every exported file is, when compression ran)."""
    baseline = evaluation["baseline"]
    if baseline["kind"] == "mean predictor":
        names = [("mae", "MAE"), ("rmse", "RMSE"), ("r2", "R²")]
        what = f"mean predictor (always {baseline['value']:.4g})"
    else:
        names = [("accuracy", "accuracy")]
        what = f"most frequent class (always {baseline['value']!r})"
    rows = [("trained model", evaluation)]
    if compression:
        shipped = {key: compression.test_scores.get(key, float("nan")) for key, _ in names}
        rows.append(("compressed model (every exported file)", shipped))
    rows.append((f"baseline: {what}", baseline))
    lines = [
        "| | " + " | ".join(title for _, title in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    lines += [
        f"| {name} | " + " | ".join(_figure(r[k]) for k, _ in names) + " |" for name, r in rows
    ]
    if "mae" in baseline and baseline["mae"] > 0:
        shipped_mae = rows[-2][1]["mae"]
        lines += [
            "",
            f"The shipped model's test MAE is {shipped_mae / baseline['mae']:.2f}x the "
            "baseline's (below 1 is better than always predicting the training mean).",
        ]
    return lines


def _figure(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 1 else f"{value:.4g}"


def scores_line(scores: dict[str, float]) -> str:
    """Scores as `name value, ...` (four decimals; only the float ones)."""
    return ", ".join(
        f"{name} {value:.4f}" for name, value in scores.items() if isinstance(value, float)
    )


_TECHNIQUE_NAMES = {
    "prune": "Magnitude pruning",
    "cluster": "Weight clustering",
    "qat": "Quantization-aware training",
}


def phase_texts(phases: list[dict[str, Any]]) -> list[str]:
    """Each training phase of a fine-tuned backbone, in one sentence."""
    texts = []
    for phase in phases:
        what = (
            "Head (backbone frozen)"
            if phase["name"] == "head"
            else f"Fine-tuning ({phase['unfrozen_layers']} backbone layers unfrozen, "
            "BatchNormalization frozen)"
        )
        epochs = phase["epochs_run"]
        texts.append(
            f"{what}: {epochs} epoch{'s' if epochs != 1 else ''} at learning rate "
            f"{phase['learning_rate']:g}, {phase['trainable_weights']:,} trainable weights, "
            f"best epoch {phase['best_epoch']}."
        )
    return texts


def skipped_texts(compression: CompressionRecord) -> list[str]:
    """Each technique the run skipped because TFMOT cannot apply it, and why."""
    return [
        f"{_TECHNIQUE_NAMES[item['technique']]} skipped: TensorFlow Model Optimization "
        f"cannot apply it to this model ({item['reason']})."
        for item in compression.skipped
    ]


def _compression_lines(compression: CompressionRecord) -> list[str]:
    lines = [f"- {text}" for text in skipped_texts(compression)]
    for step in compression.steps:
        unique = max(step["unique_weights"].values(), default=0)
        lines.append(
            f"- {_TECHNIQUE_NAMES[step['technique']]}, fine-tuned "
            f"{step['fine_tuning']['epochs_run']} epochs: kernel sparsity "
            f"{_sparsity_text(step['sparsity'])}; at most {unique:,} distinct values per kernel."
        )
    lines.append(
        f"- Compressed Keras model on the test split: {scores_line(compression.test_scores)}."
    )
    if "prune" in compression.techniques:
        lines.append(
            f"- Overall sparsity of the kernels: {compression.overall_sparsity:.1%}. Pruning "
            "shrinks the gzip size, not the raw `.tflite` size: the zeros are still stored, "
            "they only compress well (see the compression ratios below)."
        )
    if "qat" in compression.techniques:
        lines.append(
            "- The model was trained quantization-aware: its `int8` `.tflite` is the one "
            "to ship; float variants of it carry the learned quantization as extra ops."
        )
    return lines


def _sparsity_text(sparsity: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.0%}" for name, value in sparsity.items())
