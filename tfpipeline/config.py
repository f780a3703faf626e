"""Pipeline configuration: frozen dataclasses, YAML round trip, overrides and validation.

Every key is declared once, as a dataclass field whose metadata holds its rule (range or
accepted values; see `_schema.py`). `load_config` reads a YAML file (or a dict) over the
embedded defaults, applies `KEY=VALUE` overrides and refuses any unknown key, wrong type or
out-of-range value before any work starts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tfpipeline._schema import (
    MAX_CONFIG_BYTES,
    build,
    clip,
    field_types,
    parse_yaml,
    setting,
    shown,
    unknown_key_message,
)
from tfpipeline.errors import ConfigError

SOURCES = ("builtin", "arrays", "csv", "image_dir", "tfrecord")
BUILTIN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")
TFLITE_VARIANTS = ("float32", "float16", "dynamic", "int8", "int16x8")
# The cells a table reads as missing (what R, pandas and most published CSV files write).
# Images with more pixels are refused before they are decoded (a 316 KB PNG can declare
# 20000 x 20000 pixels and take gigabytes to decode).
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
DEFAULT_NA_VALUES = ("", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "?", "#N/A")
INT8_IO_TYPES = ("int8", "uint8")
INT8_INPUTS = ("auto", "quantized", "float")
ACTIVATIONS = ("relu", "relu6", "tanh", "sigmoid", "elu", "selu", "gelu", "swish")
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_normal",
)
MODELS = ("mlp", "cnn", "custom")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "exponential", "step", "cosine")
MONITORS = ("val_loss", "val_accuracy", "val_mae", "loss", "accuracy", "mae")


@dataclass(frozen=True)
class SplitConfig:
    """Fractions of the cleaned data set given to each split; they must sum to 1.

    With `data.test_path` set, the test split is that data and `test` is ignored: the other
    data is split between train and val in the ratio of their fractions.

    Attributes:
        train: fraction for training.
        val: fraction for validation (early stopping, checkpoints); 0 for none.
        test: fraction held out for the final figures.
    """

    train: float = setting(0.8, low=0.0, high=1.0, low_open=True, high_open=True)
    val: float = setting(0.1, low=0.0, high=1.0, high_open=True)
    test: float = setting(0.1, low=0.0, high=1.0, low_open=True, high_open=True)


@dataclass(frozen=True)
class CleanConfig:
    """What cleaning does with each kind of problem row; every action is counted and reported.

    Attributes:
        non_finite: rows with a NaN or infinite feature: `drop` them, or `impute_median`
            (each such value replaced by the feature's median on the training split).
            Defaults to `"drop"`.
        duplicates: exact duplicate rows (features and label): `drop` all but the first, or
            `keep`. Defaults to `"drop"`.
        strict: fail on a row with a missing or unknown label instead of dropping it.
            Defaults to `False`.
        constant_features: feature columns with a single value: `warn` or `ignore`.
            Defaults to `"warn"`.
    """

    non_finite: str = setting("drop", choices=("drop", "impute_median"))
    duplicates: str = setting("drop", choices=("drop", "keep"))
    strict: bool = False
    constant_features: str = setting("warn", choices=("warn", "ignore"))


@dataclass(frozen=True)
class AugmentConfig:
    """Training-only augmentation, applied in the tf.data chain and never exported.

    Image factors follow the Keras preprocessing layers of the same names (`rotation` is a
    fraction of a full turn; `zoom`, `translation`, `contrast` and `brightness` fractions of
    the size or range). `noise` is for feature vectors: Gaussian noise whose standard
    deviation is this fraction of each feature's training standard deviation. All default to
    off.

    Attributes:
        flip: random flips of images.
        rotation: largest random rotation, as a fraction of a full turn.
        zoom: largest random zoom, as a fraction of the size.
        translation: largest random shift, as a fraction of the size.
        contrast: largest random contrast change, as a fraction.
        brightness: largest random brightness change, as a fraction of the value range.
        noise: Gaussian noise on feature vectors, as a fraction of each feature's standard
            deviation.
    """

    flip: str = setting(
        "none", choices=("none", "horizontal", "vertical", "horizontal_and_vertical")
    )
    rotation: float = setting(0.0, low=0.0, high=1.0)
    zoom: float = setting(0.0, low=0.0, high=1.0, high_open=True)
    translation: float = setting(0.0, low=0.0, high=1.0, high_open=True)
    contrast: float = setting(0.0, low=0.0, high=1.0, high_open=True)
    brightness: float = setting(0.0, low=0.0, high=1.0, high_open=True)
    noise: float = setting(0.0, low=0.0, high=10.0)


@dataclass(frozen=True)
class CategoricalConfig:
    """How text columns of a table (CSV file, DataFrame) become model input.

    The encoding is learned from the training split and runs outside the model (TFLite has
    no string ops); the manifest and model card record it.

    Attributes:
        max_categories: a column with at most this many distinct training values is
            one-hot; with more, the most frequent `max_categories - 1` keep a position
            each and the others (and values never seen in training) share an `(other)`
            position. Defaults to `20`.
        columns: columns encoded as categories even when they hold numbers (codes such as
            1/2/3 for three regions). Defaults to `None`.
    """

    max_categories: int = setting(20, low=2, high=10_000)
    columns: list[str] | None = None


@dataclass(frozen=True)
class RecordFeature:
    """One feature of a TFRecord `tf.train.Example`.

    Attributes:
        name: the feature's key in the Example.
        dtype: `float32` or `int64` (numbers, cast to float32), or `image` (encoded PNG/JPEG/
            BMP/GIF bytes, decoded to `data.image_size` and `data.channels`).
            Defaults to `"float32"`.
        shape: the shape of a numeric feature; `[]` for a scalar. Defaults to `[]`.
    """

    name: str = setting("", choices=None)
    dtype: str = setting("float32", choices=("float32", "int64", "image"))
    shape: list[int] = setting([], low=1)


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from, how it is cleaned, split, normalized, augmented and fed.

    Attributes:
        source: `builtin`, `arrays` (NumPy arrays or a DataFrame given to the Python API),
            `csv`, `image_dir` or `tfrecord`. Defaults to `"builtin"`.
        name: the built-in data set: `digits`, `iris`, `wine`, `breast_cancer`
            (classification) or `diabetes` (regression: disease progression from ten raw
            measurements). Defaults to `"digits"`.
        as_images: give `digits` as 8x8x1 images instead of 64 features. Defaults to `False`.
        path: the CSV file, image folder or TFRecord glob (relative to the current folder;
            `~` is the home folder). Defaults to `None`.
        test_path: a separate file, folder or glob of the same kind used as the test split.
            Defaults to `None` (the test split is cut from `path`).
        task: `classification` or `regression` (float targets, MSE loss).
            Defaults to `"classification"`.
        classes: the accepted labels (others are unknown labels); `null` accepts every label
            found. Classes are indexed in sorted order either way. Defaults to `None`.
        label_column: the CSV column holding the label. Defaults to `"label"`.
        feature_columns: the CSV feature columns; `null` means every other column.
            Defaults to `None`.
        na_values: the cells of a CSV file (or DataFrame) read as missing, compared after
            trimming spaces. Defaults to `"", NA, N/A, n/a, NaN, nan, null, NULL, None, ?,
            #N/A`.
        image_size: `[height, width]` images are resized to. Defaults to `[64, 64]`.
        channels: 1 (grayscale) or 3 (RGB); images are converted. Defaults to `3`.
        max_image_pixels: an image file declaring more pixels (width x height, read from
            its header before decoding) is skipped, named in a warning. Defaults to
            `50000000`.
        features: the TFRecord feature spec (see `RecordFeature`). Defaults to `[]`.
        label_key: the TFRecord feature holding the label. Defaults to `"label"`.
        normalization: `auto` (images scaled to [0, 1], features standardized),
            `standardize` (mean/std of the training split), `scale` (to [0, 1]) or `none`.
            Always inside the model. Defaults to `"auto"`.
        cache: `auto` (memory, unless a file source's decoded training split would take
            more than 1 GiB: then none, streaming from the files every epoch), `memory`,
            `none`, or a file path prefix for data larger than memory. Defaults to `"auto"`.
        shuffle_buffer: the training shuffle buffer, in samples, for file sources (in-memory
            sources shuffle fully). Defaults to `10000`.
        class_weight: `balanced` weighs each class by the inverse of its training frequency;
            `null` weighs all alike. Defaults to `None`.
        clean: cleaning actions.
        categorical: how text columns are encoded.
        augment: training-only augmentation.
        split: train/val/test fractions.
        seed: seed of the split and of augmentation. Defaults to `42`.
    """

    source: str = setting("builtin", choices=SOURCES)
    name: str = setting("digits", choices=BUILTIN_DATASETS)
    as_images: bool = False
    path: str | None = None
    test_path: str | None = None
    task: str = setting("classification", choices=("classification", "regression"))
    classes: list[str] | None = None
    label_column: str = "label"
    feature_columns: list[str] | None = None
    na_values: list[str] = setting(list(DEFAULT_NA_VALUES))
    image_size: list[int] = setting([64, 64], low=1, high=8192)
    channels: int = setting(3, choices=(1, 3))
    max_image_pixels: int = setting(DEFAULT_MAX_IMAGE_PIXELS, low=1)
    features: list[RecordFeature] = field(default_factory=list)
    label_key: str = "label"
    normalization: str = setting("auto", choices=("auto", "standardize", "scale", "none"))
    cache: str = "auto"
    shuffle_buffer: int = setting(10_000, low=1)
    class_weight: str | None = setting(None, choices=("balanced",))
    clean: CleanConfig = field(default_factory=CleanConfig)
    categorical: CategoricalConfig = field(default_factory=CategoricalConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    seed: int = setting(42, low=0)


@dataclass(frozen=True)
class ModelConfig:
    """The model: the seed MLP, a small CNN, or a tf_keras model given to the Python API.

    Attributes:
        kind: `mlp` (normalization, hidden Dense layers, output), `cnn` (normalization,
            Conv-BN-ReLU blocks with pooling, global average pooling, Dense head) or `custom`
            (the model passed to `Pipeline.run(model=...)`, used as it is). Defaults to `"mlp"`.
        hidden_units: width of each hidden Dense layer (the CNN's head). Defaults to
            `[128, 64]`.
        activation: activation of the hidden Dense layers. Defaults to `"relu"`.
        initializer: kernel initializer, seeded with `train.seed`. Defaults to
            `"glorot_uniform"` (Xavier).
        dropout: dropout rate after each hidden Dense layer. Defaults to `0.0`.
        batch_norm: batch normalization after each hidden Dense layer. Defaults to `False`.
        l2: L2 weight decay on every kernel. Defaults to `0.0`.
        filters: the CNN's blocks: filters of each Conv-BN-ReLU block, each followed by 2x2
            max pooling. Defaults to `[16, 32]`.
        kernel_size: the CNN's convolution kernel size. Defaults to `3`.
    """

    kind: str = setting("mlp", choices=MODELS)
    hidden_units: list[int] = setting([128, 64], low=1, high=1_000_000)
    activation: str = setting("relu", choices=ACTIVATIONS)
    initializer: str = setting("glorot_uniform", choices=INITIALIZERS)
    dropout: float = setting(0.0, low=0.0, high=1.0, high_open=True)
    batch_norm: bool = False
    l2: float = setting(0.0, low=0.0, high=1.0)
    filters: list[int] = setting([16, 32], low=1, high=4096)
    kernel_size: int = setting(3, low=1, high=15)


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule (`lr` is `train.learning_rate`; steps are optimizer steps).

    - `constant`: `lr`.
    - `exponential`: `lr * decay_rate ** (step / decay_steps)` (floored exponent with
      `staircase`); `decay_epochs`, when set, gives `decay_steps` in epochs.
    - `step`: `lr * factor ** floor(epoch / drop_every_epochs)`; or, when `boundaries` is set,
      piecewise constant: `values[i]` until epoch `boundaries[i]`, then `values[-1]`.
    - `cosine`: cosine decay from `lr` to `lr * alpha` over `cosine_epochs` (default: all
      epochs); with `restarts`, SGDR restarts after `cosine_epochs`, each period `t_mul`
      times longer and `m_mul` times lower.
    - `warmup_epochs` > 0 wraps any of them in a linear warm-up from 0.

    Attributes:
        kind: `constant`, `exponential`, `step` or `cosine`. Defaults to `"exponential"`.
        decay_rate: exponential decay rate. Defaults to `0.9`.
        decay_steps: exponential decay period, in steps. Defaults to `100`.
        decay_epochs: exponential decay period in epochs, replacing `decay_steps`.
            Defaults to `None`.
        staircase: exponential decay in whole periods. Defaults to `False`.
        factor: step decay's multiplier. Defaults to `0.5`.
        drop_every_epochs: step decay's period, in epochs. Defaults to `10`.
        boundaries: piecewise-constant epochs at which the rate changes. Defaults to `None`.
        values: piecewise-constant rates, one more than `boundaries`. Defaults to `None`.
        alpha: cosine's final rate, as a fraction of `lr`. Defaults to `0.0`.
        cosine_epochs: cosine's (first) period, in epochs. Defaults to `None` (all epochs).
        restarts: cosine with warm restarts. Defaults to `False`.
        t_mul: restart period multiplier. Defaults to `2.0`.
        m_mul: restart rate multiplier. Defaults to `1.0`.
        warmup_epochs: linear warm-up length, in epochs. Defaults to `0.0`.
    """

    kind: str = setting("exponential", choices=SCHEDULES)
    decay_rate: float = setting(0.9, low=0.0, high=1.0, low_open=True)
    decay_steps: int = setting(100, low=1)
    decay_epochs: float | None = setting(None, low=0.0, low_open=True)
    staircase: bool = False
    factor: float = setting(0.5, low=0.0, high=1.0, low_open=True)
    drop_every_epochs: int = setting(10, low=1)
    boundaries: list[int] | None = setting(None, low=1)
    values: list[float] | None = setting(None, low=0.0, low_open=True)
    alpha: float = setting(0.0, low=0.0, high=1.0)
    cosine_epochs: float | None = setting(None, low=0.0, low_open=True)
    restarts: bool = False
    t_mul: float = setting(2.0, low=0.0, low_open=True)
    m_mul: float = setting(1.0, low=0.0, low_open=True)
    warmup_epochs: float = setting(0.0, low=0.0)


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """Keras `EarlyStopping` arguments; `patience: 0` stops at the first epoch without progress.

    Attributes:
        enabled: stop early at all. Defaults to `True`.
        monitor: the metric watched. Defaults to `"val_loss"`.
        mode: `auto` (max for accuracy, min otherwise), `min` or `max`. Defaults to `"auto"`.
        patience: epochs without improvement before stopping. Defaults to `5`.
        min_delta: the smallest change that counts as improvement. Defaults to `0.0`.
        restore_best_weights: end with the best epoch's weights. Defaults to `True`.
        start_from_epoch: epochs to run before watching. Defaults to `0`.
    """

    enabled: bool = True
    monitor: str = setting("val_loss", choices=MONITORS)
    mode: str = setting("auto", choices=("auto", "min", "max"))
    patience: int = setting(5, low=0)
    min_delta: float = setting(0.0, low=0.0)
    restore_best_weights: bool = True
    start_from_epoch: int = setting(0, low=0)


@dataclass(frozen=True)
class ReduceOnPlateauConfig:
    """Keras `ReduceLROnPlateau`: multiply the rate by `factor` after `patience` flat epochs.

    Needs `train.schedule.kind: constant` (a schedule already sets the rate every step).

    Attributes:
        enabled: use it.
        monitor: the metric watched.
        factor: what the rate is multiplied by.
        patience: flat epochs before the rate drops.
        min_lr: the rate never goes below this.
    """

    enabled: bool = False
    monitor: str = setting("val_loss", choices=MONITORS)
    factor: float = setting(0.1, low=0.0, high=1.0, low_open=True, high_open=True)
    patience: int = setting(3, low=0)
    min_lr: float = setting(0.0, low=0.0)


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer, schedule, stopping rule, checkpoints and logs of the training stage.

    Attributes:
        optimizer: `sgd`, `momentum` (SGD with momentum), `nesterov` (SGD with Nesterov
            momentum), `adam`, `adamw` or `rmsprop`. Defaults to `"adam"`.
        learning_rate: the initial rate. Defaults to `0.001`.
        momentum: momentum of `momentum`, `nesterov` and `rmsprop`. Defaults to `0.9`
            (`rmsprop`: 0 unless set).
        weight_decay: decoupled weight decay (`adamw` defaults to 0.004; others none).
            Defaults to `None`.
        clipnorm: clip each gradient to this norm. Defaults to `None`.
        clipvalue: clip each gradient value to this range. Defaults to `None`.
        schedule: the learning-rate schedule.
        reduce_on_plateau: the plateau callback.
        epochs: the epoch cap. Defaults to `50`.
        batch_size: samples per step. Defaults to `32`.
        early_stopping: the stopping rule.
        seed: seed of weights, shuffling and dropout. Defaults to `42`.
        deterministic: TensorFlow op determinism, so a seeded run repeats exactly.
            Defaults to `True`.
        resume: keep crash-safe training state (`BackupAndRestore`) in the run folder, so a
            killed run started again with the same command resumes from its last finished
            epoch. Defaults to `True`.
        checkpoint: keep the best epoch's model as `checkpoints/best.keras`. Defaults to `True`.
        csv_log: write `training_log.csv`, one row per epoch. Defaults to `True`.
        tensorboard: write TensorBoard logs to `tensorboard/`. Defaults to `False`.
        distribute: `none`, `mirrored` (MirroredStrategy over the local GPUs, or `devices`)
            or `multi_worker` (MultiWorkerMirroredStrategy from `TF_CONFIG`, or from
            `tfpipeline run --workers ... --worker-index N`; needs `--output` on storage
            every worker sees, where the chief writes the run).
            Defaults to `"none"`.
        devices: the devices `mirrored` uses, such as `["/cpu:0", "/cpu:1"]`; `null` means
            every local GPU. Defaults to `null`.
        scale_lr_with_replicas: multiply the learning rate by the number of replicas (the
            batch size is global, so each step sees that many times more samples).
            Defaults to `False`.
        mixed_precision: `none`, `mixed_float16` (GPUs only) or `mixed_bfloat16` (`true`,
            `false` and `bfloat16` are read as `mixed_float16`, `none` and `mixed_bfloat16`);
            the output layer stays float32 and exports are float32 regardless.
            Defaults to `"none"`.
    """

    optimizer: str = setting("adam", choices=OPTIMIZERS)
    learning_rate: float = setting(0.001, low=0.0, high=10.0, low_open=True)
    momentum: float | None = setting(None, low=0.0, high=1.0, high_open=True)
    weight_decay: float | None = setting(None, low=0.0, high=1.0)
    clipnorm: float | None = setting(None, low=0.0, low_open=True)
    clipvalue: float | None = setting(None, low=0.0, low_open=True)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    reduce_on_plateau: ReduceOnPlateauConfig = field(default_factory=ReduceOnPlateauConfig)
    epochs: int = setting(50, low=1, high=100_000)
    batch_size: int = setting(32, low=1, high=1_000_000)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    seed: int = setting(42, low=0)
    deterministic: bool = True
    resume: bool = True
    checkpoint: bool = True
    csv_log: bool = True
    tensorboard: bool = False
    distribute: str = setting("none", choices=("none", "mirrored", "multi_worker"))
    devices: list[str] | None = setting(None)
    scale_lr_with_replicas: bool = False
    mixed_precision: str = setting(
        "none",
        choices=("none", "mixed_float16", "mixed_bfloat16"),
        aliases={True: "mixed_float16", False: "none", "bfloat16": "mixed_bfloat16"},
    )


@dataclass(frozen=True)
class PruneConfig:
    """TFMOT magnitude pruning, fine-tuned from the trained model.

    Attributes:
        enabled: prune at all. Defaults to `True`.
        sparsity: final fraction of zero weights in each pruned kernel. Defaults to `0.75`.
        initial_sparsity: where the `polynomial` schedule starts. Defaults to `0.0`.
        begin_epoch: fine-tuning epoch (may be fractional) at which pruning starts.
            Defaults to `0.0`.
        end_epoch: fine-tuning epoch at which `sparsity` is reached; `null` means 60% of
            `epochs`, leaving the rest to recover accuracy. Defaults to `null`.
        schedule: `polynomial` (TFMOT's `PolynomialDecay`: sparsity rises over the first
            60% of fine-tuning) or `constant` (`ConstantSparsity`). Defaults to
            `"polynomial"`.
        sparsity_m_by_n: `[m, n]` for structured sparsity, m zeros in every n consecutive
            weights (`[2, 4]`: the 2:4 pattern); overrides `sparsity`. Defaults to `null`.
        xnnpack: prune only what XNNPACK's sparse inference speeds up (1x1 convolutions of
            a network with a 3x3 stride-2 stem). Defaults to `False`.
        skip_layers: layer names or types (`Conv2D`) left dense. Defaults to `[]`.
        epochs: fine-tuning epochs. Defaults to `20`.
        learning_rate: fine-tuning learning rate; `null` means half of
            `train.learning_rate`. Defaults to `null`.
    """

    enabled: bool = True
    sparsity: float = setting(0.75, low=0.0, high=1.0, low_open=True, high_open=True)
    initial_sparsity: float = setting(0.0, low=0.0, high=1.0, high_open=True)
    begin_epoch: float = setting(0.0, low=0.0)
    end_epoch: float | None = setting(None, low=0.0, low_open=True)
    schedule: str = setting("polynomial", choices=("polynomial", "constant"))
    sparsity_m_by_n: list[int] | None = setting(None, low=1)
    xnnpack: bool = False
    skip_layers: list[str] = setting([])
    epochs: int = setting(20, low=1, high=100_000)
    learning_rate: float | None = setting(None, low=0.0, high=10.0, low_open=True)


@dataclass(frozen=True)
class ClusterConfig:
    """TFMOT weight clustering, fine-tuned from the model before it.

    Attributes:
        enabled: cluster at all. Defaults to `False`.
        clusters: distinct values per kernel. Defaults to `16`.
        init: centroid initialization: `kmeans_plus_plus`, `linear`, `density_based` or
            `random`. Defaults to `"kmeans_plus_plus"`.
        skip_layers: layer names or types left unclustered. Defaults to `[]`.
        epochs: fine-tuning epochs. Defaults to `4`.
        learning_rate: fine-tuning learning rate; `null` means a tenth of
            `train.learning_rate`. Defaults to `null`.
    """

    enabled: bool = False
    clusters: int = setting(16, low=2, high=65_536)
    init: str = setting(
        "kmeans_plus_plus", choices=("kmeans_plus_plus", "linear", "density_based", "random")
    )
    skip_layers: list[str] = setting([])
    epochs: int = setting(4, low=1, high=100_000)
    learning_rate: float | None = setting(None, low=0.0, high=10.0, low_open=True)


@dataclass(frozen=True)
class QatConfig:
    """TFMOT quantization-aware training (8-bit), fine-tuned from the model before it.

    After pruning it preserves the zeros (PQAT), after clustering the clusters (CQAT), after
    both, both (PCQAT). Export the result as `int8` TFLite.

    Attributes:
        enabled: train quantization-aware at all. Defaults to `False`.
        skip_layers: layer names or types left float. Defaults to `[]`.
        epochs: fine-tuning epochs. Defaults to `4`.
        learning_rate: fine-tuning learning rate; `null` means a tenth of
            `train.learning_rate`. Defaults to `null`.
    """

    enabled: bool = False
    skip_layers: list[str] = setting([])
    epochs: int = setting(4, low=1, high=100_000)
    learning_rate: float | None = setting(None, low=0.0, high=10.0, low_open=True)


COMPRESS_TECHNIQUES = ("prune", "cluster", "qat")

# Each technique keeps what the ones before it did only in this order (TFMOT's collaborative
# optimization): pruning's zeros survive clustering and QAT, clusters survive QAT.
ACCEPTED_ORDERS = (
    ("prune",),
    ("cluster",),
    ("qat",),
    ("prune", "cluster"),
    ("prune", "qat"),
    ("cluster", "qat"),
    ("prune", "cluster", "qat"),
)


@dataclass(frozen=True)
class CompressConfig:
    """Compression techniques applied to the trained model, each fine-tuned in turn.

    Attributes:
        order: the order the enabled techniques run in. Defaults to
            `[prune, cluster, qat]`.
        prune: magnitude pruning.
        cluster: weight clustering.
        qat: quantization-aware training.
    """

    order: list[str] = setting(list(COMPRESS_TECHNIQUES), choices=COMPRESS_TECHNIQUES)
    prune: PruneConfig = field(default_factory=PruneConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    qat: QatConfig = field(default_factory=QatConfig)

    def techniques(self) -> tuple[str, ...]:
        """The enabled techniques, in the order they run."""
        return tuple(name for name in self.order if getattr(self, name).enabled)


@dataclass(frozen=True)
class ExportConfig:
    """Which artifacts to write.

    Attributes:
        saved_model: write a TensorFlow SavedModel. Defaults to `True`.
        onnx: write an ONNX model with tf2onnx. Defaults to `True`.
        onnx_opset: ONNX opset. Defaults to `17`.
        tflite: TFLite variants to write. Defaults to `["float32", "int8"]`.
        calibration_samples: training samples used to calibrate int8. Defaults to `500`.
        int8_io: input and output type of the `int8` variant when its input is quantized:
            `int8` or `uint8`. Defaults to `"int8"`.
        int8_input: how the `int8` variant takes its input: `quantized` (`int8_io` input
            and output, one scale for every raw value), `float` (float32 input and output;
            the input normalization computes in float before the first quantize), or
            `auto` (`float` when the training features do not share one scale, such as
            grams next to millimetres; `quantized` for images and features on one scale).
            Defaults to `"auto"`.
        allow_flex_ops: let TFLite keep TensorFlow ops outside LiteRT's built-in set
            (Select TF ops). Defaults to `False` (such a model is refused, naming the ops).
        keras: also write the trained tf_keras model as `model.keras`. Defaults to `True`.
        onnx_optimized: also write onnxruntime's graph-optimized copy,
            `model_optimized.onnx`. Defaults to `False`.
        onnx_int8: also write an int8 copy made by onnxruntime's dynamic quantization,
            `model_int8.onnx`. Defaults to `False`.
        android: write the Android bundle `android/` (a `.tflite`, `labels.txt`,
            `model_card.json`). Defaults to `False`.
        android_variant: the TFLite variant the bundle ships; `null` means `int8` when it
            is exported, else the first of `tflite`. Defaults to `null`.
    """

    saved_model: bool = True
    onnx: bool = True
    onnx_opset: int = setting(17, low=13, high=21)
    tflite: list[str] = setting(["float32", "int8"], choices=TFLITE_VARIANTS)
    calibration_samples: int = setting(500, low=1)
    int8_io: str = setting("int8", choices=INT8_IO_TYPES)
    int8_input: str = setting("auto", choices=INT8_INPUTS)
    allow_flex_ops: bool = False
    keras: bool = True
    onnx_optimized: bool = False
    onnx_int8: bool = False
    android: bool = False
    android_variant: str | None = setting(None, choices=TFLITE_VARIANTS)


@dataclass(frozen=True)
class VerifyConfig:
    """Thresholds every artifact must meet in its own runtime, and latency settings.

    Attributes:
        float_max_abs_diff: largest allowed difference of a float artifact's probabilities
            from the Keras model's. Defaults to `1e-4`.
        float_min_agreement: smallest allowed top-1 agreement of a float artifact.
            Defaults to `1.0`.
        float16_max_abs_diff: largest allowed difference of a float16 artifact's outputs.
            Defaults to `1e-2`.
        int8_min_agreement: smallest allowed top-1 agreement of an integer-quantized
            artifact (`dynamic`, `int8`, `int16x8`), on the test samples the Keras model
            decides (see `tie_margin`). Defaults to `0.97`.
        tie_margin: a test sample whose two highest Keras probabilities are closer than
            this is a tie, which quantization may tip either way: counted and reported
            (`ties`), not held against an integer-quantized artifact. Defaults to `0.02`.
        min_accuracy: smallest allowed test accuracy of any artifact. Defaults to `0.0`.
        int8_max_mae_increase: regression only: largest allowed relative increase of an
            integer-quantized artifact's test MAE over the Keras model's. Defaults to `0.1`.
        regression_must_beat_baseline: regression only: an artifact whose test MAE is not
            below the mean predictor's (always predicting the training mean) fails.
            Defaults to `True`.
        latency_runs: timed single-sample calls per artifact. Defaults to `200`.
        latency_warmup: untimed calls before them. Defaults to `20`.
    """

    float_max_abs_diff: float = setting(1e-4, low=0.0)
    float_min_agreement: float = setting(1.0, low=0.0, high=1.0)
    float16_max_abs_diff: float = setting(1e-2, low=0.0)
    int8_min_agreement: float = setting(0.97, low=0.0, high=1.0)
    tie_margin: float = setting(0.02, low=0.0, high=1.0)
    min_accuracy: float = setting(0.0, low=0.0, high=1.0)
    int8_max_mae_increase: float = setting(0.1, low=0.0)
    regression_must_beat_baseline: bool = True
    latency_runs: int = setting(200, low=1, high=1_000_000)
    latency_warmup: int = setting(20, low=0, high=1_000_000)


@dataclass(frozen=True)
class PipelineConfig:
    """The whole pipeline's configuration, one section per stage."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    compress: CompressConfig = field(default_factory=CompressConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)

    def to_dict(self) -> dict[str, Any]:
        """Returns the configuration as plain nested dicts and lists (YAML/JSON ready)."""
        return dataclasses.asdict(self)


def default_config_path() -> Path:
    """Returns the path of the embedded default config shipped inside the package."""
    return Path(str(resources.files("tfpipeline") / "configs" / "default.yaml"))


def load_config(
    source: str | Path | Mapping[str, Any] | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
) -> PipelineConfig:
    """Loads and validates a configuration.

    Keys missing from `source` keep their defaults (those of the embedded default config).

    Args:
        source: a YAML/JSON file path, a nested dict, or `None` for the embedded default.
            Defaults to `None`.
        overrides: `"dotted.key=value"` strings (values read as YAML, by the same rules as
            a file) or a dict of dotted keys to values, applied after `source`. Defaults to
            no overrides.

    Returns:
        The validated `PipelineConfig`.

    Raises:
        ConfigError: for a missing or unreadable file, a file over 256 KiB, invalid YAML, a
            YAML alias (`*name`, refused in configs), an unknown key, a wrong type or an
            out-of-range value.
    """
    raw = _read_source(source)
    items = overrides.items() if isinstance(overrides, Mapping) else map(_split_override, overrides)
    for key, value in items:
        _set_dotted(raw, key, value)
    return from_dict(raw)


def from_dict(raw: Mapping[str, Any]) -> PipelineConfig:
    """Builds a validated `PipelineConfig` from nested dicts (the inverse of `to_dict`).

    Raises:
        ConfigError: for an unknown key, a wrong type or an out-of-range value.
    """
    config = build(PipelineConfig, raw, "")
    _check_split(config.data.split)
    _check_data(config.data)
    _check_monitor(config)
    _check_compress(config.compress)
    _check_export(config.export)
    return config


def dump_config(config: PipelineConfig) -> str:
    """Returns the configuration as YAML text that `load_config` reads back unchanged."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def _read_source(source: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    if source is None:
        return {}
    if isinstance(source, Mapping):
        try:
            return _deep_copy(source)
        except RecursionError:  # a dict holding itself, or nested past Python's limit
            raise ConfigError(
                "A config mapping must be plain nested dicts and lists. Received one that "
                "holds itself or is nested thousands of levels deep."
            ) from None
    path = Path(source)
    try:  # stat itself fails on a name too long for the file system
        if not path.exists():
            raise ConfigError(f"Config file not found: {path}")
        if not path.is_file():
            raise ConfigError(f"Config path must be a file. Received a directory: {path}")
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:  # refused before it is read
            raise ConfigError(
                f"Config file {path} is too large: at most {MAX_CONFIG_BYTES:,} bytes "
                f"({MAX_CONFIG_BYTES // 1024} KiB). "
                f"Received: {size:,} bytes"
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc}") from None
    raw = parse_yaml(text, str(path))
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"Config file {path} must hold a mapping of sections (data, model, train, ...). "
            f"Received a {type(raw).__name__}."
        )
    return raw


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _split_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            "An override must look like KEY=VALUE (for example train.epochs=3). "
            f"Received: {shown(text)}"
        )
    return key.strip(), parse_yaml(value, f"the value of override {shown(key.strip())}")


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    cls: Any = PipelineConfig
    node = raw
    for depth, part in enumerate(parts):
        path = ".".join(parts[: depth + 1])
        hints = field_types(cls)
        if part not in hints:  # the rest of the key is named too (`learning.rate`)
            raise ConfigError(unknown_key_message(key, ".".join(parts[depth:]), hints))
        if depth == len(parts) - 1:
            node[part] = value
            return
        cls = hints[part]
        if not dataclasses.is_dataclass(cls):
            raise ConfigError(
                f"Config key `{path}` is a value, not a section; cannot set `{clip(key)}`."
            )
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"Config key `{path}` must be a mapping. Received: {shown(child)}")
        node = child


