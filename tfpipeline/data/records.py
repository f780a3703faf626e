"""TFRecord files of `tf.train.Example`s, parsed with a feature spec from the config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfpipeline.config import DataConfig, RecordFeature
from tfpipeline.data.base import FeatureSamples, LoadedData, expand_glob
from tfpipeline.data.images import decode_image
from tfpipeline.errors import ConfigError, DataError

_KINDS = {"float32": "float_list", "int64": "int64_list", "image": "bytes_list"}


@dataclass(frozen=True)
class RecordFiles(FeatureSamples):
    """TFRecord files read in parallel (deterministic interleave) and parsed inside tf.data.

    Sample `i` is the `i`-th record of the interleaved read, the same on every pass.
    """

    files: tuple[str, ...]
    features: tuple[RecordFeature, ...]
    label_key: str
    label_kind: str
    image_size: tuple[int, int]
    channels: int
    hashes: np.ndarray
    finite: np.ndarray
    in_memory = False
    index_shuffle = False  # records stream in file order; shuffling needs a buffer

    @property
    def is_image(self) -> bool:
        return self.features[0].dtype == "image"

    @property
    def value_range(self) -> float | None:
        return 255.0 if self.is_image else None

    @property
    def feature_shape(self) -> tuple[int, ...]:
        if self.is_image:
            return (*self.image_size, self.channels)
        return (sum(int(np.prod(f.shape)) for f in self.features),)

    def _records(self):
        from tfpipeline._keras import tf

        files = tf.data.Dataset.from_tensor_slices(list(self.files))
        return files.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(len(self.files), 16),
            block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        ).enumerate()

    def _spec(self):
        from tfpipeline._keras import tf

        spec = {}
        for feature in self.features:
            if feature.dtype == "image":
                spec[feature.name] = tf.io.FixedLenFeature([], tf.string)
            else:
                spec[feature.name] = tf.io.FixedLenFeature(feature.shape, feature.dtype)
        return spec

    def _features(self, parsed):
        from tfpipeline._keras import tf

        if self.is_image:
            return decode_image(parsed[self.features[0].name], self.image_size, self.channels)
        parts = [tf.reshape(tf.cast(parsed[f.name], tf.float32), [-1]) for f in self.features]
        return tf.concat(parts, axis=0)

    def as_dataset(self, indices: np.ndarray, shuffle_seed=None):
        """Returns a tf.data pipeline of `(index, features)` for `indices`, in file order."""
        from tfpipeline._keras import tf

        mask = np.zeros(len(self.hashes), dtype=bool)
        mask[np.asarray(indices, dtype=np.int64)] = True
        wanted = tf.constant(mask)
        spec = self._spec()
        return (
            self._records()
            .filter(lambda i, record: tf.gather(wanted, i))
            .map(
                lambda i, record: (i, self._features(tf.io.parse_single_example(record, spec))),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
        )

    def row_keys(self) -> np.ndarray:
        return self.hashes

    def finite_rows(self) -> np.ndarray:
        return self.finite


def load_tfrecords(pattern: str, config: DataConfig) -> LoadedData:
    """Reads the labels of every record once, checking the records against the feature spec.

    Raises:
        ConfigError: for a spec mixing an image with other features.
        DataError: for no matching file, or records that do not match the spec (naming the
            feature and what was found).
    """
    files = tuple(expand_glob(pattern, "TFRecord files"))
    features = tuple(config.features)
    if any(f.dtype == "image" for f in features) and len(features) > 1:
        raise ConfigError(
            "`data.features` may hold one `image` feature or numeric features, not both. "
            f"Received: {[f.name for f in features]}"
        )
    for file in files:
        _check_framing(file)
    label_kind = _check_first_record(files[0], features, config.label_key)
    records = RecordFiles(
        files, features, config.label_key, label_kind, tuple(config.image_size),
        config.channels, np.zeros(0, np.int64), np.zeros(0, bool),
    )  # fmt: skip
    labels, hashes, finite = _scan(records)
    records = dataclasses.replace(records, hashes=hashes, finite=finite)
    return LoadedData(Path(files[0]).stem, records, labels)


def _check_framing(file: str) -> None:
    """Walks a TFRecord file's record frames (an 8-byte length, its 4-byte CRC, the data, a
    4-byte CRC) without reading the data, refusing a file cut short: TensorFlow stops
    silently at a record cut within its length header. Checksums are TensorFlow's to check
    while reading (a `DataLossError`, named by `_data_loss`)."""
    size = Path(file).stat().st_size
    position, number = 0, 0
    with open(file, "rb") as handle:
        while position < size:
            number += 1
            handle.seek(position)
            head = handle.read(12)
            end = position + 16 + int.from_bytes(head[:8], "little")
            if len(head) < 12 or end > size:
                raise DataError(
                    f"TFRecord file {file}: record {number} (from byte {position:,}) is cut "
                    f"short or corrupted: the file ends at byte {size:,}, within the record. "
                    "Write the file again (was its copy interrupted?)."
                )
            position = end


def _check_first_record(file: str, features: tuple[RecordFeature, ...], label_key: str) -> str:
    from tfpipeline._keras import tf

    try:
        first = next(iter(tf.data.TFRecordDataset(file).take(1)), None)
    except tf.errors.OpError as exc:
        raise DataError(f"{file} is not a readable TFRecord file: {exc.message}") from None
    if first is None:
        raise DataError(f"TFRecord file {file} holds no records.")
    try:
        example = tf.train.Example.FromString(first.numpy())
    except Exception:  # protobuf's DecodeError
        raise DataError(f"The records of {file} are not tf.train.Example protos.") from None
    found = example.features.feature
    for feature in (*features, RecordFeature(name=label_key, dtype="float32")):
        if feature.name not in found:
            raise DataError(
                f"TFRecord {file}: feature {feature.name!r} is not in the records. "
                f"Features found: {', '.join(sorted(found))}."
            )
    for feature in features:
        kind = found[feature.name].WhichOneof("kind")
        if kind != _KINDS[feature.dtype]:
            raise DataError(
                f"TFRecord {file}: feature {feature.name!r} is a {kind}, but the spec says "
                f"dtype {feature.dtype} ({_KINDS[feature.dtype]})."
            )
    return found[label_key].WhichOneof("kind")


def _scan(records: RecordFiles):
    """One pass over every record: labels, content hashes, and whether features are finite."""
    from tfpipeline._keras import tf

    label_dtype = {"float_list": tf.float32, "int64_list": tf.int64, "bytes_list": tf.string}
    spec = records._spec()
    spec[records.label_key] = tf.io.FixedLenFeature([], label_dtype[records.label_kind])

    def summarize(i, record):
        parsed = tf.io.parse_single_example(record, spec)
        finite = tf.constant(True)
        if not records.is_image:
            finite = tf.reduce_all(tf.math.is_finite(records._features(parsed)))
        return parsed[records.label_key], tf.strings.to_hash_bucket_fast(record, 2**62), finite

    labels, hashes, finite = [], [], []
    dataset = records._records().map(summarize, num_parallel_calls=tf.data.AUTOTUNE).batch(4096)
    try:
        for label, digest, ok in dataset.as_numpy_iterator():
            labels.append(label)
            hashes.append(digest)
            finite.append(ok)
    except tf.errors.InvalidArgumentError as exc:
        first_line = exc.message.splitlines()[0]
        raise DataError(
            f"TFRecord records in {', '.join(records.files)} do not match the feature spec "
            f"`data.features`: {first_line}"
        ) from None
    except tf.errors.DataLossError:
        raise DataError(_data_loss(records.files)) from None
    labels = np.concatenate(labels)
    if labels.dtype.kind in "SO":
        try:
            labels = np.array([v.decode("utf-8") for v in labels], dtype=object)
        except UnicodeDecodeError:
            raise DataError(_bad_label(records.files, records.label_key)) from None
    return labels, np.concatenate(hashes), np.concatenate(finite)


def _data_loss(files: tuple[str, ...]) -> str:
    """Names the file (and the place in it) that TensorFlow found corrupted."""
    from tfpipeline._keras import tf

    for file in files:
        try:
            for _ in tf.data.TFRecordDataset(file):
                pass
        except tf.errors.DataLossError as exc:
            detail = exc.message.splitlines()[0].split("}}")[-1].split("[Op:")[0].strip()
            return (
                f"TFRecord file {file} is corrupted ({detail}): a record's checksum does not "
                "match its bytes. Write the file again."
            )
    return f"TFRecord files {', '.join(files)} are corrupted. Write them again."


def _bad_label(files: tuple[str, ...], label_key: str) -> str:
    """Names the file and record whose text label is not UTF-8."""
    from tfpipeline._keras import tf

    for file in files:
        for number, record in enumerate(tf.data.TFRecordDataset(file).as_numpy_iterator(), 1):
            values = tf.train.Example.FromString(record).features.feature[label_key]
            for value in values.bytes_list.value:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    return (
                        f"TFRecord file {file}, record {number}: label feature {label_key!r} "
                        f"holds {value[:20]!r}, which is not UTF-8 text. Store labels as "
                        "UTF-8 strings (or as int64 class numbers)."
                    )
    return f"A label feature {label_key!r} in {', '.join(files)} is not UTF-8 text."
