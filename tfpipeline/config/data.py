"""The `data` section: where the data comes from, how it is cleaned, split and fed."""

from __future__ import annotations

from dataclasses import dataclass, field

from tfpipeline._schema import setting

SOURCES = ("builtin", "arrays", "csv", "image_dir", "tfrecord", "text_dir", "audio_dir")
# The sources whose samples are texts (a CSV file is one when `data.text_column` is set).
TEXT_SOURCES = ("text_dir",)
BUILTIN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")
# Images with more pixels are refused before they are decoded (a 316 KB PNG can declare
# 20000 x 20000 pixels and take gigabytes to decode).
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000
# The cells a table reads as missing (what R, pandas and most published CSV files write).
DEFAULT_NA_VALUES = ("", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "?", "#N/A")


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
        time_shift: audio: largest random shift of a clip, as a fraction of its length (the
            gap filled with zeros).
        gain: audio: largest random gain change, as a fraction (0.2: x0.8 to x1.2).
        background_noise: audio: largest level of added noise, as a fraction of full scale:
            random crops of the WAV files in the data folder's `_background_noise_`
            sub-folder (each crop scaled to that peak), or Gaussian noise (that level as 3
            standard deviations) without one.
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
    time_shift: float = setting(0.0, low=0.0, high=1.0, high_open=True)
    gain: float = setting(0.0, low=0.0, high=1.0, high_open=True)
    background_noise: float = setting(0.0, low=0.0, high=1.0)


@dataclass(frozen=True)
class AudioConfig:
    """How the WAV files of an audio folder (`data.source: audio_dir`) become clips.

    Every clip is mono (channels averaged), float32 in [-1, 1] (16-bit PCM divided by
    32768), at `sample_rate`, padded with zeros at its end or trimmed to its first
    `clip_seconds * sample_rate` samples; the same code prepares an app's files.

    Attributes:
        sample_rate: the model's sample rate, in Hz. Defaults to `16000`.
        clip_seconds: the clip length, in seconds. Defaults to `1.0`.
        resample: resample a file recorded at another rate (polyphase filtering); off, such
            a file is refused, named. Defaults to `True`.
    """

    sample_rate: int = setting(16000, low=1000, high=192_000)
    clip_seconds: float = setting(1.0, low=0.0, high=60.0, low_open=True)
    resample: bool = True


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
            `csv`, `image_dir`, `tfrecord`, `text_dir` (one sub-folder of `.txt` files
            per class) or `audio_dir` (one sub-folder of WAV files per class). Defaults to
            `"builtin"`.
        name: the built-in data set: `digits`, `iris`, `wine`, `breast_cancer`
            (classification) or `diabetes` (regression: disease progression from ten raw
            measurements). Defaults to `"digits"`.
        as_images: give `digits` as 8x8x1 images instead of 64 features. Defaults to `False`.
        path: the CSV file, image or text folder, or TFRecord glob (relative to the current folder;
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
        text_column: the CSV column holding a text to classify (then the only input: the
            other columns but the label are ignored; needs `model.kind: text`).
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
        audio: how `audio_dir` WAV files become clips.
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
    text_column: str | None = None
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
    audio: AudioConfig = field(default_factory=AudioConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    seed: int = setting(42, low=0)

    @property
    def is_text(self) -> bool:
        """Whether the samples are texts (a text folder, or a CSV file's text column)."""
        return self.source in TEXT_SOURCES or (self.source == "csv" and bool(self.text_column))
