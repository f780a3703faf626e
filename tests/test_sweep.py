"""The compression sweep, run from the command line on tiny settings, checked file by file."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tfpipeline import ConfigError, choose_variant, compress_sweep, load_config, load_predictor

# one worker builds the module's fixtures (see pyproject's --dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("sweep")]

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
    # each accuracy recorded is the file's own on its split, run again here in LiteRT:
    # `val_accuracy` on the validation split, `test_accuracy` on the test split
    x_val, y_val = digits.splits.val.arrays()
    x_test, y_test = digits.splits.test.arrays()
    for row in rows.values():
        predictor = load_predictor(out / row["path"])
        val = np.mean(predictor.predict(x_val).argmax(1) == y_val)
        test = np.mean(predictor.predict(x_test).argmax(1) == y_test)
        assert (row["val_accuracy"], row["test_accuracy"]) == pytest.approx((val, test))
    assert record["chosen_on"] == "val"
    assert record["split_sizes"] == {"train": len(digits.splits.train), "val": len(y_val),
                                     "test": len(y_test)}  # fmt: skip
    assert "[7/7]" in stdout and "s left)" in stdout  # a progress line per variant
    for name in ("sweep.md", "sweep.csv", "sweep.png"):
        assert (out / name).stat().st_size > 100
    assert (out / "sweep.csv").read_text().count("\n") == 1 + len(rows)


def test_sweep_chooses_the_smallest_variant_within_the_tolerance_on_validation(sweep):
    _, record, stdout = sweep
    rows = record["rows"]
    floor = rows[0]["val_accuracy"] - 0.01  # the validation split chooses, never the test one
    within = [row for row in rows if row["val_accuracy"] >= floor - 1e-9]
    chosen = next(row for row in rows if row["name"] == record["chosen"])
    assert chosen["gzip_bytes"] == min(row["gzip_bytes"] for row in within)
    assert chosen["val_accuracy"] == max(
        row["val_accuracy"] for row in within if row["gzip_bytes"] == chosen["gzip_bytes"]
    )
    assert f"chosen: {chosen['name']}" in stdout
    for row in rows:  # Pareto (on validation): nothing smaller is at least as accurate
        beaten = any(
            other["gzip_bytes"] < row["gzip_bytes"] and other["val_accuracy"] >= row["val_accuracy"]
            for other in rows
        )
        assert row["pareto"] == (not beaten), row["name"]


def test_accuracy_changes_read_as_losses_and_gains_on_each_split(sweep):
    out, record, stdout = sweep
    base = record["rows"][0]
    for row in record["rows"]:  # a loss is negative; each change on its own split
        val, test = (100 * (row[k] - base[k]) for k in ("val_accuracy", "test_accuracy"))
        assert row["val_accuracy_change_points"] == pytest.approx(val)
        assert row["accuracy_change_points"] == pytest.approx(test)
    table = (out / "sweep.md").read_text()
    header = "| val acc | val change (pts) | test acc | test change (pts) | test agreement |"
    assert header in table and "drop (pts)" not in table and "| Pareto (val) |" in table
    assert "Chosen on the validation split" in table and "held-out test split" in table
    chosen = next(row for row in record["rows"] if row["name"] == record["chosen"])
    splits = (
        ("validation", "val", "val_accuracy", "val_accuracy_change_points"),
        ("held-out test", "test", "test_accuracy", "accuracy_change_points"),
    )
    for split, size, accuracy, change in splits:
        word = "lost" if chosen[change] < 0 else "gained"
        shown = f"{split} split ({record['split_sizes'][size]} samples): accuracy "
        assert f"{shown}{chosen[accuracy]:.4f} ({abs(chosen[change]):.2f} points {word}" in stdout


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
        {"name": "base", "gzip_bytes": 1000, "val_accuracy": 0.98},
        {"name": "small", "gzip_bytes": 200, "val_accuracy": 0.975},
        {"name": "tiny", "gzip_bytes": 100, "val_accuracy": 0.95},
    ]
    assert choose_variant(rows, rows[0], 1.0)["name"] == "small"
    assert choose_variant(rows, rows[0], 3.0)["name"] == "tiny"
    assert choose_variant(rows, rows[0], 0.0)["name"] == "base"


def test_choose_variant_chooses_on_validation_where_the_test_split_disagrees():
    rows = [  # on test "tiny" would be chosen and "small" refused; validation says otherwise
        {"name": "base", "gzip_bytes": 1000, "val_accuracy": 0.98, "test_accuracy": 0.98},
        {"name": "small", "gzip_bytes": 200, "val_accuracy": 0.975, "test_accuracy": 0.90},
        {"name": "tiny", "gzip_bytes": 100, "val_accuracy": 0.90, "test_accuracy": 0.99},
    ]
    assert choose_variant(rows, rows[0], 1.0)["name"] == "small"
    with pytest.raises(ValueError, match="every row needs `val_accuracy`. Received .*: base"):
        old = [{"name": "base", "gzip_bytes": 1, "test_accuracy": 1.0}]  # no validation figure
        choose_variant(old, old[0], 1.0)


def test_sweep_refuses_bad_requests_before_any_work(tmp_path, sweep):
    config = load_config()
    with pytest.raises(ConfigError, match="already holds a sweep"):
        compress_sweep(config, sweep[0])
    with pytest.raises(ConfigError, match=r"must be in \[0, 100\] accuracy points"):
        compress_sweep(config, tmp_path / "a", max_accuracy_drop=-1)
    regression = load_config(overrides={"data.task": "regression", "data.name": "diabetes"})
    with pytest.raises(ConfigError, match="needs `data.task: classification`"):
        compress_sweep(regression, tmp_path / "b")
    no_val = {"data.split.train": 0.9, "data.split.val": 0, "train.early_stopping.monitor": "loss"}
    no_val = load_config(overrides=no_val)
    with pytest.raises(ConfigError, match=r"chooses .* on the validation split .* > 0"):
        compress_sweep(no_val, tmp_path / "c")
    result = subprocess.run(
        [sys.executable, "-m", "tfpipeline", "compress-sweep", "--sparsities", "1.5"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Sweep sparsities must be in (0, 1). Received: 1.5" in result.stderr
    assert not (tmp_path / "saved_models").exists()
