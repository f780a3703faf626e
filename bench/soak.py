"""Soak: many default runs in one process; resident memory must not keep growing.

Usage: python bench/soak.py [--runs 20]

Runs the default pipeline `--runs` times through the Python API in one process (each into a
new temporary folder) and prints the peak resident memory after each run. Target: after the
second run, peak memory grows by no more than 10% (TensorFlow graphs and converter state
must be released between runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tfpipeline as tp  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    config = tp.load_config(overrides={"data.clean.constant_features": "ignore"})
    peaks = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(1, args.runs + 1):
            started = time.perf_counter()
            manifest = tp.Pipeline(config, log=lambda line: None, verbose=0).run(
                Path(folder) / f"run{run}"
            )
            peaks.append(peak_mb())
            print(
                f"run {run:2d}: {time.perf_counter() - started:5.1f} s, {manifest['status']}, "
                f"peak resident memory {peaks[-1]:7.1f} MB",
                flush=True,
            )
    growth = (peaks[-1] - peaks[1]) / peaks[1]
    print(f"growth of peak memory from run 2 to run {args.runs}: {growth:+.1%} (target <= 10%)")
    per_run = (peaks[-1] - peaks[1]) / (args.runs - 2)
    print(f"peak memory added per run after the second: {per_run:+.1f} MB")


if __name__ == "__main__":
    main()
