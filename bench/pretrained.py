"""MobileNetV2 on a phone's budget: latency and size, int8 accuracy on real photos, caching.

Usage: python bench/pretrained.py [--parts latency,accuracy,throughput] [--quick]

Three parts, each measured side by side in one process (these machines are shared and noisy:
read the ratios):

1. latency: single-image latency and file size of MobileNetV2 (alpha 1.0, 224x224x3,
   `tf_keras.applications.MobileNetV2(include_top=False, weights=None)`) with the
   preprocessing inside the model (`Rescaling(1/127.5, offset=-1)` on raw 0-255 pixels),
   global average pooling and a 1000-class Dense softmax head (ImageNet's head, so that the
   sizes compare with the published model). ImageNet weights cannot be downloaded here: the
   weights are random, which changes neither the latency nor the raw size (the same ops on
   the same shapes, the same number of weights); only the gzip sizes depend on the values
   (random weights are close to incompressible; trained ones, gathered near zero, usually
   compress somewhat better). The model is exported with the package's public functions
   (`tp.export_tflite` float32, float16 and int8 with uint8 input and output, calibrated on
   32 crops of the real photos below; `tp.export_onnx`), and each file is opened once with
   `tp.Predictor.load` and run on one photo. Timed: `interpreter.invoke()` of LiteRT on an
   input set once beforehand, in the file's own input type (uint8 for the int8 file), with
   1 and 2 threads; onnxruntime's `run_with_iobinding` on the float `.onnx` with its input
   bound once, `intra_op_num_threads` 1 and 2. No NumPy conversion is timed. The paths take
   turns in 20 short rounds of 5 calls (the order reversed every other round); printed:
   each path's median and p90 over all its calls, and the ratios of medians (int8 LiteRT /
   float onnxruntime, target <= 0.6; int8 / float32 and float16 / float32 in LiteRT) per
   thread count, per round (median and quartiles over the rounds) and pooled.
2. accuracy: int8 against float on real photographs. No photo data set is on this machine,
   so one is cut from the photographs that ship with the installed packages: scikit-learn's
   `load_sample_images()` (china, flower) and the colour photographs bundled in
   scikit-image's `skimage.data` (astronaut, chelsea, coffee, rocket, hubble_deep_field,
   retina, immunohistochemistry, the left view of stereo_motorcycle) plus its bundled
   grayscale photographs (camera, moon, coins, grass, gravel, brick; as three equal
   channels); none of them is downloaded. scikit-image is installed into the environment
   for this benchmark only (`pip install scikit-image`); it is no dependency of the package,
   and without it only the two scikit-learn photos are used. The task: tell which photograph
   a crop comes from (one class per photograph). Each photograph is cut along its longer
   side into a training region (the first 70%) and a test region (the rest), so that no test
   crop shares a pixel with a training crop; crops are square, of a random side between 12%
   and 30% of the photograph's shorter side, randomly flipped, and written as JPEG files
   (quality 90) into `train/<class>/` and `test/<class>/`. This is recognizing a scene or a
   texture from an unseen part of it, easier than ImageNet: read the accuracy gap, not the
   accuracy. The int8 check is one `tp.Pipeline(config).run()` on that folder
   (`data.source: image_dir`, `data.test_path` the test folder, validation a ninth of the
   training folder, horizontal flips) with `model.kind: pretrained`, `model.backbone:
   mobilenet_v2`, `model.alpha: 0.35`, 96x96 pixels, no hidden layer: the backbone frozen
   while the head trains (3 epochs), then the whole backbone fine-tuned with its batch
   normalization frozen (3 epochs at 1e-4); no compression; float32 and int8 `.tflite`
   (uint8 input and output, the package's 500 calibration samples). Its figures are read
   from the run's `manifest.json`: each file's test accuracy and top-1 agreement with the
   Keras model (and the package's own verdict). Target: int8 within 1 point of float.
   `model.weights` is a backbone weights file this benchmark writes first, since ImageNet's
   cannot be downloaded: the config's MobileNetV2 built by `tp.build_model` with
   `model.weights: none` (the backbone then trains with the head), trained by `tp.train` on
   the run's training split (12 epochs; the test crops unseen) and saved by
   `tp.save_backbone_weights` (the package gives a random backbone's batch normalization
   momentum 0.9, not Keras's 0.999, with which the moving statistics stay near their
   initial values after a few hundred steps and the model scores chance in inference mode:
   0.0625 on these 16 classes, measured before that change). So the backbone has seen
   these photographs' training regions before the run (as an ImageNet backbone has seen
   photographs), and its batch normalization statistics are real ones, which is what the
   int8 conversion depends on.
3. throughput: images per second of the package's tf.data chain on the same photo folder
   (`tp.prepare_data`, then `PreparedData.dataset("train", 32, training=True)`: decode,
   resize, shuffle, horizontal flips, batch, prefetch) with `data.cache: memory` against
   `data.cache: none` (every epoch decodes and resizes the JPEG files again), everything
   else equal, three ways: the chain alone (batches drawn, no model), and training the model
   of part 2's config as `tp.build_model` builds it (random weights) with `model.fit` on
   the chain, as `tp.train` calls it, once with the backbone frozen (training the head, as
   a run from a weights file starts) and once with it unfrozen and its batch normalization
   frozen (fine-tuning, as the package does it). One model, compiled once per phase, takes
   both chains in turn: after one untimed epoch of each (tracing, filling the cache), 8
   rounds of one epoch of each (the order reversed every other round). Prints the median
   images per second and the median (and range) of the per-round ratios.

`--quick` runs everything tiny (alpha 0.35 at 96x96 in part 1, 32x32 in parts 2 and 3, a
few crops, one epoch per phase) as a smoke check of the script; its figures mean nothing.
It took 4.5 minutes here with other work keeping both cores busy, most of it the five TFLite
conversions (about 15 s each) and one short Pipeline run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from _machine import load, machine  # noqa: E402  (bench/, the script's folder)

import tfpipeline as tp  # noqa: E402
from tfpipeline._keras import keras  # noqa: E402
from tfpipeline.report import file_stats  # noqa: E402

PARTS = ("latency", "accuracy", "throughput")
SKIMAGE_COLOUR = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "retina",
    "immunohistochemistry",
)
SKIMAGE_GRAY = ("camera", "moon", "coins", "grass", "gravel", "brick")
TRAIN_SHARE = 0.7  # of each photograph's longer side; the rest is the test region
CROP_SIDES = (0.12, 0.30)  # of the shorter side
# Not 0: with TensorFlow's global seed 0, `Dataset.shuffle` given a tensor seed (as the chain
# gives it, one per epoch) fails while tracing ("symbolic tf.Tensor as a Python bool").
SEED = 42
# Ten times the package's default (1e-5, for ImageNet weights): a few epochs at 1e-5 leave a
# backbone trained on a few thousand crops where it was.
FINE_TUNE_RATE = 1e-4
PACKAGES = (
    "tensorflow",
    "tf_keras",
    "ai-edge-litert",
    "onnxruntime",
    "onnx",
    "tf2onnx",
    "numpy",
    "pillow",
    "scikit-learn",
    "scikit-image",
)


@dataclass(frozen=True)
class Settings:
    """What one run measures, full size or `--quick`."""

    latency_alpha: float = 1.0
    latency_size: int = 224
    latency_classes: int = 1000
    calibration: int = 32
    rounds: int = 20
    calls: int = 5
    alpha: float = 0.35
    size: int = 96
    train_crops: int = 100
    test_crops: int = 40
    pretrain_epochs: int = 12
    head_epochs: int = 3
    fine_tune_epochs: int = 3
    batch: int = 32
    throughput_rounds: int = 8


QUICK = Settings(
    latency_alpha=0.35,
    latency_size=96,
    latency_classes=16,
    calibration=4,
    rounds=2,
    calls=3,
    size=32,
    train_crops=20,
    test_crops=3,
    pretrain_epochs=1,
    head_epochs=1,
    fine_tune_epochs=1,
    throughput_rounds=2,
)


def real_photos() -> dict[str, np.ndarray]:
    """The real photographs bundled with scikit-learn and scikit-image, as RGB uint8 arrays."""
    from sklearn.datasets import load_sample_images

    bundle = load_sample_images()
    photos = {Path(f).stem: image for f, image in zip(bundle.filenames, bundle.images, strict=True)}
    try:
        import skimage.data
    except ImportError:
        print("scikit-image is not installed: only scikit-learn's two photographs are used")
        return photos
    for name in SKIMAGE_COLOUR:
        photos[name] = getattr(skimage.data, name)()
    photos["motorcycle"] = skimage.data.stereo_motorcycle()[0]
    for name in SKIMAGE_GRAY:
        photos[name] = np.repeat(getattr(skimage.data, name)()[..., None], 3, axis=-1)
    return photos


def regions(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training region (first 70% of the longer side) and the test region (the rest)."""
    axis = 0 if photo.shape[0] > photo.shape[1] else 1
    cut = round(TRAIN_SHARE * photo.shape[axis])
    train, test = np.split(photo, [cut], axis=axis)
    return train, test


