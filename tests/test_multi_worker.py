"""Multi-worker training as two local processes on 127.0.0.1: the same command on each."""

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tf_keras

import tfpipeline
from tfpipeline.callbacks import resume_epoch
from tfpipeline.cli import main

pytestmark = pytest.mark.slow

QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
# An image folder (each worker reads its own share of the files), with class weights; small
# enough to stop mid-training: several short epochs, one quick export.
SHORT = [
    "data.source=image_dir",
    "data.image_size=[8, 8]",
    "data.channels=1",
    "data.class_weight=balanced",
    "train.batch_size=8",
    "train.epochs=5",
    "train.early_stopping.enabled=false",
    "compress.prune.enabled=false",
    "export.tflite=[float32]",
    "export.onnx=false",
    "export.saved_model=false",
    "verify.latency_runs=5",
]


def free_addresses(count=2):
    """`count` free 127.0.0.1 addresses, on ports below the system's ephemeral range.

    A port the system hands out (a bind to port 0) and that is released again before the
    worker binds it may meanwhile go to any process, or become the source port of an
    outgoing connection, even one of the chief's while it connects to the peer that is not
    up yet. Below the ephemeral range a port is only taken by a process that asks for it
    by its number."""
    low, high = ephemeral_ports()
    candidates = range(10000, low) if low > 11000 else range(high + 1, 65536)
    ports = []
    while len(ports) < count:
        port = random.choice(candidates)  # unseeded: two test runs pick different ports
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # in use
                continue
        if port not in ports:
            ports.append(port)
    return ",".join(f"127.0.0.1:{port}" for port in ports)


def ephemeral_ports():
    """The range the system hands out ports from itself (Linux; else the IANA range)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535


def start_workers(tmp_path, output, overrides=(), tag="run", attempts=3):
    """Starts worker 0 and worker 1 with the same command; temporary files go under tmp/.

    Returns once both have started their servers (or one has ended). A port that another
    process took after it was checked stops a worker with "Could not start gRPC server":
    then both are stopped and started again on other ports.
    """
    env = {**QUIET, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    sets = [arg for override in overrides for arg in ("--set", override)]
    logs = [tmp_path / f"{tag}-worker{index}.log" for index in range(2)]
    for _ in range(attempts):
        addresses = free_addresses()
        workers = []
        for index, log in enumerate(logs):
            command = [sys.executable, "-m", "tfpipeline", "run", "--output", str(output)]
            command += ["--workers", addresses, "--worker-index", str(index), *sets]
            with open(log, "w") as handle:  # the child keeps its own copy of the descriptor
                workers.append(
                    subprocess.Popen(
                        command, cwd=tmp_path, env=env, stdout=handle, stderr=subprocess.STDOUT
                    )
                )
        if not port_taken(workers, logs):
            return workers
        for worker in workers:
            worker.kill()
            worker.wait()
    pytest.fail(f"{attempts} times a worker's port was taken before it could bind it")


def port_taken(workers, logs, timeout=300):
    """Whether a worker stopped because its port was taken; `False` once both serve (they
    log the data stage after their servers start) or one ended for another reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        texts = [log.read_text() for log in logs]
        if any(worker.poll() is not None for worker in workers):
            return any("Could not start gRPC server" in text for text in texts)
        if all("[1/7] data:" in text for text in texts):
            return False
        time.sleep(0.1)
    return False


def finish(workers, timeout=600):
    return [worker.wait(timeout=timeout) for worker in workers]


def train_in_one_process(config):
    """The test accuracy of the config's model trained as `Pipeline.run` trains it, alone."""
    tf_keras.utils.set_random_seed(config.train.seed)
    data = tfpipeline.prepare_data(config.data)
    model = tfpipeline.build_model(config.model, data, seed=config.train.seed)
    tfpipeline.train(model, data, config.train, verbose=0)
    x_test, y_test = data.splits.test.arrays()
    return tfpipeline.evaluate(model, x_test, y_test, data.task)["accuracy"]