def _check_split(split: SplitConfig) -> None:
    total = split.train + split.val + split.test
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ConfigError(
            "Config keys `data.split.train`, `data.split.val` and `data.split.test` must sum "
            f"to 1. Received: {split.train} + {split.val} + {split.test} = {total:g}"
        )


def _check_data(data: DataConfig) -> None:
    needs_path = data.source in ("csv", "image_dir", "tfrecord")
    if needs_path and not data.path:
        raise ConfigError(
            f"Config key `data.path` is required when `data.source` is {shown(data.source)} "
            f"(the {_PATH_MEANING[data.source]}). Received: data.path={shown(data.path)}"
        )
    if data.source == "tfrecord" and not data.features:
        raise ConfigError(
            "Config key `data.features` must list at least one feature when `data.source` is "
            "'tfrecord' (for example [{name: pixels, dtype: float32, shape: [64]}])."
        )
    if len(data.image_size) != 2:
        raise ConfigError(
            "Config key `data.image_size` must be [height, width]. "
            f"Received: data.image_size={shown(data.image_size)}"
        )
    if data.source == "builtin" and (data.name == "diabetes") != (data.task == "regression"):
        raise ConfigError(
            f"The built-in data set {shown(data.name)} is for "
            f"{'regression' if data.name == 'diabetes' else 'classification'}: set "
            f"`data.task: {'regression' if data.name == 'diabetes' else 'classification'}`. "
            f"Received: data.task={shown(data.task)}"
        )
    if data.task == "regression" and data.class_weight is not None:
        raise ConfigError(
            "Config key `data.class_weight` applies to classification only; set it to null "
            f"for `data.task: regression`. Received: data.class_weight={shown(data.class_weight)}"
        )