def random_crop(region: np.ndarray, short_side: int, rng) -> np.ndarray:
    """A square crop of a random side (a share of the photo's short side), maybe flipped."""
    side = int(rng.uniform(*CROP_SIDES) * short_side)
    side = max(8, min(side, *region.shape[:2]))
    top = rng.integers(0, region.shape[0] - side + 1)
    left = rng.integers(0, region.shape[1] - side + 1)
    crop = region[top : top + side, left : left + side]
    return crop[:, ::-1] if rng.random() < 0.5 else crop


def write_photo_set(root: Path, photos: dict, train_crops: int, test_crops: int) -> None:
    """`root/train/<photo>/*.jpg` and `root/test/<photo>/*.jpg`, from disjoint regions."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, photo in photos.items():
        short_side = min(photo.shape[:2])
        for split, region, count in zip(
            ("train", "test"), regions(photo), (train_crops, test_crops), strict=True
        ):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                crop = np.ascontiguousarray(random_crop(region, short_side, rng))
                Image.fromarray(crop).save(folder / f"{i:04d}.jpg", quality=90)


def resized_crops(photos: dict, count: int, size: int) -> np.ndarray:
    """`count` crops of the training regions, resized to `size` (float32 0-255 pixels)."""
    from PIL import Image

    rng = np.random.default_rng(1)
    names = list(photos)
    crops = []
    for i in range(count):
        photo = photos[names[i % len(names)]]
        crop = random_crop(regions(photo)[0], min(photo.shape[:2]), rng)
        crops.append(np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((size, size))))
    return np.stack(crops).astype(np.float32)


def mobilenet_v2(alpha: float, size: int, classes: int) -> keras.Model:
    """MobileNetV2 on raw 0-255 pixels: Rescaling to [-1, 1], backbone, pooling, softmax."""
    pixels = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(pixels)
    backbone = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), alpha=alpha, include_top=False, weights=None
    )
    x = keras.layers.GlobalAveragePooling2D()(backbone(x))
    outputs = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(pixels, outputs, name=f"mobilenet_v2_{alpha}_{size}")


# Part 1: latency and size.

LITERT_FILES = {"int8": "model_int8.tflite", "float32": "model_float32.tflite"}
LITERT_FILES["float16"] = "model_float16.tflite"


def export_all(model: keras.Model, folder: Path, calibration: np.ndarray) -> dict[str, Path]:
    """The four files, written by the package's export functions."""
    paths = {}
    for variant, file in LITERT_FILES.items():
        paths[variant] = tp.export_tflite(
            model, folder / file, variant=variant, calibration_data=calibration, int8_io="uint8"
        )
    paths["onnx"] = tp.export_onnx(model, folder / "model.onnx")
    return paths


