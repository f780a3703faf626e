"""Training throughput: the package's training vs the seed document's `model.fit`.

Usage: python bench/training.py [--repeats N]

Same model (the seed MLP with its normalization layer, built by `build_model`), same data
(the default `digits` splits), measured side by side in one process:

- seed: `model.compile(optimizer="adam", loss=..., metrics=["accuracy"])` then
  `model.fit(x_train, y_train, epochs=10, batch_size=32)` on NumPy arrays;
- package: `tfpipeline.train` with the default config but `train.batch_size=256` and the
  learning rate scaled to 0.004 (early stopping on, up to 100 epochs).

Prints samples per second of training in the steady state (epochs after the first, timed by
a callback that only reads the clock; the first epoch of each holds the one-off graph
tracing) and test accuracy. Targets: >= 3x the samples per second, test accuracy no more
than 1 point lower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tfpipeline  # noqa: E402
from tfpipeline._keras import keras  # noqa: E402


class EpochClock(keras.callbacks.Callback):
    """Records each epoch's wall time."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)

    def steady_rate(self, samples_per_epoch: int) -> float:
        later = self.seconds[1:]
        return len(later) * samples_per_epoch / sum(later)


def seed_fit(data, x_train, y_train, x_test, y_test) -> tuple[float, float]:
    keras.utils.set_random_seed(0)
    model = tfpipeline.build_model(tfpipeline.load_config().model, data, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    clock = EpochClock()
    model.fit(x_train, y_train, epochs=10, batch_size=32, verbose=0, callbacks=[clock])
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    return clock.steady_rate(len(y_train)), accuracy


def package_fit(data, x_test, y_test) -> tuple[float, float, int]:
    config = tfpipeline.load_config(
        overrides={"train.batch_size": 256, "train.learning_rate": 0.004, "train.epochs": 100}
    )
    keras.utils.set_random_seed(0)
    model = tfpipeline.build_model(config.model, data, seed=0)
    clock = EpochClock()
    result = tfpipeline.train(model, data, config.train, callbacks=[clock], verbose=0)
    accuracy = tfpipeline.evaluate(model, x_test, y_test, data.task)["accuracy"]
    return clock.steady_rate(len(data.splits.train)), accuracy, result.epochs_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = tfpipeline.prepare_data(
        tfpipeline.load_config(overrides={"data.clean.constant_features": "ignore"}).data
    )
    x_train, y_train = data.splits.train.arrays()
    x_test, y_test = data.splits.test.arrays()
    seed_rates, package_rates = [], []
    for i in range(args.repeats):
        seed_rate, seed_accuracy = seed_fit(data, x_train, y_train, x_test, y_test)
        package_rate, package_accuracy, epochs = package_fit(data, x_test, y_test)
        seed_rates.append(seed_rate)
        package_rates.append(package_rate)
        print(
            f"repeat {i + 1}: seed fit {seed_rate:8.0f} samples/s, accuracy {seed_accuracy:.4f} | "
            f"tfpipeline {package_rate:8.0f} samples/s, accuracy {package_accuracy:.4f} "
            f"({epochs} epochs)"
        )
    ratio = statistics.median(package_rates) / statistics.median(seed_rates)
    print(f"median ratio: {ratio:.2f}x the seed fit's samples per second (target >= 3x)")


if __name__ == "__main__":
    main()