def test_two_local_workers_train_the_default_config_and_only_the_chief_writes(tmp_path):
    output = tmp_path / "out" / "run"
    workers = start_workers(tmp_path, output)
    single = train_in_one_process(tfpipeline.load_config())  # meanwhile
    codes = finish(workers)
    logs = [(tmp_path / f"run-worker{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    assert "this is worker 0 of 2 (chief)" in logs[0]
    assert "this is worker 1 of 2 (writes to a temporary folder)" in logs[1]
    assert "multi_worker: 2 replicas, global batch 32 (16 per replica)" in logs[0]

    assert [p.name for p in (tmp_path / "out").iterdir()] == ["run"]  # one run folder
    assert not (tmp_path / "saved_models").exists()
    assert not list((tmp_path / "tmp").glob("tfpipeline-*"))  # worker 1's folder is removed
    assert not (output / "training_state").exists()
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["status"] == "passed"
    paths = {artifact["path"] for artifact in manifest["artifacts"] if artifact["passed"]}
    assert {"model_float32.tflite", "model_int8.tflite", "model.onnx"} <= paths
    assert all((output / path).exists() for path in paths)
    assert abs(manifest["keras_test_accuracy"] - single) <= 0.02


def write_digit_images(root, per_class=24):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(10):
        (root / str(label)).mkdir(parents=True)
        images = digits.images[digits.target == label][:per_class]
        for i, pixels in enumerate(images):
            Image.fromarray((pixels * 15).astype(np.uint8)).save(root / str(label) / f"{i}.png")
    return root


def test_a_killed_worker_stops_the_other_and_both_resume_from_the_last_finished_epoch(tmp_path):
    output = tmp_path / "run"
    images = write_digit_images(tmp_path / "digits")
    short = [*SHORT, f"data.path={images}"]
    workers = start_workers(tmp_path, output, short, tag="first")
    log = output / "training_log.csv"
    deadline = time.monotonic() + 300
    while not (log.exists() and len(log.read_text().splitlines()) >= 3):  # 2 epochs logged
        assert time.monotonic() < deadline and workers[0].poll() is None, "no epoch finished"
        time.sleep(0.05)
    workers[1].send_signal(signal.SIGKILL)
    assert workers[0].wait(timeout=120) == 1  # the chief notices and stops, naming worker 1
    assert "worker 1 stopped answering" in (tmp_path / "first-worker0.log").read_text()
    finished = resume_epoch(output / "training_state")
    assert (
        "each worker reads its share of the files" in (tmp_path / "first-worker0.log").read_text()
    )
    assert 1 <= finished < 5

    codes = finish(start_workers(tmp_path, output, short, tag="again"))
    assert codes == [0, 0], (tmp_path / "again-worker0.log").read_text()[-3000:]
    for index in range(2):
        text = (tmp_path / f"again-worker{index}.log").read_text()
        assert f"resumed after epoch {finished}" in text
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["status"] == "passed"
    assert manifest["training"]["resumed_from_epoch"] == finished
    assert manifest["training"]["epochs_run"] == 5  # the finished epochs plus the rest
    assert len(manifest["training"]["history"]["loss"]) == 5


def test_worker_flags_are_checked_before_any_work(capsys, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "unset again after the test")
    assert main(["run", "--workers", "127.0.0.1:1,127.0.0.1:2"]) == 2
    assert "--workers and --worker-index go together" in capsys.readouterr().err
    assert main(["run", "--workers", "localhost", "--worker-index", "0"]) == 2
    assert "'localhost' is not one" in capsys.readouterr().err
    assert main(["run", "--workers", "a:1,b:2", "--worker-index", "2"]) == 2
    assert "takes 0 to 1" in capsys.readouterr().err
    assert main(["run", "--workers", "127.0.0.1:1,127.0.0.1:2", "--worker-index", "1"]) == 2
    assert "multi_worker` needs --output" in capsys.readouterr().err
    assert json.loads(os.environ["TF_CONFIG"])["task"] == {"type": "worker", "index": 1}
