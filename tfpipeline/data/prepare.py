"""The data stage as one call: load -> encode labels -> clean -> split -> feed."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tfpipeline.config import DataConfig, TextConfig
from tfpipeline.data.arrays import ArraySamples
from tfpipeline.data.audio import AudioFiles
from tfpipeline.data.augment import make_augmenter
from tfpipeline.data.base import FeatureSamples, LoadedData
from tfpipeline.data.clean import clean
from tfpipeline.data.encoding import TableEncoding, fit_encoding
from tfpipeline.data.input_spec import describe_input
from tfpipeline.data.labels import encode_labels
from tfpipeline.data.sources import load_data
from tfpipeline.data.split import SplitData, Splits, split_indices
from tfpipeline.data.stats import FeatureStats, feature_statistics
from tfpipeline.data.tabular import TableSamples
from tfpipeline.data.text import TextSamples, TokenSamples, tokenized
from tfpipeline.data.tfdata import make_dataset
from tfpipeline.errors import ConfigError, DataError
from tfpipeline.tokenizer import Tokenizer, fit_tokenizer


@dataclass(frozen=True)
class PreparedData:
    """Clean, split data ready to feed a model, and what was learned about it.

    Attributes:
        name: the data set's name.
        task: `"classification"` or `"regression"`.
        class_names: the label of each class index (empty for regression).
        splits: the train / val / test splits.
        cleaning: what cleaning did (to the separate test set too, under `"test"`).
        feature_shape: the shape of one sample's features.
        is_image: whether samples are images.
        value_range: the largest raw pixel value of image data (255, or 16 for digits).
        normalization: `"standardize"`, `"scale"` or `"none"` (resolved from `auto`).
        stats: per-feature (or per-channel) statistics of the training split.
        class_weight: per-class loss weights (`balanced`), or `None`.
        augment: the training-only augmentation function, or `None`.
        cache: `"memory"`, `"none"` or a cache file path prefix.
        shuffle_buffer: shuffle buffer for file sources.
        seed: the data seed (split, shuffling and augmentation).
        encoding: how a table's columns (CSV file, DataFrame, named built-in features)
            become the input vector, learned from the training split; `None` for images
            and unnamed arrays.
        target: regression only: the training targets' `(mean, standard deviation)`; the
            model learns standardized targets and turns them back into these units.
        tokenizer: texts only: the tokenizer fitted on the training texts, which turns a
            text into the model's token ids.
    """

    name: str
    task: str
    class_names: tuple[str, ...]
    splits: Splits
    cleaning: dict[str, Any]
    feature_shape: tuple[int, ...]
    is_image: bool
    value_range: float | None
    normalization: str
    stats: FeatureStats
    class_weight: dict[int, float] | None
    augment: Callable | None
    cache: str
    shuffle_buffer: int
    seed: int
    encoding: TableEncoding | None = None
    target: tuple[float, float] | None = None
    tokenizer: Tokenizer | None = None

    @property
    def is_text(self) -> bool:
        """Whether the samples are texts (the model takes their token ids)."""
        return self.tokenizer is not None

    def texts(self, split: str) -> np.ndarray:
        """The texts of one split (`"train"`, `"val"` or `"test"`), in its sample order.

        Raises:
            ValueError: for data that is not texts.
        """
        samples = getattr(self.splits, split)
        if not isinstance(samples.samples, TokenSamples):
            raise ValueError(f"{self.name} holds no texts: its samples are not texts.")
        return samples.samples.texts[samples.indices]

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The name of each input feature, in order (empty when the source names none)."""
        return self.encoding.feature_names() if self.encoding else ()

    @property
    def num_outputs(self) -> int:
        """Width of the model's output: the number of classes, or 1 for regression."""
        return len(self.class_names) if self.task == "classification" else 1

    def summary(self, model: Any = None) -> dict[str, Any]:
        """The data section of a run's manifest: what was loaded, cleaned, split and fed
        (with `model`, its audio front end in the input record)."""
        return {
            "name": self.name,
            "task": self.task,
            "feature_shape": list(self.feature_shape),
            "features": int(np.prod(self.feature_shape)),
            "num_classes": len(self.class_names),
            "class_names": list(self.class_names),
            "split_sizes": self.splits.sizes(),
            "class_counts": self._class_counts(),
            "class_weight": self.class_weight,
            "normalization": self.normalization,
            "augmentation": self.augment is not None,
            "cleaning": self.cleaning,
            "target": None
            if self.target is None
            else {"mean": self.target[0], "std": self.target[1]},
            "input": describe_input(self, model),
        }

    def _class_counts(self) -> dict[str, dict[str, int]] | None:
        if not self.class_names:
            return None
        counts = {}
        for split in ("train", "val", "test"):
            y = getattr(self.splits, split).y
            per_class = np.bincount(y, minlength=len(self.class_names))
            counts[split] = dict(zip(self.class_names, map(int, per_class), strict=True))
        return counts

    def dataset(
        self,
        split: str,
        batch_size: int,
        training: bool = False,
        epochs: tuple[int, int | None] = (0, 1),
        shard: tuple[int, int] | None = None,
        batches_per_epoch: int | None = None,
    ):
        """Returns the batched tf.data chain of one split (`"train"`, `"val"` or `"test"`).

        `epochs` and `batches_per_epoch` are passed to `make_dataset`. `shard=(count, index)`
        reads only share `index` of `count` of the split (see `SplitData.shard`).
        """
        samples = getattr(self.splits, split)
        cache = self.cache if self.cache in ("memory", "none") else f"{self.cache}.{split}"
        if shard is not None:
            samples = samples.shard(*shard)
            cache = cache if cache in ("memory", "none") else f"{cache}.{shard[1]}of{shard[0]}"
        return make_dataset(
            samples,
            batch_size,
            training=training,
            seed=self.seed,
            augment=self.augment if training else None,
            cache=cache,
            shuffle_buffer=self.shuffle_buffer,
            epochs=epochs,
            batches_per_epoch=batches_per_epoch,
        )


