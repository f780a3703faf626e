"""`report.html`: the run as a self-contained page (every image embedded), beside `report.md`."""

from __future__ import annotations

import base64
import html
import io
import os
import platform
from pathlib import Path
from typing import Any

from tfpipeline._atomic import write_bytes_atomic
from tfpipeline._figures import subplots as _subplots
from tfpipeline.plots import plot_curves
from tfpipeline.record import (
    ArtifactRecord,
    CompressionRecord,
    DataSummary,
    RunRecord,
    TrainingRecord,
)
from tfpipeline.report import (
    attribution_text,
    baseline_table,
    diagnosis_lines,
    input_text,
    left_alone_text,
    phase_texts,
    skipped_texts,
)
from tfpipeline.run_folder import RunFolder

SECTIONS = ("Summary", "Data", "Training", "Evaluation", "Compression", "Artifacts", "Environment")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.passed { color: #11772d; font-weight: bold; } .failed { color: #b00020; font-weight: bold; }
img { max-width: 100%; }
"""


def write_html_report(folder: RunFolder, record: RunRecord) -> Path:
    """Writes `report.html` (atomically) from the run record and the run folder's images.

    Sections: summary, data (class balance chart, cleaning counts), training (loss,
    accuracy and learning-rate curves, the restored epoch marked), evaluation (confusion
    matrix, feature attributions when the run computed them), compression, artifacts
    (table and size-against-accuracy chart), environment.
    """
    body = [
        f"<h1>tfpipeline run <code>{_e(record.run_name)}</code></h1>",
        *_summary(record),
        *_data(record.data),
        *_training(record),
        *_evaluation(folder.confusion_matrix, record),
        *_compression(record.compression),
        *_artifacts(record.artifacts),
        *_environment(record.versions),
    ]
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>tfpipeline run {_e(record.run_name)}</title><style>{_STYLE}</style>"
        "</head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    return write_bytes_atomic(folder.report_html, page.encode("utf-8"))


def _summary(record: RunRecord) -> list[str]:
    status = record.status
    passed = sum(a.passed for a in record.artifacts)
    lines = [
        "<section id='summary'><h2>Summary</h2>",
        f"<p>Status: <span class='{status}'>{_e(status)}</span>, in "
        f"{record.duration_s:.1f} s, created {_e(record.created)} by tfpipeline "
        f"{_e(record.tfpipeline_version)}. {passed} of {len(record.artifacts)} "
        "artifacts passed verification.</p>",
    ]
    if record.failures:
        lines.append("<ul>" + "".join(f"<li>{_e(f)}</li>" for f in record.failures) + "</ul>")
    for artifact in record.artifacts:
        if artifact.diagnosis is not None:
            items = [line[2:] for line in diagnosis_lines(artifact.diagnosis)]
            lines.append(f"<p>Why <code>{_e(artifact.path)}</code> missed:</p>")
            lines.append("<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>")
    return [*lines, "</section>"]


def _data(data: DataSummary) -> list[str]:
    cleaning = data.cleaning
    lines = [
        "<section id='data'><h2>Data</h2>",
        f"<p>Data set <code>{_e(data.name)}</code> ({_e(data.task)}), "
        f"{_e(input_text(data))}, normalization {_e(data.normalization)}.</p>",
        f"<p>Cleaning: {_e(cleaning['summary'])}.</p>",
        _table(["split", "samples"], [[k, v] for k, v in data.split_sizes.items()]),
    ]
    if data.class_counts:
        lines.append(_image(_class_balance_png(data), "class balance per split"))
    return [*lines, "</section>"]


def _training(record: RunRecord) -> list[str]:
    training = record.training
    keras_scores = ", ".join(f"{k} {v:.4f}" for k, v in record.keras_test.items())
    return [
        "<section id='training'><h2>Training</h2>",
        f"<p>{training.epochs_run} epochs, stopped early: {training.stopped_early}, "
        f"weights of epoch {training.best_epoch} kept. Keras model on the test split: "
        f"{_e(keras_scores)}.</p>",
        *[f"<p>{_e(text)}</p>" for text in phase_texts(training.phases)],
        _image(_training_png(training), "training curves"),
        "</section>",
    ]


def _evaluation(matrix: Path, record: RunRecord) -> list[str]:
    evaluation = record.evaluation or {}
    lines = ["<section id='evaluation'><h2>Evaluation</h2>"]
    if "per_class" in evaluation:
        lines.append(
            f"<p>Test accuracy {evaluation['accuracy']:.4f}, macro F1 "
            f"{evaluation['macro_f1']:.4f}.</p>"
        )
        rows = [
            [name, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", c["support"]]
            for name, c in evaluation["per_class"].items()
        ]
        lines.append(_table(["class", "precision", "recall", "F1", "support"], rows))
        if matrix.is_file():
            lines.append(_image(matrix.read_bytes(), "confusion matrix"))
    if "baseline" in evaluation:
        lines_md = baseline_table(evaluation, record.compression)
        table = [line for line in lines_md if line.startswith("| ")]
        rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
        lines.append(_table(rows[0], rows[1:]))
    if "attributions" in evaluation:
        attributions = evaluation["attributions"]
        lines += [
            "<h3>Feature attributions</h3>",
            f"<p>{_e(attribution_text(attributions))}</p>",
            _image(_attributions_png(attributions), "feature attributions"),
        ]
    return [*lines, "</section>"]


def _compression(compression: CompressionRecord | None) -> list[str]:
    lines = ["<section id='compression'><h2>Compression</h2>"]
    if not compression:
        return [*lines, "<p>No compression technique was enabled.</p>", "</section>"]
    lines += [f"<p>{_e(text)}</p>" for text in skipped_texts(compression)]
    lines += [
        f"<p>{_e(step['technique'])}{_e(left_alone_text(step))}.</p>"
        for step in compression.steps
        if step.get("left_alone")
    ]
    lines.append(
        f"<p>Techniques, in order: {_e(' → '.join(compression.techniques))}. Overall "
        f"kernel sparsity {compression.overall_sparsity:.1%}. Pruning shrinks the gzip "
        "size, not the raw <code>.tflite</code> size.</p>"
    )
    rows = [
        [layer, f"{compression.sparsity[layer]:.1%}", compression.unique_weights[layer]]
        for layer in compression.sparsity
    ]
    lines.append(_table(["layer", "zeros", "distinct values"], rows))
    return [*lines, "</section>"]


def _artifacts(artifacts: list[ArtifactRecord]) -> list[str]:
    regression = bool(artifacts) and "test_mae" in artifacts[0].figures
    score, agree = (
        ("test_mae", "keras_test_mae") if regression else ("test_accuracy", "top1_agreement")
    )
    rows = [
        [
            a.path,
            a.format,
            a.variant,
            f"{a.size_bytes / 1024:.1f} KiB",
            f"{a.gzip_bytes / 1024:.1f} KiB",
            f"{a.figure(score):.4f}",
            f"{a.figure(agree):.4f}",
            f"{a.figure('latency_ms_p50'):.3f}",
            f"{a.figure('latency_ms_p95'):.3f}",
            "pass" if a.passed else "FAIL (removed)",
        ]
        for a in artifacts
    ]
    headers = ["artifact", "format", "variant", "size", "gzip", score.replace("_", " "),
               agree.replace("_", " "), "p50 ms", "p95 ms", "check"]  # fmt: skip
    lines = ["<section id='artifacts'><h2>Artifacts</h2>", _table(headers, rows)]
    if artifacts and not regression:
        lines.append(_image(_size_accuracy_png(artifacts), "size against accuracy"))
    return [*lines, "</section>"]


def _environment(versions: dict[str, str]) -> list[str]:
    rows = [[name, version] for name, version in versions.items()]
    rows += [["machine", platform.machine()], ["CPUs", os.cpu_count()], ["CPU", _cpu_name()]]
    return [
        "<section id='environment'><h2>Environment</h2>",
        _table(["component", "version"], rows),
        "</section>",
    ]


def _class_balance_png(data: DataSummary) -> bytes:
    names = data.class_names
    fig, ax = _subplots(figsize=(min(12, 3 + 0.5 * len(names)), 3.5))
    width = 0.8 / len(data.class_counts)
    for i, (split, counts) in enumerate(data.class_counts.items()):
        positions = [j + i * width for j in range(len(names))]
        ax.bar(positions, [counts[n] for n in names], width, label=split)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))], names, rotation=45)
    ax.set_ylabel("samples")
    ax.set_title("Class balance")
    ax.legend()
    return _png(fig)


def _training_png(training: TrainingRecord) -> bytes:
    history = training.history
    metric = next((m for m in ("accuracy", "mae") if m in history), None)
    panels = ["loss", *([metric] if metric else []), "learning_rate"]
    fig, axes = _subplots(1, len(panels), figsize=(4.2 * len(panels), 3.3))
    for ax, name in zip(axes, panels, strict=True):
        curves = {key: history[key] for key in (name, f"val_{name}") if key in history}
        plot_curves(ax, curves, ylabel=name.replace("_", " "), title=name.replace("_", " "))
        ax.axvline(training.best_epoch, color="grey", linestyle="--", label="kept epoch")
        if len(training.phases) > 1:  # fine-tuning starts after the head's epochs
            start = training.phases[0]["epochs_run"] + 0.5
            ax.axvline(start, color="black", linestyle=":", label="fine-tuning starts")
        ax.legend(fontsize=7)
    return _png(fig)


def _attributions_png(attributions: dict[str, Any]) -> bytes:
    features = attributions["features"]
    fig, ax = _subplots(figsize=(7, 1.2 + 0.28 * len(features)))
    ax.barh(range(len(features)), [item["mean_abs"] for item in features], color="C0")
    ax.set_yticks(range(len(features)), [item["feature"] for item in features], fontsize=8)
    ax.invert_yaxis()  # the largest on top
    ax.set_xlabel(f"mean |attribution| ({attributions['output']})")
    ax.set_title(
        f"Top {len(features)} of {attributions['feature_count']} features "
        f"(integrated gradients, {attributions['samples']} test rows)"
    )
    return _png(fig)


def _size_accuracy_png(artifacts: list[ArtifactRecord]) -> bytes:
    fig, ax = _subplots(figsize=(7, 4))
    for a in artifacts:
        point = (a.gzip_bytes / 1024, 100 * a.figure("test_accuracy"))
        ax.scatter(*point)
        ax.annotate(a.path, point, fontsize=7)
    ax.set_xlabel("gzip size (KiB)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Size against accuracy, measured in each runtime")
    return _png(fig)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def _image(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f"<p><img alt='{_e(alt)}' src='data:image/png;base64,{encoded}'></p>"


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
