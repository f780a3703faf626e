"""The compression sweep's record: the table, `sweep.md`, `sweep.csv`, `sweep.json`, the plot."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tfpipeline._atomic import file_atomic, write_bytes_atomic

SWEEP_RECORD = "sweep.json"
SWEEP_TABLE = "sweep.md"
SWEEP_CSV = "sweep.csv"
SWEEP_PLOT = "sweep.png"
SWEEP_CONFIG = "sweep_config.yaml"  # written first: marks the folder as a sweep's


def sweep_table(rows: Sequence[dict[str, Any]], chosen: dict[str, Any] | None = None) -> str:
    """Returns the sweep's rows as a Markdown table, smallest gzip size first.

    The `val` columns are on the validation split (the one that chooses, and the Pareto
    front's), the `test` columns on the held-out test split.
    """
    lines = [
        "| variant | size | gzip | gzip ratio | val acc | val change (pts) | test acc "
        "| test change (pts) | test agreement | sparsity | p50 ms | Pareto (val) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in sorted(rows, key=lambda r: r["gzip_bytes"]):
        mark = " **(chosen)**" if chosen is not None and row is chosen else ""
        lines.append(
            f"| {row['name']}{mark} | {row['size_bytes'] / 1024:.1f} KiB "
            f"| {row['gzip_bytes'] / 1024:.1f} KiB | {row['gzip_compression_ratio']:.1f}x "
            f"| {row['val_accuracy']:.4f} | {row['val_accuracy_change_points']:+.2f} "
            f"| {row['test_accuracy']:.4f} | {row['accuracy_change_points']:+.2f} "
            f"| {row['top1_agreement']:.4f} | {row['overall_sparsity']:.0%} "
            f"| {row['latency_ms_p50']:.3f} | {'yes' if row['pareto'] else ''} |"
        )
    return "\n".join(lines)


def write_sweep_outputs(result: Any, config: Any, duration_s: float) -> None:
    """Writes the sweep's record, table, CSV and plot into its folder (each atomically)."""
    run_dir = result.run_dir
    record = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 2),
        "max_accuracy_drop_points": result.max_accuracy_drop,
        # the split `chosen` and the rows' `pareto` are judged on; the rows' `test_*` figures
        # and `accuracy_change_points` are on the held-out test split
        "chosen_on": "val",
        "split_sizes": result.split_sizes,
        "config": config.to_dict(),
        "baseline": result.baseline["name"],
        "chosen": result.chosen["name"],
        "bundle": None if result.bundle is None else result.bundle.name,
        "rows": result.rows,
    }
    write_bytes_atomic(run_dir / SWEEP_RECORD, json.dumps(record, indent=2).encode("utf-8"))
    baseline, chosen = result.baseline, result.chosen
    sizes = result.split_sizes or {}
    table = [
        "# Compression sweep",
        "",
        f"Baseline: the uncompressed model's float32 `.tflite`: validation accuracy "
        f"{baseline['val_accuracy']:.4f}, test accuracy {baseline['test_accuracy']:.4f}. "
        f"Chosen on the validation split: the smallest variant (gzip) whose validation "
        f"accuracy is within {result.max_accuracy_drop:g} accuracy points of the baseline's: "
        f"**{chosen['name']}**, validation accuracy {chosen['val_accuracy']:.4f} "
        f"({chosen['val_accuracy_change_points']:+.2f} points). Its accuracy on the held-out "
        f"test split, which chose nothing: {chosen['test_accuracy']:.4f} "
        f"({chosen['accuracy_change_points']:+.2f} points).",
        "",
        "Every figure is measured on the exported `.tflite` in the LiteRT interpreter. `val` "
        f"columns are on the validation split ({sizes.get('val', '?')} samples), which "
        "chooses the variant and draws the Pareto front; `test` columns are on the test split "
        f"({sizes.get('test', '?')} samples), held out so that they are not biased by the "
        "choice. A change is the accuracy against the baseline's on the same split, in "
        "points: negative is a loss, positive a gain. `test agreement` is the top-1 agreement "
        "with the variant's own Keras model on the test split. Pruning shrinks the gzip size, "
        "not the raw size.",
        "",
        sweep_table(result.rows, chosen),
        "",
        f"![gzip size against validation and test accuracy]({SWEEP_PLOT})",
        "",
    ]
    write_bytes_atomic(run_dir / SWEEP_TABLE, "\n".join(table).encode("utf-8"))
    buffer = io.StringIO()
    columns = [k for k in result.rows[0] if k != "unique_weights"]
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in result.rows:  # lists as "prune+qat", for spreadsheets
        writer.writerow({k: "+".join(v) if isinstance(v, list) else v for k, v in row.items()})
    write_bytes_atomic(run_dir / SWEEP_CSV, buffer.getvalue().encode("utf-8"))
    floor = result.baseline["val_accuracy"] - result.max_accuracy_drop / 100
    plot_sweep(result.rows, result.chosen, run_dir / SWEEP_PLOT, floor)


def plot_sweep(
    rows: Sequence[dict[str, Any]],
    chosen: dict[str, Any],
    path: str | Path,
    accuracy_floor: float | None = None,
) -> Path:
    """Draws gzip size against accuracy (PNG), in two panels: the validation split (the
    Pareto front, the tolerance and the chosen variant) and the held-out test split.

    `accuracy_floor` (a fraction of the validation accuracy), when given, is drawn as the
    tolerance line.
    """
    from matplotlib.ticker import FuncFormatter

    from tfpipeline import _figures

    fig, axes = _figures.subplots(1, 2, figsize=(13, 5), sharex=True, sharey=True)
    panels = (
        ("val_accuracy", "validation split: chooses", "validation"),
        ("test_accuracy", "test split: held out, chooses nothing", "test"),
    )
    for ax, (key, title, split) in zip(axes, panels, strict=True):
        for qat, marker in ((False, "o"), (True, "s")):
            group = [r for r in rows if r["qat"] == qat]
            ax.scatter(
                [r["gzip_bytes"] / 1024 for r in group],
                [100 * r[key] for r in group],
                marker=marker,
                alpha=0.6,
                label="QAT" if qat else "post-training only",
            )
        if key == "val_accuracy":
            front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["gzip_bytes"])
            ax.step(
                [r["gzip_bytes"] / 1024 for r in front],
                [100 * r[key] for r in front],
                where="post",
                color="black",
                linewidth=1,
                label="Pareto front",
            )
            if accuracy_floor is not None:
                ax.axhline(100 * accuracy_floor, color="grey", linestyle="--", label="tolerance")
        ax.scatter(
            [chosen["gzip_bytes"] / 1024],
            [100 * chosen[key]],
            marker="*",
            s=250,
            color="red",
            label=f"chosen: {chosen['name']}",
            zorder=3,
        )
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.set_xlabel("gzip size of the .tflite (KiB, log scale)")
        ax.set_ylabel(f"{split} accuracy in LiteRT (%)")
        ax.yaxis.set_tick_params(labelleft=True)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Compression sweep")
    fig.tight_layout()
    with file_atomic(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return Path(path)
