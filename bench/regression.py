"""Regression against the mean predictor: the default run's test MAE, trained and shipped.

Usage: python bench/regression.py [--csv PATH:TARGET ...]

For each data set, one default run (`data.task: regression`): the trained Keras model's test
MAE, the shipped (compressed) model's, the int8 `.tflite` file's in LiteRT, and the mean
predictor's (always the training mean), on the same test split. Data: scikit-learn's bundled
`diabetes` (raw units), a cars-like fuel-economy CSV written by the test helpers, and any
`--csv`. Targets: diabetes at most 0.8x the mean predictor's MAE, cars-like at most 0.5x.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from tabular_data import write_cars_like_csv  # noqa: E402

import tfpipeline as tp  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", action="append", default=[], metavar="PATH:TARGET")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        "| data | trained MAE | shipped MAE | int8 .tflite MAE | mean predictor MAE "
        "| shipped / mean | R² (shipped) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sets = {"diabetes": {"data.name": "diabetes"}}
        csvs = [(write_cars_like_csv(folder / "cars_like.csv"), "mpg")]
        csvs += [(Path(p), t) for p, _, t in (item.rpartition(":") for item in args.csv)]
        for path, target in csvs:
            sets[path.stem] = {
                "data.source": "csv",
                "data.path": str(path),
                "data.label_column": target,
            }
        for name, overrides in sets.items():
            config = tp.load_config(overrides={**overrides, "data.task": "regression"})
            manifest = tp.Pipeline(config, log=lambda line: None, verbose=0).run(folder / name)
            evaluation, shipped = manifest["evaluation"], manifest["compression"]
            int8 = next(a for a in manifest["artifacts"] if a["variant"] == "int8")
            baseline = evaluation["baseline"]["mae"]
            print(
                f"| {name} | {evaluation['mae']:.4g} | {shipped['test_mae']:.4g} "
                f"| {int8['test_mae']:.4g} | {baseline:.4g} | {shipped['test_mae'] / baseline:.2f} "
                f"| {shipped['test_r2']:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