_PATH_MEANING = {
    "csv": "CSV file",
    "image_dir": "folder with one sub-folder per class",
    "tfrecord": "TFRecord file or glob pattern",
}


def _check_monitor(config: PipelineConfig) -> None:
    train = config.train
    regression = config.data.task == "regression"
    for key, monitor in (
        ("early_stopping", train.early_stopping.monitor),
        ("reduce_on_plateau", train.reduce_on_plateau.monitor),
    ):
        metric = monitor.removeprefix("val_")
        if metric != "loss" and (metric == "accuracy") == regression:
            task = config.data.task
            accepted = "loss, mae" if regression else "loss, accuracy"
            raise ConfigError(
                f"Config key `train.{key}.monitor` cannot be {shown(monitor)} for `data.task: "
                f"{task}`: the metrics logged are {accepted} (and their val_ forms)."
            )
    if train.reduce_on_plateau.enabled and train.schedule.kind != "constant":
        raise ConfigError(
            "`train.reduce_on_plateau` needs `train.schedule.kind: constant`: a schedule "
            f"already sets the rate every step. Received: kind={shown(train.schedule.kind)}"
        )
    schedule = train.schedule
    if schedule.kind == "step" and (schedule.boundaries is None) != (schedule.values is None):
        raise ConfigError(
            "Config keys `train.schedule.boundaries` and `train.schedule.values` go together."
        )
    if schedule.boundaries is not None and len(schedule.values) != len(schedule.boundaries) + 1:
        raise ConfigError(
            "Config key `train.schedule.values` must hold one more rate than `boundaries` "
            f"has epochs. Received: boundaries={shown(schedule.boundaries)}, "
            f"values={shown(schedule.values)}"
        )
    if schedule.boundaries is not None and schedule.boundaries != sorted(set(schedule.boundaries)):
        raise ConfigError(
            "Config key `train.schedule.boundaries` must be increasing epochs. "
            f"Received: {shown(schedule.boundaries)}"
        )
    stopping = train.early_stopping
    if stopping.enabled and stopping.monitor.startswith("val_") and config.data.split.val == 0:
        raise ConfigError(
            f"Config key `train.early_stopping.monitor` cannot be {shown(stopping.monitor)} when "
            "`data.split.val` is 0: there is no validation split. Use `loss` or `accuracy`, "
            "or give the validation split a fraction."
        )


