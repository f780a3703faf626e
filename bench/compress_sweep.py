"""The compression sweep on the embedded default, end to end, as a user runs it.

Usage: python bench/compress_sweep.py [--output DIR] [--plot FILE]

Runs `tfpipeline compress-sweep` (default config, default grid: sparsity 0.5/0.75/0.85/0.9,
clustering 8/16, prune-then-cluster, each with and without QAT, exported as float16, dynamic
and int8) in a fresh process. The sweep chooses its variant on the validation split; this
prints the chosen variant's gzip compression ratio against the uncompressed float32 .tflite,
its accuracy change on the validation split (which chose it) and on the held-out test split
(the unbiased figure, which the targets are judged on; measured on the exported file in
LiteRT), the wall time, and the table of the Pareto front (on validation) with a few
landmarks. Targets: >= 10x smaller (gzip), <= 1 point of test accuracy lost, the whole sweep
within 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the sweep and its table: this checkout's code
sys.path.insert(0, str(ROOT))

from tfpipeline.sweep_report import sweep_table  # noqa: E402

# Shown in the table besides the Pareto front and the chosen variant.
LANDMARKS = ("prune 75% / dynamic", "QAT / int8", "uncompressed / int8", "uncompressed / float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=None, help="sweep folder to keep")
    parser.add_argument("--plot", type=Path, default=None, help="copy the sweep's plot here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.output or Path(tmp) / "sweep"
        started = time.perf_counter()
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        subprocess.run(
            [sys.executable, "-m", "tfpipeline", "compress-sweep", "--output", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": path},
        )
        wall = time.perf_counter() - started
        record = json.loads((out / "sweep.json").read_text())
        if args.plot is not None:
            shutil.copyfile(out / "sweep.png", args.plot)
    rows = {row["name"]: row for row in record["rows"]}
    chosen, baseline = rows[record["chosen"]], rows[record["baseline"]]
    sizes = record["split_sizes"]
    print(
        f"variants measured: {len(rows)}; chosen on the validation split ({sizes['val']} "
        f"samples), reported on the held-out test split ({sizes['test']} samples)"
    )
    print(
        f"baseline: {baseline['name']}: gzip {baseline['gzip_bytes'] / 1024:.1f} KiB, "
        f"validation accuracy {baseline['val_accuracy']:.4f}, "
        f"test accuracy {baseline['test_accuracy']:.4f}"
    )
    ratio, test_change = chosen["gzip_compression_ratio"], chosen["accuracy_change_points"]
    print(
        f"chosen: {chosen['name']}: gzip {chosen['gzip_bytes'] / 1024:.1f} KiB, "
        f"{ratio:.1f}x smaller (target >= 10x)"
    )
    print(
        f"  validation (chose it): accuracy {chosen['val_accuracy']:.4f}, "
        f"{_points(chosen['val_accuracy_change_points'])} "
        f"(tolerance {record['max_accuracy_drop_points']:g} lost)"
    )
    print(
        f"  test (held out):       accuracy {chosen['test_accuracy']:.4f}, "
        f"{_points(test_change)} (target <= 1 lost)"
    )
    print(
        f"targets on the held-out test split: {ratio:.1f}x >= 10x "
        f"{'met' if ratio >= 10 else 'NOT met'}; {max(0.0, -test_change):.2f} points lost "
        f"<= 1 {'met' if test_change >= -1 - 1e-9 else 'NOT met'}"
    )
    print(f"wall time: {wall:.0f} s (target < 600 s)")
    print()
    print(f"Pareto front (on validation), the chosen variant and landmarks ({len(rows)} in all):")
    shown = [r for r in record["rows"] if r["pareto"] or r is chosen or r["name"] in LANDMARKS]
    print(sweep_table(shown, chosen))


def _points(change: float) -> str:
    return f"{abs(change):.2f} points {'lost' if change < 0 else 'gained'}"


if __name__ == "__main__":
    main()
