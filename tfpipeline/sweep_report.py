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
    """Returns the sweep's rows as a Markdown table, smallest gzip size first."""
    lines = [
        "| variant | size | gzip | gzip ratio | test acc | change (pts) | agreement | sparsity "
        "| p50 ms | Pareto |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in sorted(rows, key=lambda r: r["gzip_bytes"]):
        mark = " **(chosen)**" if chosen is not None and row is chosen else ""
        lines.append(
            f"| {row['name']}{mark} | {row['size_bytes'] / 1024:.1f} KiB "
            f"| {row['gzip_bytes'] / 1024:.1f} KiB | {row['gzip_compression_ratio']:.1f}x "
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
        "config": config.to_dict(),
        "baseline": result.baseline["name"],
        "chosen": result.chosen["name"],
        "bundle": None if result.bundle is None else result.bundle.name,
        "rows": result.rows,
    }
    write_bytes_atomic(run_dir / SWEEP_RECORD, json.dumps(record, indent=2).encode("utf-8"))
    table = [
        "# Compression sweep",
        "",
        f"Baseline: the uncompressed model's float32 `.tflite`, test accuracy "
        f"{result.baseline['test_accuracy']:.4f}. Chosen: the smallest variant (gzip) within "
        f"{result.max_accuracy_drop:g} accuracy points of it: **{result.chosen['name']}**.",
        "",
        "Every figure is measured on the exported `.tflite` in the LiteRT interpreter, on the "
        "test split. `change (pts)` is the test accuracy against the baseline's, in points: "
        "negative is a loss, positive a gain. Pruning shrinks the gzip size, not the raw size.",
        "",
        sweep_table(result.rows, result.chosen),
        "",
        f"![gzip size against test accuracy]({SWEEP_PLOT})",
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
    floor = result.baseline["test_accuracy"] - result.max_accuracy_drop / 100
    plot_sweep(result.rows, result.chosen, run_dir / SWEEP_PLOT, floor)


def plot_sweep(
    rows: Sequence[dict[str, Any]],
    chosen: dict[str, Any],
    path: str | Path,
    accuracy_floor: float | None = None,
) -> Path:
    """Draws gzip size against test accuracy, the Pareto front and the chosen variant (PNG).

    `accuracy_floor` (a fraction), when given, is drawn as the tolerance line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(8, 5))
    for qat, marker in ((False, "o"), (True, "s")):
        group = [r for r in rows if r["qat"] == qat]
        ax.scatter(
            [r["gzip_bytes"] / 1024 for r in group],
            [100 * r["test_accuracy"] for r in group],
            marker=marker,
            alpha=0.6,
            label="QAT" if qat else "post-training only",
        )
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["gzip_bytes"])
    ax.step(
        [r["gzip_bytes"] / 1024 for r in front],
        [100 * r["test_accuracy"] for r in front],
        where="post",
        color="black",
        linewidth=1,
        label="Pareto front",
    )
    ax.scatter(
        [chosen["gzip_bytes"] / 1024],
        [100 * chosen["test_accuracy"]],
        marker="*",
        s=250,
        color="red",
        label=f"chosen: {chosen['name']}",
        zorder=3,
    )
    if accuracy_floor is not None:
        ax.axhline(100 * accuracy_floor, color="grey", linestyle="--", label="tolerance")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_xlabel("gzip size of the .tflite (KiB, log scale)")
    ax.set_ylabel("test accuracy in LiteRT (%)")
    ax.set_title("Compression sweep")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with file_atomic(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)