def prepare_data(
    config: DataConfig, x: Any = None, y: Any = None, text: TextConfig | None = None
) -> PreparedData:
    """Loads, cleans and splits the configured data; fits statistics (and, for texts, the
    tokenizer) on the training split.

    Args:
        config: the data section of the config.
        x: features for `source: arrays`. Defaults to `None`.
        y: labels for `source: arrays`. Defaults to `None`.
        text: the tokenizer's settings (`model.text`), for text data. Defaults to `None`
            (the defaults of `TextConfig`).

    Returns:
        The prepared data.

    Raises:
        ConfigError: for settings that do not fit the data.
        DataError: for data that cannot be used (named: file, column, class or row).
    """
    loaded = load_data(config, x, y)
    labels, class_names, bad = encode_labels(loaded.labels, config.task, config.classes)
    keep, report = clean(loaded, labels, bad, config.clean)
    classification = config.task == "classification"
    if classification:
        _check_classes(labels[keep], class_names, loaded.name)
    positions = split_indices(
        labels[keep],
        config.split,
        config.seed,
        stratify=classification,
        class_names=class_names,
        with_test=loaded.test is None,
    )
    train_rows, val_rows, test_rows = (keep[p] for p in positions)
    cleaning = report.to_dict()
    for note in ("labels", "encodings"):  # how labels (one-hot rows) or texts were read
        if note in loaded.notes:
            cleaning[note] = loaded.notes[note]
    test_source, test_labels = loaded, labels
    if loaded.test is not None:
        test_labels, test_rows, cleaning["test"] = _clean_test_set(loaded.test, class_names, config)
        test_source = loaded.test
    loaded, test_source, encoding = _as_features(loaded, test_source, train_rows, config, text)
    splits = Splits(
        SplitData(loaded.samples, train_rows, labels[train_rows]),
        SplitData(loaded.samples, val_rows, labels[val_rows]),
        SplitData(test_source.samples, test_rows, test_labels[test_rows]),
    )
    if len(splits.test) == 0:
        raise DataError(f"The test split of {loaded.name} is empty after cleaning.")
    return _prepared(loaded, splits, cleaning, class_names, encoding, config)


