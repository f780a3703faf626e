"""Training throughput: `tfpipeline.train` against `model.fit` with the same settings.

Usage: python bench/training.py [--repeats N]

Same model (the seed MLP with its normalization layer, built by `build_model`), same data
(the default `digits` splits), measured side by side in one process, each repeat running
these fits in turn:

- tfpipeline: `tfpipeline.train` with `train.batch_size=256`, Adam at a constant 0.004,
  20 epochs (early stopping off), scoring the validation split every epoch;
- model.fit, same settings: what a competent user writes by hand for the same job:
  `model.fit(x_train, y_train, batch_size=256, epochs=20, validation_data=(x_val, y_val))`
  after compiling with `Adam(0.004)`;
- model.fit, seed-style: the seed document's `model.fit(x_train, y_train, epochs=10,
  batch_size=32)` (default Adam at 0.001, no validation);
- and, to show where the time goes, `model.fit` with the same settings but no validation
  at all (tfpipeline still validates every epoch there).

Epochs are fixed on every side, so no side stops sooner than another. Prints, per fit:
steady-state samples/s (training samples of the epochs after the first over their time,
per-epoch validation included; the first epoch holds the one-off graph tracing), whole-fit
samples/s and seconds (compile and first epoch included), test accuracy (one scorer for
all), and Keras's own validation time per epoch; then the medians over the repeats and
the median (and range) of each repeat's ratios. Target: >= 3x the samples per second of
`model.fit` with the same settings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tfpipeline  # noqa: E402
from tfpipeline._keras import keras  # noqa: E402

BATCH, LEARNING_RATE, EPOCHS = 256, 0.004, 20


class EpochClock(keras.callbacks.Callback):
    """Records each epoch's wall time, and the time of Keras's own validation within it."""

    def __init__(self):
        super().__init__()
        self.seconds, self.validation = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_test_begin(self, logs=None):  # fit's per-epoch validation calls evaluate
        self.test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        self.validation.append(time.perf_counter() - self.test_start)

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def figures(clock: EpochClock, samples: int, whole_s: float, accuracy: float) -> dict:
    later = clock.seconds[1:]
    validation = clock.validation[1:]
    return {
        "steady": len(later) * samples / sum(later),
        "whole": len(clock.seconds) * samples / whole_s,
        "whole_s": whole_s,
        "accuracy": accuracy,
        "val_ms": 1000 * statistics.median(validation) if validation else None,
    }


def keras_fit(data, batch: int, epochs: int, optimizer, validation: bool) -> dict:
    x_train, y_train = data.splits.train.arrays()
    keras.utils.set_random_seed(0)
    model = tfpipeline.build_model(tfpipeline.load_config().model, data, seed=0)
    clock = EpochClock()
    start = time.perf_counter()
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        x_train,
        y_train,
        batch_size=batch,
        epochs=epochs,
        validation_data=data.splits.val.arrays() if validation else None,
        verbose=0,
        callbacks=[clock],
    )
    whole_s = time.perf_counter() - start
    return figures(clock, len(y_train), whole_s, test_accuracy(model, data))


def package_fit(data) -> dict:
    config = tfpipeline.load_config(
        overrides={
            "train.batch_size": BATCH,
            "train.learning_rate": LEARNING_RATE,
            "train.schedule.kind": "constant",
            "train.epochs": EPOCHS,
        }
    )
    keras.utils.set_random_seed(0)
    model = tfpipeline.build_model(config.model, data, seed=0)
    clock = EpochClock()
    start = time.perf_counter()
    tfpipeline.train(model, data, config.train, callbacks=[clock], early_stopping=False, verbose=0)
    whole_s = time.perf_counter() - start
    return figures(clock, len(data.splits.train), whole_s, test_accuracy(model, data))


def test_accuracy(model, data) -> float:
    x_test, y_test = data.splits.test.arrays()
    return tfpipeline.evaluate(model, x_test, y_test, data.task)["accuracy"]


SIDES = {
    "tfpipeline.train": package_fit,
    "model.fit, same settings": lambda data: keras_fit(
        data, BATCH, EPOCHS, keras.optimizers.Adam(LEARNING_RATE), validation=True
    ),
    "model.fit, same settings, no validation": lambda data: keras_fit(
        data, BATCH, EPOCHS, keras.optimizers.Adam(LEARNING_RATE), validation=False
    ),
    "model.fit, seed-style (batch 32, no validation)": lambda data: keras_fit(
        data, 32, 10, "adam", validation=False
    ),
}


def median_figures(results: list[dict]) -> dict:
    """Each figure's median over the repeats (`None` stays `None`: no validation)."""
    return {
        key: None if results[0][key] is None else statistics.median(r[key] for r in results)
        for key in results[0]
    }


def line(name: str, f: dict) -> str:
    val = f"{f['val_ms']:5.1f} ms" if f["val_ms"] is not None else "   none "
    return (
        f"  {name:48s} {f['steady']:8.0f} {f['whole']:8.0f} {f['whole_s']:7.2f} s "
        f"{f['accuracy']:.4f}  {val}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    data = tfpipeline.prepare_data(
        tfpipeline.load_config(overrides={"data.clean.constant_features": "ignore"}).data
    )
    names = list(SIDES)
    runs = {name: [] for name in names}
    print(f"  {'':48s} {'steady':>8s} {'whole':>8s} {'whole':>9s} {'test':>6s}  keras val")
    print(f"  {'':48s} {'samp/s':>8s} {'samp/s':>8s} {'fit':>9s} {'acc.':>6s}  per epoch")
    for i in range(args.repeats):
        # Each repeat starts with another side, so no side always runs first (or last).
        for name in names[i % len(names) :] + names[: i % len(names)]:
            runs[name].append(SIDES[name](data))
        print(f"repeat {i + 1}:")
        for name in names:
            print(line(name, runs[name][-1]))
    print(f"median of {args.repeats} repeats:")
    for name in names:
        print(line(name, median_figures(runs[name])))
    # Ratios within each repeat (the sides ran seconds apart), then their median and range.
    package = runs["tfpipeline.train"]
    print("tfpipeline / each side, median of the per-repeat ratios (min-max):")
    for name in names[1:]:
        pairs = list(zip(package, runs[name], strict=True))
        figures = []
        for key in ("steady", "whole"):
            ratios = [mine[key] / theirs[key] for mine, theirs in pairs]
            low, high = min(ratios), max(ratios)
            figures.append(f"{key} {statistics.median(ratios):.2f}x ({low:.2f}-{high:.2f})")
        print(f"  / {name}: {', '.join(figures)}")
    print("target: >= 3x the steady samples/s of model.fit with the same settings")


if __name__ == "__main__":
    main()
