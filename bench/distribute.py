"""Training throughput: no strategy, MirroredStrategy over two logical CPU devices, and two
local workers (MultiWorkerMirroredStrategy).

Usage: python bench/distribute.py [--epochs N]

Splits this machine's CPU into two logical devices, then trains the default model on the
default data for `--epochs` epochs (no early stopping) without a strategy and with
`train.distribute: mirrored` over both devices, in one process, side by side; then starts
two worker processes of this script on 127.0.0.1 (`train.distribute: multi_worker`) and
reads worker 0's figure. Prints samples per second of training after the first epoch (which
holds the graph building). On a 2-core machine the replicas share the same cores, so
neither can be faster: the figures show what the synchronisation costs, not a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

WORKER = "TF_CONFIG" in os.environ  # a child started by `two_workers`
if not WORKER:
    _cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from training import EpochClock  # noqa: E402  (bench/training.py, beside this script)

import tfpipeline as tp  # noqa: E402
from tfpipeline.distribute import make_strategy, training_scope  # noqa: E402


def samples_per_second(overrides: dict, epochs: int) -> tuple[float, float, int, int]:
    """Steady samples/s, test accuracy, global batch size and the model's parameter count."""
    config = tp.load_config(
        overrides={"train.epochs": epochs, "train.early_stopping.enabled": False,
                   "data.clean.constant_features": "ignore", **overrides}
    )  # fmt: skip
    data = tp.prepare_data(config.data)
    strategy = make_strategy(config.train)
    clock = EpochClock()
    with training_scope(config.train, strategy):
        model = tp.build_model(config.model, data, seed=1)
        tp.train(model, data, config.train, callbacks=[clock], verbose=0)
    x, y = data.splits.test.arrays()
    accuracy = float((model(x).numpy().argmax(1) == y).mean())
    steady = sum(clock.seconds[1:]) / (len(clock.seconds) - 1)
    return len(data.splits.train) / steady, accuracy, config.train.batch_size, model.count_params()


def two_workers(epochs: int) -> tuple[float, float, int, int]:
    """Runs this script as worker 0 and 1 on 127.0.0.1; returns worker 0's figures."""
    sockets = [socket.socket() for _ in range(2)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    workers = [f"127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    for sock in sockets:
        sock.close()
    children = []
    for index in range(2):
        task = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        children.append(
            subprocess.Popen(
                [sys.executable, __file__, "--epochs", str(epochs)],
                env={**os.environ, "TF_CONFIG": json.dumps(task)},
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [child.communicate()[0] for child in children]
    return tuple(json.loads(outputs[0].strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    if WORKER:
        print(json.dumps(samples_per_second({"train.distribute": "multi_worker"}, args.epochs)))
        return
    plain = samples_per_second({}, args.epochs)
    mirrored = samples_per_second(
        {"train.distribute": "mirrored", "train.devices": ["/cpu:0", "/cpu:1"]}, args.epochs
    )
    workers = two_workers(args.epochs)
    print(f"model: {plain[3]:,} parameters; global batch {plain[2]}")

    def line(name: str, figures: tuple, note: str = "") -> None:
        step_ms = figures[2] / figures[0] * 1000  # seconds per global batch
        print(
            f"{name:10s}{figures[0]:10,.0f} samples/s, {step_ms:5.1f} ms a step, "
            f"test accuracy {figures[1]:.4f}{note}"
        )

    line("none:", plain)
    line("mirrored:", mirrored, " (2 replicas)")
    line("2 workers:", workers, " (2 processes)")
    print(f"mirrored / none: {mirrored[0] / plain[0]:.2f}")
    print(f"2 workers / none: {workers[0] / plain[0]:.2f}")


if __name__ == "__main__":
    main()