def _clean_test_set(test: LoadedData, class_names: tuple[str, ...], config: DataConfig):
    """Encodes and cleans a separately loaded test set like the data (with the data's
    classes); returns its labels, the rows kept and the cleaning report as a dict."""
    labels, _, bad = encode_labels(test.labels, config.task, class_names)
    rows, report = clean(test, labels, bad, config.clean)
    return labels, rows, report.to_dict()


def _as_features(
    loaded: LoadedData, test: LoadedData, train_rows: np.ndarray, config, text: TextConfig | None
):
    """The data and test set with the model's input features: a table encoded, texts
    tokenized (how, learned from the training rows), or non-finite values imputed when
    configured.

    Returns:
        `(loaded, test, encoding)`; `encoding` is the `TableEncoding` of a table, the
        `Tokenizer` of texts, or `None`.
    """
    if isinstance(loaded.samples, TextSamples):
        text = text or TextConfig()
        tokenizer = fit_tokenizer(
            loaded.samples.texts[train_rows], text.vocab_size, text.sequence_length, text.lowercase
        )

        def encode(data: LoadedData) -> LoadedData:
            return dataclasses.replace(data, samples=tokenized(data.samples, tokenizer))

        encoded = encode(loaded)
        return encoded, encoded if test is loaded else encode(test), tokenizer
    if isinstance(loaded.samples, TableSamples):  # the one kind that is not yet features
        encoding = fit_encoding(
            loaded.samples,
            train_rows,
            config.categorical.max_categories,
            config.na_values,
            impute=config.clean.non_finite == "impute_median",
            empty=loaded.notes.get("empty_columns", ()),
        )
        encoded = _encode(loaded, encoding)
        return encoded, encoded if test is loaded else _encode(test, encoding), encoding
    if config.clean.non_finite == "impute_median":
        loaded, test = _impute(loaded, test, train_rows)
    return loaded, test, None


def _prepared(
    loaded: LoadedData,
    splits: Splits,
    cleaning: dict[str, Any],
    class_names: tuple[str, ...],
    encoding: TableEncoding | Tokenizer | None,
    config: DataConfig,
) -> PreparedData:
    """What is learned from the training split (statistics, class weights, targets) and
    the feeding settings, with the splits; warns about constant and left-out columns."""
    classification = config.task == "classification"
    samples = loaded.samples
    tokenizer = encoding if isinstance(encoding, Tokenizer) else None
    encoding = None if tokenizer else encoding
    stats = feature_statistics(splits.train, per_channel=samples.is_image)
    _warn_constant(cleaning["constant_features"], config)
    _warn_columns(loaded.notes, encoding)
    return PreparedData(
        name=loaded.name,
        task=config.task,
        class_names=class_names if classification else (),
        splits=splits,
        cleaning=cleaning,
        feature_shape=tuple(samples.feature_shape),
        is_image=samples.is_image,
        value_range=samples.value_range,
        # Token ids are indices, not measures: nothing to normalize.
        normalization="none"
        if tokenizer
        else _normalization(config.normalization, samples.is_image),
        stats=stats,
        class_weight=_class_weight(splits.train.y, len(class_names))
        if config.class_weight
        else None,
        augment=make_augmenter(
            config.augment,
            samples.is_image,
            samples.value_range,
            np.sqrt(stats.variance),
            audio=samples if isinstance(samples, AudioFiles) else None,
        ),
        cache=_cache(config.cache, samples, len(splits.train)),
        shuffle_buffer=config.shuffle_buffer,
        seed=config.seed,
        encoding=encoding,
        target=None if classification else _target_stats(splits.train.y),
        tokenizer=tokenizer,
    )


