"""Training throughput: no strategy against MirroredStrategy over two logical CPU devices.

Usage: python bench/distribute.py [--epochs N]

Splits this machine's CPU into two logical devices, then trains the default model on the
default data for `--epochs` epochs (no early stopping) without a strategy and with
`train.distribute: mirrored` over both devices, in one process, side by side. Prints samples
per second of training after the first epoch (which holds the graph building). On a 2-core
machine the two replicas share the same cores, so mirrored cannot be faster: the figure
shows what the synchronisation costs, not a speed-up.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from training import EpochClock  # noqa: E402  (bench/training.py, beside this script)

import tfpipeline as tp  # noqa: E402
from tfpipeline.distribute import make_strategy, training_scope  # noqa: E402


def samples_per_second(overrides: dict, epochs: int) -> tuple[float, float]:
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
    return len(data.splits.train) / steady, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    plain = samples_per_second({}, args.epochs)
    mirrored = samples_per_second(
        {"train.distribute": "mirrored", "train.devices": ["/cpu:0", "/cpu:1"]}, args.epochs
    )
    print(f"none:     {plain[0]:10,.0f} samples/s, test accuracy {plain[1]:.4f}")
    print(f"mirrored: {mirrored[0]:10,.0f} samples/s, test accuracy {mirrored[1]:.4f} (2 replicas)")
    print(f"mirrored / none: {mirrored[0] / plain[0]:.2f}")


if __name__ == "__main__":
    main()
