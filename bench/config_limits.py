"""Config loading at its limits: the largest accepted file and a refused alias bomb.

Usage: python bench/config_limits.py

Loads, each in a fresh Python process, (1) the largest config file accepted: 256 KiB of valid
YAML, a `model.hidden_units` list of about 87,000 entries (more nodes per byte than any
real config); (2) a 449-byte "billion laughs" file (nine lists of nine aliases, nested nine
deep, 9**9 items once expanded), which must be refused at its first alias. Prints the time
of `load_config` and the peak resident memory of the process, beside that of a process
that only imports tfpipeline and of one loading the embedded default config; for the
largest file, the time per YAML node (one per hidden unit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def largest_config() -> str:
    from tfpipeline._schema import MAX_CONFIG_BYTES

    head, tail = "model:\n  hidden_units: [", "1]\n"
    count = (MAX_CONFIG_BYTES - len(head) - len(tail)) // 3
    text = head + "1, " * count + tail
    return text + "#" * (MAX_CONFIG_BYTES - len(text))  # exactly the limit


def alias_bomb() -> str:
    lines = ["train:", "  epochs:", "    - &l0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    lines += [f"    - &l{i} [{','.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: str) -> None:
    """Runs in the child: loads `path` (or nothing) and prints one JSON line."""
    limit = 2 * 1024**3  # should the refusal break, a MemoryError instead of a swapping machine
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from tfpipeline import ConfigError, load_config

    result, started = "imported only", time.perf_counter()
    if path:
        try:
            config = load_config(path)
            seconds = time.perf_counter() - started
            units = len(config.model.hidden_units)
            result = f"accepted ({units:,} hidden units"
            if units > 1000:
                result += f", {seconds / units * 1e6:.0f} us per unit"
            result += ")"
        except ConfigError as exc:
            result = f"refused: {str(exc).replace(str(Path(path).parent) + os.sep, '')}"
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "result": result}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        return measure(args.one)
    import yaml

    print(f"command: python {' '.join(sys.argv)}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        f", PyYAML {yaml.__version__}"
    )
    from tfpipeline.config import default_config_path

    default = default_config_path()
    with tempfile.TemporaryDirectory() as folder:
        cases = {"import only": ""}
        cases[f"default.yaml ({default.stat().st_size:,} bytes)"] = str(default)
        for name, text in (("largest.yaml", largest_config()), ("bomb.yaml", alias_bomb())):
            path = Path(folder) / name
            path.write_text(text)
            cases[f"{name} ({path.stat().st_size:,} bytes)"] = str(path)
        for name, path in cases.items():
            out = subprocess.run(
                [sys.executable, __file__, "--one", path], check=True, capture_output=True
            )
            figures = json.loads(out.stdout.decode().strip().splitlines()[-1])
            print(
                f"{name:32s} load_config {figures['seconds']:6.3f} s, peak resident memory "
                f"{figures['peak_mb']:6.1f} MB; {figures['result']}"
            )


if __name__ == "__main__":
    main()
