"""Input-pipeline benchmarks: throughput, overhead and streaming memory of the tf.data chain.

Usage:
    python bench/data_pipeline.py throughput   # chain vs a Python generator (>= 3x)
    python bench/data_pipeline.py overhead     # chain vs a pre-materialised tensor dataset (<= 10%)
    python bench/data_pipeline.py streaming    # 2 GB of TFRecords: peak RSS < 1.5 GB, per-sample
                                               # time within 20% of a 200 MB data set's

Every comparison is measured side by side in one run, as a ratio; each figure is the median
of several epochs after a warm-up epoch. The model is the seed MLP (128 -> 64 -> 10).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import tfpipeline  # noqa: E402

BATCH = 64


def seed_mlp(features: int):
    from tfpipeline._keras import keras

    model = keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def epoch_times(model, make_input, steps: int, epochs: int = 4) -> list[float]:
    """Seconds of each of `epochs + 1` epochs of `steps` steps (the first one warms up).

    One `fit` call runs them all, so its fixed start-up cost is not counted in any epoch.
    """
    from tfpipeline._keras import keras

    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(
        make_input(), epochs=epochs + 1, steps_per_epoch=steps, verbose=0, callbacks=[Timer()]
    )
    return times


def take_turns(model, inputs: dict, steps: int, rounds: int = 4) -> tuple[dict, dict]:
    """Median seconds of a first epoch and of a later epoch of each input.

    The inputs take turns, the order reversed every round, so that load from other work on
    the machine falls on all of them alike: two rounds of one epoch on fresh inputs (each
    decodes, and fills its cache if it has one), then `rounds` rounds of two epochs on the
    inputs of the second round (caches full).

    Args:
        inputs: name -> a function returning a fresh input (tf.data chain or generator).
    """
    names = list(inputs)
    first, later, made = {n: [] for n in names}, {n: [] for n in names}, {}
    for turn in range(2 + rounds):
        for name in names if turn % 2 == 0 else names[::-1]:
            if turn < 2:
                made[name] = inputs[name]()
                first[name] += epoch_times(model, lambda x=made[name]: x, steps, 0)
            else:
                later[name] += epoch_times(model, lambda x=made[name]: x, steps, 1)
    median = statistics.median
    return {n: median(t) for n, t in first.items()}, {n: median(t) for n, t in later.items()}


def epoch_seconds(model, make_input, steps: int, epochs: int = 4) -> float:
    """Median seconds of one epoch of `steps` steps, after a warm-up epoch."""
    return statistics.median(epoch_times(model, make_input, steps, epochs)[1:])


def synthetic(samples: int, features: int = 64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(samples, features)).astype(np.float32), rng.integers(0, 10, samples)


def write_image_folder(root: Path, per_class: int = 300, size: int = 128) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(10):
        (root / f"class_{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"class_{c}" / f"{i}.png")


def decode(path) -> np.ndarray:
    """One PNG file as 32x32x3 float32 pixels (PIL, as generator code usually does)."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((32, 32)), np.float32)


def augment(pixels: np.ndarray, rng) -> np.ndarray:
    """The chain's flip + brightness, on a whole batch in NumPy."""
    flip = rng.random(len(pixels)) < 0.5
    pixels = np.where(flip[:, None, None, None], pixels[:, :, ::-1], pixels)
    shift = rng.uniform(-25.5, 25.5, (len(pixels), 1, 1, 1)).astype(np.float32)
    return np.clip(pixels + shift, 0, 255)


def python_batches(files, labels, cache: bool):
    """Batches made in Python: every file decoded every epoch, or (`cache`) decoded once
    into an array in the first epoch and only augmented after."""
    rng = np.random.default_rng(0)
    decoded = np.empty((len(files), 32, 32, 3), np.float32)
    done = np.zeros(len(files), bool)
    while True:
        order = rng.permutation(len(files))
        for start in range(0, len(files) - BATCH + 1, BATCH):
            rows = order[start : start + BATCH]
            if cache:
                for i in rows[~done[rows]]:
                    decoded[i] = decode(files[i])
                done[rows] = True
                pixels = decoded[rows]
            else:
                pixels = np.stack([decode(files[i]) for i in rows])
            yield augment(pixels, rng), labels[rows]


