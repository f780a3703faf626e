"""The compression sweep, run from the command line on tiny settings, checked file by file."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tfpipeline import ConfigError, choose_variant, compress_sweep, load_config, load_predictor

pytestmark = pytest.mark.slow

TINY_SWEEP = [
    "--set", "train.epochs=3",
    "--set", "compress.prune.epochs=2",
    "--set", "compress.cluster.epochs=1",
    "--set", "compress.qat.epochs=1",
    "--set", "verify.latency_runs=5",
    "--sparsities", "0.5",
    "--clusters", "4",
    "--no-combined",
    "--tflite", "dynamic",
    "--bundle",
]  # fmt: skip

NAMES = {
    "uncompressed / float32",
    "uncompressed / dynamic",
    "prune 50% / dynamic",
    "cluster 4 / dynamic",
    "QAT / int8",
    "prune 50% + QAT / int8",
    "cluster 4 + QAT / int8",
}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "sweep"
    (out / "variants").mkdir(parents=True)  # what a killed sweep of this folder left
    (out / "variants" / "prune_90_int8.tflite").write_bytes(b"an earlier sweep's variant")
    (out / "sweep_config.yaml").write_text("data: {}\n")
    (out / ".tfpipeline-sweep.md.1234.tmp").write_text("half")
    result = subprocess.run(
        [sys.executable, "-m", "tfpipeline", "compress-sweep", *TINY_SWEEP, "--output", out],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads((out / "sweep.json").read_text()), result.stdout


def test_sweep_measures_every_variant_from_its_file(sweep, digits):
    out, record, stdout = sweep
    rows = {row["name"]: row for row in record["rows"]}
    assert set(rows) == NAMES
    assert record["baseline"] == "uncompressed / float32"
    for row in rows.values():
        path = out / row["path"]
        assert path.stat().st_size == row["size_bytes"]
    # the killed sweep's files are gone: the folder holds this sweep's variants only
    assert sorted(p.name for p in (out / "variants").iterdir()) == sorted(
        (out / row["path"]).name for row in rows.values()
    )
    assert not list(out.glob(".tfpipeline-*"))
    assert rows["prune 50% / dynamic"]["overall_sparsity"] == pytest.approx(0.5, abs=0.01)
    assert rows["prune 50% + QAT / int8"]["overall_sparsity"] == pytest.approx(0.5, abs=0.01)
    assert max(rows["cluster 4 / dynamic"]["unique_weights"].values()) <= 4
    assert rows["uncompressed / float32"]["gzip_compression_ratio"] == 1.0
    # the accuracy recorded is the file's own, run again here in LiteRT
    row = rows["prune 50% + QAT / int8"]
    x, y = digits.splits.test.arrays()
    accuracy = np.mean(load_predictor(out / row["path"]).predict(x).argmax(1) == y)
    assert row["test_accuracy"] == pytest.approx(accuracy)
    assert "[7/7]" in stdout and "s left)" in stdout  # a progress line per variant
    for name in ("sweep.md", "sweep.csv", "sweep.png"):
        assert (out / name).stat().st_size > 100
    assert (out / "sweep.csv").read_text().count("\n") == 1 + len(rows)


def test_sweep_chooses_the_smallest_variant_within_the_tolerance(sweep):
    _, record, stdout = sweep
    rows = record["rows"]
    floor = rows[0]["test_accuracy"] - 0.01
    within = [row for row in rows if row["test_accuracy"] >= floor - 1e-9]
    chosen = next(row for row in rows if row["name"] == record["chosen"])
    assert chosen["gzip_bytes"] == min(row["gzip_bytes"] for row in within)
    assert f"chosen: {chosen['name']}" in stdout
    for row in rows:  # Pareto: nothing smaller is at least as accurate
        beaten = any(
            other["gzip_bytes"] < row["gzip_bytes"]
            and other["test_accuracy"] >= row["test_accuracy"]
            for other in rows
        )
        assert row["pareto"] == (not beaten), row["name"]


def test_accuracy_changes_read_as_losses_and_gains(sweep):
    out, record, stdout = sweep
    baseline = record["rows"][0]["test_accuracy"]
    for row in record["rows"]:
        expected = 100 * (row["test_accuracy"] - baseline)  # a loss is negative
        assert row["accuracy_change_points"] == pytest.approx(expected)
    table = (out / "sweep.md").read_text()
    assert "| change (pts) |" in table and "drop (pts)" not in table
    chosen = next(row for row in record["rows"] if row["name"] == record["chosen"])
    word = "lost" if chosen["accuracy_change_points"] < 0 else "gained"
    assert f"{abs(chosen['accuracy_change_points']):.2f} points {word}" in stdout


def test_the_chosen_variant_becomes_a_verified_folder_with_an_android_bundle(sweep, digits):
    out, record, stdout = sweep
    chosen = next(row for row in record["rows"] if row["name"] == record["chosen"])
    folder = out / "chosen"
    assert record["bundle"] == "chosen" and f"bundle: {folder}" in stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    (artifact,) = manifest["artifacts"]
    assert artifact["passed"] and artifact["variant"] == chosen["tflite"]
    assert (folder / artifact["path"]).read_bytes() == (out / chosen["path"]).read_bytes()
    assert (folder / "labels.txt").read_text().split() == list(digits.class_names)
    card = json.loads((folder / "android" / "model_card.json").read_text())
    assert card["model"]["variant"] == chosen["tflite"] and card["input"]["size"] == 64
    x, y = digits.splits.test.arrays()
    predictor = load_predictor(folder / "android" / "model.tflite")  # sha256 from the card
    assert np.mean(predictor.predict(x).argmax(1) == y) == pytest.approx(chosen["test_accuracy"])


def test_choose_variant_trades_size_for_accuracy_by_the_tolerance():
    rows = [
        {"name": "base", "gzip_bytes": 1000, "test_accuracy": 0.98},
        {"name": "small", "gzip_bytes": 200, "test_accuracy": 0.975},
        {"name": "tiny", "gzip_bytes": 100, "test_accuracy": 0.95},
    ]
    assert choose_variant(rows, rows[0], 1.0)["name"] == "small"
    assert choose_variant(rows, rows[0], 3.0)["name"] == "tiny"
    assert choose_variant(rows, rows[0], 0.0)["name"] == "base"


def test_sweep_refuses_bad_requests_before_any_work(tmp_path, sweep):
    config = load_config()
    with pytest.raises(ConfigError, match="already holds a sweep"):
        compress_sweep(config, sweep[0])
    with pytest.raises(ConfigError, match=r"must be in \[0, 100\] accuracy points"):
        compress_sweep(config, tmp_path / "a", max_accuracy_drop=-1)
    regression = load_config(overrides={"data.task": "regression", "data.name": "diabetes"})
    with pytest.raises(ConfigError, match="needs `data.task: classification`"):
        compress_sweep(regression, tmp_path / "b")
    result = subprocess.run(
        [sys.executable, "-m", "tfpipeline", "compress-sweep", "--sparsities", "1.5"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Sweep sparsities must be in (0, 1). Received: 1.5" in result.stderr
    assert not (tmp_path / "saved_models").exists()