def _target_stats(y_train: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of the training targets (1 for constant targets)."""
    y = np.asarray(y_train, dtype=np.float64)
    std = float(np.std(y))
    return float(np.mean(y)), std if std > 0 else 1.0


def _check_classes(y: np.ndarray, class_names: tuple[str, ...], name: str) -> None:
    present = np.unique(y)
    if len(present) < 2:
        only = class_names[int(present[0])] if len(present) else "none"
        raise DataError(
            f"{name} has a single class after cleaning ({only!r}); classification needs at "
            "least two. Check `data.label_column` / the class folders, or use "
            "`data.task: regression` for numeric targets."
        )


def _normalization(kind: str, is_image: bool) -> str:
    if kind == "auto":
        return "scale" if is_image else "standardize"
    return kind


# `cache: auto` keeps decoded file data in memory up to this size (training split, float32);
# larger data sets stream from their files every epoch, so memory stays flat.
AUTO_CACHE_BYTES = 1 << 30


def _cache(kind: str, samples: FeatureSamples, train_size: int) -> str:
    if kind not in ("auto", "memory", "none"):
        return os.path.expanduser(kind)  # a cache file prefix
    if kind != "auto":
        return kind
    decoded = train_size * int(np.prod(samples.feature_shape)) * 4
    return "memory" if samples.in_memory or decoded <= AUTO_CACHE_BYTES else "none"


def _class_weight(y_train: np.ndarray, num_classes: int) -> dict[int, float]:
    counts = np.bincount(y_train, minlength=num_classes)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = len(y_train) / (present.sum() * counts[present])
    return {i: float(w) for i, w in enumerate(weights)}


def _encode(data: LoadedData, encoding: TableEncoding) -> LoadedData:
    """The table's rows as the model's float input (missing numbers imputed if configured)."""
    table = data.samples

    def column(name: str):
        if not table.has_column(name):
            raise DataError(
                f"{data.name} has no column {name!r}, which the training data has; its "
                f"columns: {', '.join(table.names)}."
            )
        return table.column(name)

    x = encoding.encode(column, len(table), missing="impute" if encoding.impute else "keep")
    samples = ArraySamples(x, feature_names=encoding.feature_names())
    return dataclasses.replace(data, samples=samples)


def _impute(loaded: LoadedData, test: LoadedData, train_rows: np.ndarray):
    """Replaces non-finite feature values with the training split's medians (in-memory
    samples are arrays here: a table was encoded before)."""
    if not loaded.samples.in_memory:
        raise ConfigError(
            "`data.clean.non_finite: impute_median` needs in-memory data (builtin, arrays, "
            "csv); use `drop` for image folders and TFRecord files."
        )
    train = loaded.samples.x[train_rows].reshape(len(train_rows), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        medians = np.nanmedian(np.where(np.isfinite(train), train, np.nan), axis=0)
    if not np.all(np.isfinite(medians)):
        names = loaded.samples.feature_names
        column = int(np.flatnonzero(~np.isfinite(medians))[0])
        raise DataError(
            f"Feature {names[column] if names else column!r} has no finite value in the "
            "training split, so there is no median to impute it with. Drop the column."
        )

    def filled(data: LoadedData) -> LoadedData:
        x = data.samples.x.reshape(data.size, -1).copy()
        missing = ~np.isfinite(x)
        x[missing] = np.broadcast_to(medians, x.shape)[missing]
        samples = dataclasses.replace(data.samples, x=x.reshape(data.samples.x.shape))
        return dataclasses.replace(data, samples=samples)

    imputed = filled(loaded)
    return imputed, imputed if test is loaded else filled(test)


def _warn_columns(notes: dict, encoding: TableEncoding | None) -> None:
    for mixed in notes.get("mixed_columns", []):
        warnings.warn(
            f"Column {mixed['column']!r} holds numbers and text ({mixed['text']!r} in row "
            f"{mixed['row']}): it is encoded as categories. If that text means a missing "
            "value, add it to `data.na_values`.",
            UserWarning,
            stacklevel=4,  # the caller of `prepare_data`
        )
    if encoding is not None and encoding.dropped:
        left_out = "; ".join(f"{name} ({reason})" for name, reason in encoding.dropped)
        warnings.warn(
            f"Column(s) left out of the model's input: {left_out}. (Choose the columns "
            "with `data.feature_columns`.)",
            UserWarning,
            stacklevel=4,  # the caller of `prepare_data`
        )


def _warn_constant(constant: list[str], config: DataConfig) -> None:
    if constant and config.clean.constant_features == "warn":
        names = ", ".join(constant[:10])
        more = "" if len(constant) <= 10 else ", ..."
        warnings.warn(
            f"{len(constant)} feature column(s) hold a single value and carry "
            f"no information: {names}{more}. (Silence with `data.clean.constant_features: "
            "ignore`.)",
            UserWarning,
            stacklevel=4,  # the caller of `prepare_data`
        )
