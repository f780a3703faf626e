"""int8 against float on tabular data: the default run's files, before and after.

Usage: python bench/tabular_int8.py [--csv PATH:LABEL ...] [--epochs N]

For each data set, the default pipeline runs twice with the same seed (so the same trained
and pruned Keras model): once with `export.int8_input: quantized` (every raw feature
quantized with one int8 scale: what every int8 model was before) and once with the default
`auto` (the normalization in float before the first quantize when the features do not share
one scale). Printed per data set: the Keras model's test accuracy, the float32 and int8
`.tflite` files' test accuracy in LiteRT, the int8 file's top-1 agreement with Keras (and on
the samples Keras decides), the test samples Keras scores as ties, whether each run's files
pass the default verification gate (the runs here turn the int8 agreement check off so that
both finish; the gate is judged afterwards on their figures), and the input type `auto`
chose; then, per data set, `auto`'s reason. Data: iris, wine, breast
cancer, digits (scikit-learn's bundled copies), a penguin-like CSV with `NA` cells and text
columns and a CSV whose columns differ 1000x (written by the test helpers), and any `--csv`.
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

from tabular_data import write_penguin_like_csv, write_wide_scale_csv  # noqa: E402

import tfpipeline as tp  # noqa: E402
from tfpipeline.export import check_artifact  # noqa: E402

DEFAULT_VERIFY = tp.load_config().verify


def data_sets(folder: Path, extra: list[str]) -> dict[str, dict]:
    sets = {name: {"data.name": name} for name in ("iris", "wine", "breast_cancer", "digits")}
    csvs = [
        (write_penguin_like_csv(folder / "penguin_like.csv"), "species"),
        (write_wide_scale_csv(folder / "columns_1000x_apart.csv"), "level"),
    ]
    for item in extra:
        path, _, label = item.rpartition(":")
        csvs.append((Path(path), label))
    for path, label in csvs:
        sets[path.stem] = {
            "data.source": "csv",
            "data.path": str(path),
            "data.label_column": label,
        }
    return sets


def run(overrides: dict, folder: Path) -> dict:
    config = tp.load_config(overrides={**overrides, "verify.int8_min_agreement": 0.0})
    manifest = tp.Pipeline(config, log=lambda line: None, verbose=0).run(folder)
    by_variant = {a["variant"]: a for a in manifest["artifacts"] if a["format"] == "tflite"}
    failures = [
        line
        for a in manifest["artifacts"]
        for line in check_artifact(a["path"], a["variant"], a, DEFAULT_VERIFY)
    ]
    return {
        "gate": "fails" if failures else "passes",
        "failures": failures,
        "ties": by_variant["int8"]["ties"],
        "reason": manifest["int8_input"]["reason"],
        "keras": manifest["compression"]["test_accuracy"],
        "float32": by_variant["float32"]["test_accuracy"],
        "int8": by_variant["int8"]["test_accuracy"],
        "agreement": by_variant["int8"]["top1_agreement"],
        "decisive": by_variant["int8"]["decisive_agreement"],
        "input": manifest["int8_input"]["dtype"],
        "test": manifest["data"]["split_sizes"]["test"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", action="append", default=[], metavar="PATH:LABEL")
    parser.add_argument("--epochs", type=int, default=50)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, tfpipeline {tp.__version__}"
    )
    print(
        "| data | test samples | keras | float32 .tflite | int8 before (agreement) "
        "| int8 after (agreement, on decided) | ties | default gate before / after "
        "| input after |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    reasons = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, overrides in data_sets(folder, args.csv).items():
            overrides = {**overrides, "train.epochs": args.epochs}
            before = run({**overrides, "export.int8_input": "quantized"}, folder / f"{name}-b")
            after = run(overrides, folder / f"{name}-a")
            print(
                f"| {name} | {after['test']} | {after['keras']:.4f} | {after['float32']:.4f} "
                f"| {before['int8']:.4f} ({before['agreement']:.4f}) "
                f"| {after['int8']:.4f} ({after['agreement']:.4f}, {after['decisive']:.4f}) "
                f"| {after['ties']} | {before['gate']} / {after['gate']} | {after['input']} |",
                flush=True,
            )
            reasons[name] = after["reason"]
            for run_name, figures in (("before", before), ("after", after)):
                for line in figures["failures"]:
                    reasons[name] += f"\n    default gate, {run_name}: {line}"
    print(
        "auto's reasons, and what the default gate refuses (int8 agreement on decided samples "
        f">= {DEFAULT_VERIFY.int8_min_agreement:g}, test accuracy >= "
        f"{DEFAULT_VERIFY.min_accuracy:g}, float files as close as the defaults ask):"
    )
    for name, reason in reasons.items():
        print(f"  {name}: {reason}")


if __name__ == "__main__":
    main()
