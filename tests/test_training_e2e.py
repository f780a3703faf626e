"""Whole runs of the training stage: kill and resume, a CNN, the seed example as a custom model."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tfpipeline import ConfigError, Pipeline, load_config

pytestmark = pytest.mark.slow

# Small batches make epochs long enough to kill a run in the middle of training.
RESUMABLE = [
    "--set", "train.epochs=12",
    "--set", "train.batch_size=8",
    "--set", "train.early_stopping.patience=3",
    "--set", "compress.prune.enabled=false",
    "--set", "export={saved_model: false, onnx: false, tflite: [float32]}",
    "--set", "verify.latency_runs=5",
]  # fmt: skip


def command(output):
    return [sys.executable, "-m", "tfpipeline", "run", "--output", str(output), *RESUMABLE]


def logged_epochs(run_dir):
    log = run_dir / "training_log.csv"
    if not log.exists():
        return 0
    with open(log, newline="") as handle:
        return max(0, len(list(csv.reader(handle))) - 1)


def test_a_killed_run_resumes_from_its_last_epoch_and_ends_as_an_uninterrupted_one(tmp_path):
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        command(killed),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while logged_epochs(killed) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = logged_epochs(killed)
    assert 3 <= done < 12, "the run was not killed in the middle of training"
    assert not (killed / "manifest.json").exists()

    resumed = subprocess.run(command(killed), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after epoch" in resumed.stdout

    straight = subprocess.run(
        command(tmp_path / "straight"), capture_output=True, text=True, timeout=600
    )
    assert straight.returncode == 0, straight.stderr

    a = json.loads((killed / "manifest.json").read_text())
    b = json.loads((tmp_path / "straight" / "manifest.json").read_text())
    assert a["training"]["resumed_from_epoch"] >= done - 1
    assert a["training"]["history"] == b["training"]["history"]
    assert a["training"]["best_epoch"] == b["training"]["best_epoch"]
    assert a["keras_test_accuracy"] == b["keras_test_accuracy"]
    # Same weights, so the same exported file, byte for byte.
    assert a["artifacts"][0]["sha256"] == b["artifacts"][0]["sha256"]


def test_a_cnn_on_images_exports_to_int8_cleanly(tmp_path, logistic_accuracy):
    config = load_config(
        overrides={
            "data.as_images": True,
            "model.kind": "cnn",
            "model.hidden_units": [32],
            "train.epochs": 6,
            "train.learning_rate": 0.005,
            "compress.prune.epochs": 2,
            "export.saved_model": False,
            "verify.latency_runs": 5,
        }
    )
    manifest = Pipeline(config, log=lambda line: None, verbose=0).run(tmp_path / "run")
    assert manifest["status"] == "passed"
    assert manifest["keras_test_accuracy"] >= logistic_accuracy - 0.02  # measured: 0.989
    int8 = next(a for a in manifest["artifacts"] if a["variant"] == "int8")
    assert int8["top1_agreement"] >= 0.97
    assert manifest["compression"]["prune"]["sparsity"]["conv_1"] == pytest.approx(0.75, abs=0.01)
    assert (tmp_path / "run" / "confusion_matrix.png").stat().st_size > 1000
    assert set(manifest["evaluation"]["per_class"]) == {str(i) for i in range(10)}


def test_the_seed_example_runs_as_a_custom_model(tmp_path, logistic_accuracy):
    from tensorflow.keras import layers, models

    model = models.Sequential()
    model.add(layers.Dense(128, activation="relu", input_shape=(64,)))
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    config = load_config(
        overrides={
            "model.kind": "custom",
            "train.epochs": 5,
            "compress.prune.epochs": 2,
            "export.saved_model": False,
            "verify.latency_runs": 5,
        }
    )
    lines = []
    manifest = Pipeline(config, log=lines.append, verbose=0).run(tmp_path / "run", model=model)
    assert manifest["status"] == "passed"
    replaced = next(line for line in lines if "compile()" in line)  # said, not silent
    assert "(optimizer SGD, loss categorical_crossentropy) is replaced" in replaced
    assert "optimizer adam at learning rate 0.001" in replaced
    # Raw 0-16 pixels (nothing was added): measured 0.972, as the logistic regression.
    assert manifest["keras_test_accuracy"] >= logistic_accuracy - 0.03
    with pytest.raises(ConfigError, match="needs your model"):
        Pipeline(config).run(tmp_path / "other")
    with pytest.raises(ConfigError, match="set `model.kind: custom`"):
        Pipeline(load_config()).run(tmp_path / "other", model=model)


def test_a_run_killed_during_export_leaves_no_unverified_model_and_resumes(tmp_path, capsys):
    from tfpipeline.cli import main
    from tfpipeline.run_folder import STAGING

    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "tfpipeline", "run", "--output", str(run_dir),
            "--set", "train.epochs=2", "--set", "compress.prune.enabled=false",
            "--set", "verify.latency_runs=5"]  # fmt: skip
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    for line in process.stdout:  # kill it once two artifacts are written, none verified
        if "wrote model_float32.tflite" in line:
            os.killpg(process.pid, signal.SIGKILL)
            break
    process.wait()
    assert not (run_dir / "manifest.json").exists()
    assert (run_dir / STAGING / "model_float32.tflite").is_file()  # written, waiting
    exported = ("saved_model", "model_float32.tflite", "model_int8.tflite", "model.onnx")
    assert not [name for name in exported if (run_dir / name).exists()]
    assert main(["predict", str(run_dir / "model_float32.tflite"), str(tmp_path / "x.npy")]) == 1
    assert "Model file not found" in capsys.readouterr().err
    resumed = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "passed" and len(manifest["artifacts"]) == 4
    assert all((run_dir / name).exists() for name in exported)
    assert not list(run_dir.glob(".tfpipeline-*")) and not list(tmp_path.glob(".tfpipeline-*"))


class Killed(Exception):
    """Stands for the SIGKILL that ends a run in the middle of training."""


def test_a_killed_run_without_output_resumes_in_the_newest_unfinished_run_of_its_config(
    tmp_path, monkeypatch
):
    from tfpipeline import build_model, dump_config, prepare_data, train
    from tfpipeline._keras import keras
    from tfpipeline.callbacks import resume_epoch

    monkeypatch.chdir(tmp_path)
    config = load_config(
        overrides={
            "train.epochs": 4,
            "train.early_stopping.enabled": False,
            "compress.prune.enabled": False,
            "export": {"saved_model": False, "onnx": False, "keras": False},
            "export.tflite": ["float32"],
            "verify.latency_runs": 2,
            "verify.latency_warmup": 0,
        }
    )
    text = dump_config(config)
    other = dump_config(load_config(config.to_dict(), overrides={"train.epochs": 5}))
    runs = tmp_path / "saved_models"
    folders = {  # by name, oldest first; the run to resume is the newest unfinished of its config
        "20260101-000000": text,  # unfinished too, but older
        "20260102-000000": text,  # killed during training: resumed
        "20260103-000000": text,  # finished
        "20260104-000000": other,  # unfinished, another config
    }
    for name, config_text in folders.items():
        (runs / name).mkdir(parents=True)
        (runs / name / "run_config.yaml").write_text(config_text)
    (runs / "20260103-000000" / "manifest.json").write_text("{}")
    killed = runs / "20260102-000000"

    class KilledInEpoch3(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                raise Killed

    keras.utils.set_random_seed(config.train.seed)  # as the run itself starts
    data = prepare_data(config.data)
    model = build_model(config.model, data, seed=config.train.seed)
    with pytest.raises(Killed):
        train(model, data, config.train, run_dir=killed, callbacks=[KilledInEpoch3()], verbose=0)
    finished = resume_epoch(killed / "training_state")
    assert 1 <= finished < 4

    pipeline = Pipeline(config, log=lambda line: None, verbose=0)
    manifest = pipeline.run()  # no output folder: the same command, started again
    assert pipeline.run_dir.resolve() == killed.resolve()
    assert sorted(p.name for p in runs.iterdir()) == sorted(folders)  # no new run folder
    assert json.loads((killed / "manifest.json").read_text()) == manifest
    assert manifest["status"] == "passed"
    assert manifest["training"]["resumed_from_epoch"] == finished
    assert manifest["training"]["epochs_run"] == len(manifest["training"]["history"]["loss"]) == 4
    assert (runs / "20260103-000000" / "manifest.json").read_text() == "{}"
    for name in ("20260101-000000", "20260104-000000"):  # left as they were
        assert [p.name for p in (runs / name).iterdir()] == ["run_config.yaml"]
