"""Times the default `tfpipeline run` end to end, as a user runs it, and checks its accuracy.

Usage: python bench/default_run.py [--runs N]

Prints, per run, the wall time of the whole command (Python start and TensorFlow import
included), the Keras model's test accuracy and the pruned int8 TFLite file's; then the
median. The issue's targets: under 120 s on a 2-core machine, int8 within 2 points of Keras.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def one_run(folder: Path) -> dict:
    start = time.perf_counter()
    subprocess.run(
        ["tfpipeline", "run", "--output", str(folder)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    manifest = json.loads((folder / "manifest.json").read_text())
    int8 = next(a for a in manifest["artifacts"] if a["variant"] == "int8")
    return {
        "wall_s": wall,
        "keras_accuracy": manifest["keras_test_accuracy"],
        "int8_accuracy": int8["test_accuracy"],
        "int8_latency_ms_p50": int8["latency_ms_p50"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            result = one_run(Path(tmp) / f"run{i}")
            results.append(result)
            print(
                f"run {i + 1}: {result['wall_s']:.1f} s, keras accuracy "
                f"{result['keras_accuracy']:.4f}, int8 accuracy {result['int8_accuracy']:.4f}, "
                f"int8 p50 {result['int8_latency_ms_p50'] * 1000:.0f} us"
            )
    walls = [r["wall_s"] for r in results]
    gap = max(r["keras_accuracy"] - r["int8_accuracy"] for r in results)
    print(
        f"wall time: min {min(walls):.1f} s, median {statistics.median(walls):.1f} s, "
        f"max {max(walls):.1f} s (target < 120 s)"
    )
    print(f"largest keras - int8 accuracy gap: {gap * 100:.2f} points (target <= 2)")


if __name__ == "__main__":
    main()
