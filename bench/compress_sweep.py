"""The compression sweep on the embedded default, end to end, as a user runs it.

Usage: python bench/compress_sweep.py [--output DIR]

Runs `tfpipeline compress-sweep` (default config, default grid: sparsity 0.5/0.75/0.85/0.9,
clustering 8/16, prune-then-cluster, each with and without QAT, exported as float16, dynamic
and int8) in a fresh process, and prints the chosen variant's gzip compression ratio against
the uncompressed float32 .tflite, its accuracy loss (measured on the exported file in LiteRT)
and the wall time. Targets: >= 10x smaller (gzip), <= 1 point of test accuracy lost, the whole
sweep within 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=None, help="sweep folder to keep")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.output or Path(tmp) / "sweep"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "tfpipeline", "compress-sweep", "--output", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        record = json.loads((out / "sweep.json").read_text())
    rows = {row["name"]: row for row in record["rows"]}
    chosen, baseline = rows[record["chosen"]], rows[record["baseline"]]
    print(f"variants measured: {len(rows)}")
    print(
        f"baseline: {baseline['name']}: gzip {baseline['gzip_bytes'] / 1024:.1f} KiB, "
        f"test accuracy {baseline['test_accuracy']:.4f}"
    )
    print(
        f"chosen: {chosen['name']}: gzip {chosen['gzip_bytes'] / 1024:.1f} KiB, "
        f"{chosen['gzip_compression_ratio']:.1f}x smaller (target >= 10x), test accuracy "
        f"{chosen['test_accuracy']:.4f}, {-chosen['accuracy_change_points']:.2f} points lost "
        "(target <= 1)"
    )
    print(f"wall time: {wall:.0f} s (target < 600 s)")


if __name__ == "__main__":
    main()