def litert_invoke(path: Path, threads: int, sample: np.ndarray):
    """LiteRT's `invoke` with the input set once, in the file's own input type."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()[0]
    if details["dtype"] != np.float32:
        scale, zero_point = details["quantization"]
        info = np.iinfo(details["dtype"])
        sample = np.clip(np.rint(sample / scale) + zero_point, info.min, info.max)
    interpreter.set_tensor(details["index"], sample.astype(details["dtype"]))
    return interpreter.invoke


def io_types(path: Path) -> str:
    """The input and output types of a `.tflite` file, with their quantization."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    described = []
    for kind, details in (
        ("input", interpreter.get_input_details()[0]),
        ("output", interpreter.get_output_details()[0]),
    ):
        scale, zero_point = details["quantization"]
        described.append(
            f"{kind} {np.dtype(details['dtype']).name} (scale {scale:.6g}, zero point {zero_point})"
        )
    return ", ".join(described)


def onnxruntime_run(path: Path, threads: int, sample: np.ndarray):
    """onnxruntime's `run_with_iobinding` with the float input bound once."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    binding = session.io_binding()
    binding.bind_cpu_input(session.get_inputs()[0].name, np.ascontiguousarray(sample))
    binding.bind_output(session.get_outputs()[0].name)
    return lambda: session.run_with_iobinding(binding)


def time_rounds(paths: dict, rounds: int, calls: int) -> dict[str, list[list[float]]]:
    """Milliseconds of each call, per round; the paths take turns, reversed every other round."""
    names = list(paths)
    for run in paths.values():  # warm-up, untimed
        for _ in range(3):
            run()
    timings = {name: [] for name in names}
    for turn in range(rounds):
        for name in names if turn % 2 == 0 else names[::-1]:
            run, times = paths[name], []
            for _ in range(calls):
                start = time.perf_counter()
                run()
                times.append((time.perf_counter() - start) * 1e3)
            timings[name].append(times)
    return timings


def latency(settings: Settings, photos: dict) -> None:
    s = settings
    print(
        f"\n## latency: MobileNetV2 alpha {s.latency_alpha}, {s.latency_size}x{s.latency_size}x3, "
        f"{s.latency_classes}-class head, random weights"
    )
    keras.utils.set_random_seed(SEED)
    model = mobilenet_v2(s.latency_alpha, s.latency_size, s.latency_classes)
    print(f"parameters: {model.count_params():,}")
    calibration = resized_crops(photos, s.calibration, s.latency_size)
    sample = calibration[:1]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        files = export_all(model, Path(tmp), calibration)
        print(f"export (3 .tflite, 1 .onnx): {time.perf_counter() - start:.0f} s")
        print("| file | bytes | gzip bytes | Predictor.load + predict(1 photo) |")
        print("|---|---:|---:|---|")
        outputs = {}
        for variant, path in files.items():
            stats = file_stats(path)
            outputs[variant] = tp.Predictor.load(path, num_threads=1).predict(sample)
            out = outputs[variant]
            ran = f"ran, output {out.shape}, sum {out.sum():.3f}, max {out.max():.4f}"
            print(f"| {path.name} | {stats['size_bytes']:,} | {stats['gzip_bytes']:,} | {ran} |")
        difference = np.max(np.abs(outputs["float32"] - outputs["onnx"]))
        print(f"float32 .tflite vs .onnx on the photo: max abs diff {difference:.2e}")
        print(f"int8 file: {io_types(files['int8'])}")
        paths = {}
        for threads in (1, 2):
            for variant in LITERT_FILES:
                paths[f"LiteRT {variant}, {threads} thr"] = litert_invoke(
                    files[variant], threads, sample
                )
            paths[f"onnxruntime float32, {threads} thr"] = onnxruntime_run(
                files["onnx"], threads, sample
            )
        timings = time_rounds(paths, s.rounds, s.calls)
    report_latency(timings, s)


def report_latency(timings: dict, s: Settings) -> None:
    print(f"{s.rounds} rounds x {s.calls} calls per path, one image per call:")
    print("| path | calls | median ms | p90 ms |")
    print("|---|---:|---:|---:|")
    for name, rounds in timings.items():
        every = np.concatenate(rounds)
        print(
            f"| {name} | {len(every)} | {np.median(every):.2f} | {np.percentile(every, 90):.2f} |"
        )
    print(
        "ratios of medians: per round (the two paths ran within a second of each other), "
        "the median and quartiles over the rounds; and of all calls pooled"
    )
    for first, second, target in (
        ("LiteRT int8", "onnxruntime float32", " (target <= 0.6)"),
        ("LiteRT int8", "LiteRT float32", ""),
        ("LiteRT float16", "LiteRT float32", ""),
    ):
        for threads in (1, 2):
            a, b = timings[f"{first}, {threads} thr"], timings[f"{second}, {threads} thr"]
            rounds = [np.median(x) / np.median(y) for x, y in zip(a, b, strict=True)]
            low, middle, high = np.percentile(rounds, [25, 50, 75])
            pooled = np.median(np.concatenate(a)) / np.median(np.concatenate(b))
            print(
                f"  {first} / {second}, {threads} thread(s): {middle:.2f} per round "
                f"({low:.2f}-{high:.2f}), pooled {pooled:.2f}{target}"
            )


# Part 2: int8 accuracy on real photographs.


def photo_config(root: Path, s: Settings, cache: str = "auto", weights: str = "none", run=False):
    """The config of a run on the photo folder: `model.kind: pretrained`, MobileNetV2. With a
    weights file the backbone is frozen while the head trains, then fine-tuned; with random
    weights (`none`) it trains with the head."""
    overrides = {
        "data.source": "image_dir",
        "data.path": str(root / "train"),
        "data.test_path": str(root / "test"),
        "data.image_size": [s.size, s.size],
        "data.augment.flip": "horizontal",
        "data.cache": cache,
        "model.kind": "pretrained",
        "model.backbone": "mobilenet_v2",
        "model.alpha": s.alpha,
        "model.weights": weights,
        "model.hidden_units": [],
        "model.fine_tune.enabled": weights != "none",  # random weights train with the head
        "model.fine_tune.epochs": s.fine_tune_epochs,
        "model.fine_tune.learning_rate": FINE_TUNE_RATE,
        "train.batch_size": s.batch,
        "train.epochs": s.head_epochs,
    }
    if run:
        overrides |= {
            "compress.prune.enabled": False,
            "export.tflite": ["float32", "int8"],
            "export.int8_io": "uint8",
            "export.onnx": False,
            "export.saved_model": False,
            "verify.latency_runs": 20,
        }
    return tp.load_config(overrides=overrides)


def backbone_weights(root: Path, s: Settings) -> Path:
    """A weights file for the backbone, written here since ImageNet's cannot be downloaded:
    the config's MobileNetV2 from random weights (`tp.build_model`), trained whole with
    `tp.train` on the run's own training split (the test crops unseen), then saved by
    `tp.save_backbone_weights`."""
    config = photo_config(root, s)
    data = tp.prepare_data(config.data)
    keras.utils.set_random_seed(SEED)
    model = tp.build_model(config.model, data, seed=SEED)
    momentum = {
        layer.momentum
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    start = time.perf_counter()
    t = config.train
    result = tp.train(model, data, t, epochs=s.pretrain_epochs, verbose=0)
    best = {key: values[result.best_epoch - 1] for key, values in result.history.items()}
    print(
        f"backbone weights: tp.build_model (weights none) trained by tp.train, "
        f"{time.perf_counter() - start:.0f} s; batch normalization momentum {momentum}, "
        f"{t.optimizer} {t.learning_rate:g} ({t.schedule.kind} decay), batch {t.batch_size}, "
        f"up to {s.pretrain_epochs} epochs: {result.epochs_run} run, weights of epoch "
        f"{result.best_epoch} (accuracy {best['accuracy']:.4f}, val accuracy "
        f"{best['val_accuracy']:.4f})"
    )
    return tp.save_backbone_weights(model, root / f"mobilenet_v2_{s.alpha}_no_top.h5")


def accuracy(settings: Settings, root: Path) -> None:
    s = settings
    print(
        f"\n## accuracy: one Pipeline run, model.kind pretrained, mobilenet_v2 alpha {s.alpha}, "
        f"{s.size}x{s.size}x3, weights from a file written here"
    )
    config = photo_config(root, s, weights=str(backbone_weights(root, s)), run=True)
    lines = []
    start = time.perf_counter()
    try:
        tp.Pipeline(config, log=lines.append, verbose=0).run(root / "run")
    except tp.VerificationError as exc:  # the manifest is written first
        lines.append(f"VerificationError: {exc}")
    print(f"Pipeline.run: {time.perf_counter() - start:.0f} s; its log:")
    for line in "\n".join(lines).splitlines():
        print(f"  | {line}")
    report_accuracy(json.loads((root / "run" / "manifest.json").read_text()))


def report_accuracy(manifest: dict) -> None:
    """Each artifact's test accuracy and agreement with the Keras model, from the manifest."""
    keras_accuracy = manifest["keras_test_accuracy"]
    sizes = manifest["data"]["split_sizes"]
    print(f"manifest.json: status {manifest['status']}; test crops {sizes['test']}")
    print("| model | test accuracy | top-1 agreement with Keras | decisive agreement (ties) |")
    print("|---|---:|---:|---:|")
    print(f"| Keras (model.keras) | {keras_accuracy:.4f} | 1.0000 | |")
    for artifact in manifest["artifacts"]:
        print(
            f"| {artifact['path']} | {artifact['test_accuracy']:.4f} | "
            f"{artifact['top1_agreement']:.4f} | {artifact['decisive_agreement']:.4f} "
            f"({artifact['ties']}) |"
        )
        if artifact["variant"] == "int8":
            gap = 100 * (keras_accuracy - artifact["test_accuracy"])
    print(f"int8 accuracy loss vs Keras float32: {gap:+.2f} points (target <= 1)")


