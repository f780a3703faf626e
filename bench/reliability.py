"""The reliability figures quoted from the test suite: runs its tests and prints the counts.

Usage: python bench/reliability.py [pytest arguments ...]

Runs `python -m pytest -rA --hypothesis-show-statistics` on the bad-input, end-to-end
training, deployment, pipeline, run-folder and model-file tests (in a fresh process, from
the repository root), then prints: the number of bad inputs in the corpus fed to the command
line and how many were handled as expected (one test each), the examples the random-config
hypothesis test tried, the passed and failed tests per file, and pytest's summary line.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

FILES = [
    "tests/test_bad_inputs.py",
    "tests/test_training_e2e.py",
    "tests/test_deploy.py",
    "tests/test_pipeline.py",
    "tests/test_run_folder.py",
    "tests/test_model_files.py",
]
CORPUS_TEST = "test_bad_input_gives_a_clear_line_and_the_right_exit_code"
HYPOTHESIS_TEST = "test_any_config_loads_or_raises_config_error"


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "pytest", *FILES, "-rA", "--hypothesis-show-statistics"]
    command += sys.argv[1:]
    print(f"command: python -m pytest {' '.join(command[3:])}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    out = done.stdout
    outcomes = re.findall(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)", out, re.M)
    corpus = Counter(outcome for outcome, test in outcomes if f"::{CORPUS_TEST}[" in test)
    print(
        f"bad inputs in the corpus: {sum(corpus.values())}; handled as expected (test passed): "
        f"{corpus['PASSED']}; not: {sum(corpus.values()) - corpus['PASSED']}"
    )
    statistics = out.split(f"::{HYPOTHESIS_TEST}:", 1)[-1]
    examples = re.search(
        r"(\d+) passing(?: examples?)?, (\d+) failing(?: examples?)?,? (?:and )?(\d+) invalid",
        statistics,
    )
    if examples:
        print(
            f"random configs (hypothesis): {examples[1]} passing, {examples[2]} failing "
            f"(each loaded or raised ConfigError), {examples[3]} invalid (rejected while drawn)"
        )
    else:
        print("random configs (hypothesis): no statistics found")
    per_file = Counter((test.split("::")[0], outcome) for outcome, test in outcomes)
    for name in FILES:
        counts = {o: n for (f, o), n in sorted(per_file.items()) if f == name}
        print(f"  {name}: " + ", ".join(f"{n} {o.lower()}" for o, n in counts.items()))
    summary = [line for line in out.splitlines() if line.startswith("=") and " in " in line]
    print(f"pytest: {summary[-1].strip('= ') if summary else '(no summary line)'}")
    for outcome, test in outcomes:
        if outcome in ("FAILED", "ERROR"):
            print(f"  {outcome}: {test}")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