def image_model():
    from tfpipeline._keras import keras

    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def image_throughput() -> None:
    """Image files, decoded, resized and augmented: where an input pipeline earns its keep.

    Four inputs, each with and without a cache of decoded images: the tfpipeline chain
    (`data.cache: none` and `memory`) and a Python generator (plain, and keeping decoded
    images in an array after the first epoch). Like for like is chain vs generator with the
    same caching; the cached chain against the plain generator is shown too, labelled.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        write_image_folder(root)
        overrides = {
            "data.source": "image_dir",
            "data.path": str(root),
            "data.image_size": [32, 32],
            "data.split": {"train": 0.9, "val": 0.05, "test": 0.05},
            "data.augment": {"flip": "horizontal", "brightness": 0.1},
        }
        chains = {
            cache: tfpipeline.prepare_data(
                tfpipeline.load_config(overrides={**overrides, "data.cache": cache}).data
            )
            for cache in ("none", "memory")
        }
        train = chains["none"].splits.train
        files, labels = train.samples.paths[train.indices], train.y
        steps = len(labels) // BATCH
        inputs = {
            "chain, no cache": lambda: chains["none"].dataset("train", BATCH, True).repeat(),
            "generator, no cache": lambda: python_batches(files, labels, cache=False),
            "chain, cache: memory": lambda: chains["memory"].dataset("train", BATCH, True).repeat(),
            "generator, cached array": lambda: python_batches(files, labels, cache=True),
        }
        model = image_model()
        for make in inputs.values():  # trace the training step for each input's types
            model.fit(make(), epochs=1, steps_per_epoch=1, verbose=0)
        first, later = take_turns(model, inputs, steps)
    samples = steps * BATCH
    print(
        f"128x128 PNG files resized to 32x32x3, flip + brightness, {samples} samples per "
        "epoch; inputs taking turns, the median of 2 first epochs and of 8 later ones:"
    )
    for name in inputs:
        print(
            f"  {name:24s} first epoch {samples / first[name]:6.0f} samples/s, "
            f"later epochs {samples / later[name]:6.0f} samples/s"
        )
    pairs = (
        ("like for like, every epoch decodes", "chain, no cache", "generator, no cache"),
        ("like for like, both cache decoded", "chain, cache: memory", "generator, cached array"),
        ("cache vs no cache (not like for like)", "chain, cache: memory", "generator, no cache"),
    )
    for label, chain, generator in pairs:
        print(
            f"  {label}: {chain} / {generator}: first epoch "
            f"{first[generator] / first[chain]:.2f}x, later {later[generator] / later[chain]:.2f}x"
        )
    print("  target: >= 3x a Python generator")


def throughput() -> None:
    image_throughput()
    x, y = synthetic(50_000)
    steps = len(y) // BATCH

    def generator():
        while True:  # the seed document's way: Python hands Keras one batch at a time
            order = np.random.permutation(len(y))
            for start in range(0, len(y) - BATCH + 1, BATCH):
                rows = order[start : start + BATCH]
                yield x[rows], y[rows]

    chain = tfpipeline.make_dataset((x, y), BATCH, training=True, seed=0)
    model = seed_mlp(64)
    inputs = {"chain": lambda: chain.repeat(), "generator": generator}
    _, later = take_turns(model, inputs, steps)
    pipeline_s, generator_s = later["chain"], later["generator"]
    samples = steps * BATCH
    print(
        f"in-memory features, 50000 x 64, no augmentation, {samples} samples per epoch "
        "(taking turns, the median of 8 epochs after the first):"
    )
    print(f"  tfpipeline chain:  {samples / pipeline_s:8.0f} samples/s")
    print(f"  python generator:  {samples / generator_s:8.0f} samples/s")
    print(f"  ratio: {generator_s / pipeline_s:.2f}x")


def overhead() -> None:
    from tfpipeline._keras import tf

    x, y = synthetic(50_000)
    steps = len(y) // BATCH
    chain = tfpipeline.make_dataset((x, y), BATCH, training=True, seed=0)
    tensors = tf.data.Dataset.from_tensor_slices((tf.constant(x), tf.constant(y))).batch(BATCH)
    materialised = tensors.cache()
    for _ in materialised:  # fill the cache: a fully materialised, pre-batched data set
        pass
    model = seed_mlp(64)
    model.fit(materialised, steps_per_epoch=1, verbose=0)  # trace the step before timing
    inputs = {
        "chain": lambda: chain.repeat(),
        "tensors": lambda: materialised.repeat(),
        # as the chain ends: the next batch is made while a step runs
        "prefetched": lambda: materialised.repeat().prefetch(tf.data.AUTOTUNE),
    }
    made = {name: make() for name, make in inputs.items()}
    for name in inputs:  # one untimed epoch each: the step is traced for every input
        epoch_times(model, lambda x=made[name]: x, steps, 0)
    rounds, times = 10, {name: [] for name in inputs}
    for turn in range(rounds):  # one epoch each, taking turns, the order reversed every round
        for name in list(inputs) if turn % 2 == 0 else list(inputs)[::-1]:
            times[name] += epoch_times(model, lambda x=made[name]: x, steps, 0)
    median = statistics.median
    print(f"{steps} steps of {BATCH} per epoch; inputs taking turns, {rounds} rounds of one epoch")
    labels = {
        "chain": "tfpipeline chain (shuffled, augmentation off)",
        "tensors": "pre-materialised tensors (no shuffle)",
        "prefetched": "the same + prefetch(AUTOTUNE) (no shuffle)",
    }
    for name, label in labels.items():
        print(f"{label + ':':47s} {median(times[name]):.3f} s/epoch")
    for name, label in (("tensors", "tensors"), ("prefetched", "tensors + prefetch")):
        changes = [(c / t - 1) * 100 for c, t in zip(times["chain"], times[name], strict=True)]
        print(
            f"overhead vs {label}, median of the per-round ratios: {median(changes):+.1f}% "
            f"(rounds {min(changes):+.0f}% to {max(changes):+.0f}%; target <= +10%)"
        )


FEATURES = 1024  # 4 KiB of floats per record: 2 GB is about 500k records


def write_records(folder: Path, megabytes: int) -> int:
    from tfpipeline._keras import tf

    per_record = FEATURES * 4 + 40
    records = megabytes * 1_000_000 // per_record
    rng = np.random.default_rng(0)
    shards = 8
    for shard in range(shards):
        with tf.io.TFRecordWriter(str(folder / f"part-{shard}.tfrecord")) as writer:
            for _ in range(records // shards):
                example = tf.train.Example(
                    features=tf.train.Features(
                        feature={
                            "x": tf.train.Feature(
                                float_list=tf.train.FloatList(
                                    value=rng.normal(size=FEATURES).astype(np.float32)
                                )
                            ),
                            "label": tf.train.Feature(
                                int64_list=tf.train.Int64List(value=[int(rng.integers(10))])
                            ),
                        }
                    )
                )
                writer.write(example.SerializeToString())
    return records // shards * shards


def streaming_child(folder: str) -> None:
    """Prepares the TFRecord data and trains one epoch; prints seconds per sample and RSS."""
    config = tfpipeline.load_config(
        overrides={
            "data.source": "tfrecord",
            "data.path": f"{folder}/*.tfrecord",
            "data.features": [{"name": "x", "dtype": "float32", "shape": [FEATURES]}],
            "data.clean.duplicates": "keep",
            "data.clean.constant_features": "ignore",
            "train.epochs": 1,
            "train.batch_size": 256,
            "train.early_stopping.enabled": False,
        }
    )
    data = tfpipeline.prepare_data(config.data)
    model = tfpipeline.build_model(config.model, data)
    start = time.perf_counter()
    tfpipeline.train(model, data, config.train, verbose=0)
    per_sample = (time.perf_counter() - start) / len(data.splits.train)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{per_sample:.3e} {rss_mb:.0f} {len(data.splits.train)} {data.cache}")


def streaming() -> None:
    figures, peaks = {}, {}
    for megabytes in (200, 2000):
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as folder:
            records = write_records(Path(folder), megabytes)
            size = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e9
            out = subprocess.run(
                [sys.executable, __file__, "streaming-child", folder],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            per_sample, rss_mb, trained = float(out[0]), float(out[1]), int(out[2])
            figures[megabytes], peaks[megabytes] = per_sample, rss_mb
            print(
                f"{size:.2f} GB on disk, {records} records ({trained} trained): "
                f"{per_sample * 1e6:.1f} us/sample, peak RSS {rss_mb:.0f} MB, "
                f"data.cache: auto chose {out[3]}"
            )
    ratio = figures[2000] / figures[200]
    print(f"time per sample, 2 GB vs 200 MB: {ratio:.2f}x (target within 1.20x)")
    print(f"peak RSS with 2 GB on disk: {peaks[2000]:.0f} MB (target < 1500 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["throughput", "overhead", "streaming", "streaming-child"])
    parser.add_argument("folder", nargs="?")
    args = parser.parse_args()
    if args.which == "streaming-child":
        streaming_child(args.folder)
        return
    print(f"machine: {os.cpu_count()} CPUs; {args.which}")
    {"throughput": throughput, "overhead": overhead, "streaming": streaming}[args.which]()


if __name__ == "__main__":
    main()