# Part 3: training throughput with and without the cache.


class EpochClock(keras.callbacks.Callback):
    """Seconds of each epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def take_turns(epoch: dict, rounds: int) -> dict[str, list[float]]:
    """Seconds of one epoch of each input per round, the inputs taking turns (the order
    reversed every other round), after one untimed epoch each (tracing, filling the cache).

    Args:
        epoch: name -> a function that runs one epoch and returns its seconds.
    """
    names = list(epoch)
    for name in names:
        epoch[name]()
    seconds = {name: [] for name in names}
    for turn in range(rounds):
        for name in names if turn % 2 == 0 else names[::-1]:
            seconds[name].append(epoch[name]())
    return seconds


def chain_epoch(chain, steps: int):
    """One epoch of batches drawn from `chain` with no model: the input chain's own rate."""

    def run() -> float:
        batches = iter(chain)
        start = time.perf_counter()
        for _ in range(steps):
            next(batches)
        return time.perf_counter() - start

    return run


def fit_epoch(model, chain, steps: int):
    """One epoch of `model.fit` on `chain` (as `tp.train` calls it), timed by a callback."""

    def run() -> float:
        clock = EpochClock()
        model.fit(chain, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[clock])
        return clock.seconds[0]

    return run


def throughput(settings: Settings, root: Path) -> None:
    from tfpipeline.backbones import freeze_backbone, unfreeze_backbone

    s = settings
    chains, data = {}, None
    for cache in ("memory", "none"):
        data = tp.prepare_data(photo_config(root, s, cache).data)
        chain = data.dataset("train", s.batch, training=True, epochs=(0, None))
        chains[f"data.cache: {cache}"] = chain
    samples = len(data.splits.train)
    steps = -(-samples // s.batch)
    print(
        f"\n## throughput: {samples} training crops (JPEG) per epoch, {s.size}x{s.size}x3, "
        f"horizontal flips, batch {s.batch}; {s.throughput_rounds} rounds of one epoch each, "
        "after one untimed epoch each"
    )
    rounds = {
        "the chain alone (batches drawn, no model)": {
            name: chain_epoch(chain, steps) for name, chain in chains.items()
        }
    }
    keras.utils.set_random_seed(SEED)
    model = tp.build_model(photo_config(root, s).model, data, seed=SEED)
    freeze_backbone(model)  # random weights are not frozen by the package: the head's phase
    model.compile("adam", "sparse_categorical_crossentropy")
    phase = "training the head (tp.build_model's mobilenet_v2, backbone frozen)"
    rounds[phase] = {name: fit_epoch(model, chain, steps) for name, chain in chains.items()}
    for label, epoch in rounds.items():
        report_throughput(label, take_turns(epoch, s.throughput_rounds), samples)
    unfreeze_backbone(model)
    model.compile("adam", "sparse_categorical_crossentropy")
    phase = "fine-tuning (the whole backbone unfrozen, batch normalization frozen)"
    epoch = {name: fit_epoch(model, chain, steps) for name, chain in chains.items()}
    report_throughput(phase, take_turns(epoch, s.throughput_rounds), samples)


def report_throughput(label: str, seconds: dict[str, list[float]], samples: int) -> None:
    print(f"{label}:")
    for name, times in seconds.items():
        rates = [samples / t for t in times]
        print(
            f"  {name:18s} median {statistics.median(rates):7.0f} images/s "
            f"(rounds {min(rates):.0f}-{max(rates):.0f})"
        )
    memory, none = seconds.values()
    ratios = [n / m for m, n in zip(memory, none, strict=True)]
    print(
        f"  memory / none: {statistics.median(ratios):.2f}x images/s "
        f"(rounds {min(ratios):.2f}-{max(ratios):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="everything tiny: a smoke check")
    args = parser.parse_args()
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    settings = QUICK if args.quick else Settings()
    print(machine(PACKAGES))
    start = time.perf_counter()
    photos = real_photos()
    print(f"photographs ({len(photos)}): {', '.join(photos)}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "accuracy" in parts or "throughput" in parts:
            write_photo_set(root, photos, settings.train_crops, settings.test_crops)
        if "latency" in parts:
            latency(settings, photos)
        if "accuracy" in parts:
            accuracy(settings, root)
        if "throughput" in parts:
            throughput(settings, root)
    print(f"\nwhole run: {time.perf_counter() - start:.0f} s; {load()}")


if __name__ == "__main__":
    main()