def _check_compress(compress: CompressConfig) -> None:
    enabled = [name for name in COMPRESS_TECHNIQUES if getattr(compress, name).enabled]
    missing = [name for name in enabled if name not in compress.order]
    if missing or len(set(compress.order)) != len(compress.order):
        raise ConfigError(
            "Config key `compress.order` must name each enabled technique once. "
            f"Received: order={shown(compress.order)}, enabled: {', '.join(enabled) or 'none'}"
        )
    if enabled and compress.techniques() not in ACCEPTED_ORDERS:
        accepted = "; ".join(" -> ".join(order) for order in ACCEPTED_ORDERS)
        raise ConfigError(
            f"Compression cannot run {clip(' -> '.join(compress.techniques()))}: a later technique "
            "would undo an earlier one. Accepted orders: "
            f"{accepted}."
        )
    prune = compress.prune
    if prune.initial_sparsity >= prune.sparsity:
        raise ConfigError(
            "Config key `compress.prune.initial_sparsity` must be below `sparsity` "
            f"({prune.sparsity}). Received: initial_sparsity={prune.initial_sparsity}"
        )
    end_epoch = prune.end_epoch or prune.epochs * 0.6
    if not prune.begin_epoch < end_epoch <= prune.epochs:
        raise ConfigError(
            "Config keys `compress.prune.begin_epoch` < `end_epoch` <= `epochs` must hold "
            f"(end_epoch null means 60% of epochs). Received: begin_epoch={prune.begin_epoch}, "
            f"end_epoch={prune.end_epoch}, epochs={prune.epochs}"
        )
    m_by_n = prune.sparsity_m_by_n
    if m_by_n is not None and (len(m_by_n) != 2 or m_by_n[0] >= m_by_n[1]):
        raise ConfigError(
            "Config key `compress.prune.sparsity_m_by_n` must be [m, n] with m < n, such as "
            f"[2, 4]. Received: sparsity_m_by_n={shown(m_by_n)}"
        )


def _check_export(export: ExportConfig) -> None:
    if (export.onnx_optimized or export.onnx_int8) and not export.onnx:
        raise ConfigError(
            "Config keys `export.onnx_optimized` and `export.onnx_int8` make copies of the "
            "ONNX model: they need `export.onnx: true`."
        )
    if export.android and not export.tflite:
        raise ConfigError("Config key `export.android` needs at least one `export.tflite` variant.")
    if export.android_variant is not None and export.android_variant not in export.tflite:
        raise ConfigError(
            f"Config key `export.android_variant` is {shown(export.android_variant)}, which "
            f"`export.tflite` does not export ({clip(', '.join(export.tflite)) or 'none'}); add it "
            "there or choose one of those."
        )
