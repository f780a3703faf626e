"""Times the default `tfpipeline run` end to end, as a user runs it, and checks its accuracy.

Usage: python bench/default_run.py [--runs N]

Each run is `python -m tfpipeline run --output DIR` in a fresh process, with this interpreter
(run from the repository root with PYTHONPATH=. to measure the checkout's package). Prints,
per run, the wall time of the whole command (Python start and TensorFlow import included),
the peak resident memory of that process, the Keras model's test accuracy and the pruned
int8 TFLite file's; then the median. Targets: under 120 s on a 2-core machine, int8 within
2 points of Keras.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(folder: Path) -> dict:
    command = [sys.executable, "-m", "tfpipeline", "run", "--output", str(folder)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, command)
    manifest = json.loads((folder / "manifest.json").read_text())
    int8 = next(a for a in manifest["artifacts"] if a["variant"] == "int8")
    return {
        "wall_s": wall,
        "peak_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        "keras_accuracy": manifest["keras_test_accuracy"],
        "int8_accuracy": int8["test_accuracy"],
        "int8_latency_ms_p50": int8["latency_ms_p50"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import tfpipeline

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"package: {Path(tfpipeline.__file__).parent}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            result = one_run(Path(tmp) / f"run{i}")
            results.append(result)
            print(
                f"run {i + 1}: {result['wall_s']:.1f} s, peak RSS {result['peak_mb']:.0f} MB, "
                f"keras accuracy "
                f"{result['keras_accuracy']:.4f}, int8 accuracy {result['int8_accuracy']:.4f}, "
                f"int8 p50 {result['int8_latency_ms_p50'] * 1000:.0f} us"
            )
    walls = [r["wall_s"] for r in results]
    peaks = [r["peak_mb"] for r in results]
    gap = max(r["keras_accuracy"] - r["int8_accuracy"] for r in results)
    print(
        f"wall time: min {min(walls):.1f} s, median {statistics.median(walls):.1f} s, "
        f"max {max(walls):.1f} s (target < 120 s)"
    )
    peak_median = statistics.median(peaks)
    print(f"peak resident memory: median {peak_median:.0f} MB, max {max(peaks):.0f} MB")
    print(f"largest keras - int8 accuracy gap: {gap * 100:.2f} points (target <= 2)")


if __name__ == "__main__":
    main()
