"""Audio folders: one sub-folder of WAV files per class, read as fixed-length clips.

Every clip is brought to one format by `conform_clip`, in training and in `Predictor` alike
(the model card says the same to apps): mono (channels averaged), float32 in [-1, 1] (integer
PCM divided by its full scale: 16-bit by 32768), at the configured sample rate (resampled, or
refused, named), then padded with zeros at its end or trimmed to its first samples. WAV files
of 8-, 16-, 24- and 32-bit integers and 32- and 64-bit floats are read by one function,
`read_wav` (TensorFlow's `decode_wav` reads 16-bit PCM only).

Sub-folders whose names start with `_` (Speech Commands' `_background_noise_`) or `.` are
not classes; the WAV files of `_background_noise_` are the noise that training-only
augmentation mixes in (see `data.augment`).
"""

from __future__ import annotations

import hashlib
import io
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.data.base import (
    FileSamples,
    LoadedData,
    file_list_dataset,
    list_class_files,
    warn_other_files,
)
from tfpipeline.errors import DataError

BACKGROUND_NOISE_DIR = "_background_noise_"
WAV_SUFFIX = ".wav"
SAMPLE_FORMAT = "float32 in [-1, 1]: 16-bit PCM divided by 32768, mono"
CHANNEL_MIXING = "channels averaged to mono"
PADDING_RULE = (
    "a shorter clip is padded with zeros at its end; a longer clip keeps its first samples"
)
# Why an audio model (log-mel front end inside it) has no ONNX file.
ONNX_AUDIO_UNSUPPORTED = (
    "tf2onnx cannot convert the log-mel front end's STFT with a dynamic batch dimension: its "
    'RFFT output loses its shape and the ComplexAbs op fails to convert ("No Op registered '
    'for ComplexAbs"; it converts only with a fixed batch size); the model ships as .tflite '
    "and SavedModel"
)
RESAMPLING = "polyphase filtering (scipy.signal.resample_poly) to the sample rate"
# Sample rates accepted from a WAV header or a caller (a rate of 0 or 2**31 is a corrupt file).
SAMPLE_RATES = (1_000, 768_000)
# At most this many seconds are read from a WAV file (a clip keeps its first samples): a
# ten-minute recording is not resampled whole every epoch to keep a second of it.
MAX_SECONDS_READ = 60
MAX_WAV_BYTES = 200_000_000  # a WAV file larger than this is not read (named)
# Integer PCM is divided by its full scale; unsigned 8-bit is centred on 128 first.
_FULL_SCALE = {np.dtype(np.uint8): 128.0, np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2.0**31}


@dataclass(frozen=True)
class AudioFormat:
    """The clip format of a model's input.

    Attributes:
        sample_rate: samples per second.
        clip_seconds: the clip length, in seconds.
        resample: whether files at another rate are resampled (else refused).
    """

    sample_rate: int
    clip_seconds: float
    resample: bool = True

    @property
    def samples(self) -> int:
        """Samples per clip."""
        return max(1, int(round(self.clip_seconds * self.sample_rate)))


def read_wav(source: str | Path | bytes) -> tuple[np.ndarray, int]:
    """Reads a WAV file (a path or its bytes) as mono float32 samples and its sample rate.

    At most `MAX_SECONDS_READ` seconds are kept (a clip keeps its first samples).

    Raises:
        DataError: for a file that is not a readable WAV file of 8/16/24/32-bit integer or
            32/64-bit float samples, holds no samples, NaN or infinite ones, declares a
            sample rate outside `SAMPLE_RATES`, or is larger than `MAX_WAV_BYTES`.
    """
    from scipy.io import wavfile

    where = "WAV bytes" if isinstance(source, bytes) else str(source)
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    if size > MAX_WAV_BYTES:
        raise DataError(
            f"{where} holds {size:,} bytes, more than the {MAX_WAV_BYTES:,} a clip is read "
            "from; cut the recording into clips first."
        )
    try:
        opened = io.BytesIO(source) if isinstance(source, bytes) else str(source)
        rate, samples = wavfile.read(opened)
    except Exception as exc:  # scipy raises ValueError, EOFError, struct errors, ...
        raise DataError(
            f"Cannot read {where} as a WAV file ({exc}); accepted are WAV files of 8-, 16-, "
            "24- or 32-bit integer or 32- or 64-bit float samples."
        ) from None
    if samples.size == 0:
        raise DataError(f"{where} holds no audio samples.")
    check_rate(rate, where)
    if samples.dtype.kind == "f" and not np.all(np.isfinite(samples)):
        raise DataError(f"{where} holds NaN or infinite samples; it is not usable audio.")
    # Only the start of a long recording is kept: read no more than a clip can use.
    return to_float(samples[: MAX_SECONDS_READ * int(rate)]), int(rate)


def check_rate(rate: Any, where: str) -> None:
    """Refuses a sample rate outside `SAMPLE_RATES` Hz (a corrupt header, or a rate no
    microphone records at).

    Raises:
        DataError: naming `where`, the rate and the accepted range.
    """
    low, high = SAMPLE_RATES
    if not isinstance(rate, (int, np.integer)) or not low <= rate <= high:
        raise DataError(
            f"{where} declares a sample rate of {rate!r} Hz; accepted are whole rates from "
            f"{low:,} to {high:,} Hz."
        )


def to_float(samples: np.ndarray) -> np.ndarray:
    """PCM samples `(samples,)` or `(samples, channels)` as mono float32 in [-1, 1].

    Integers are divided by their full scale (16-bit by 32768; unsigned 8-bit centred on
    128 first; scipy reads 24-bit samples into the top bytes of int32); floats are kept.
    """
    samples = np.asarray(samples)
    if samples.dtype in _FULL_SCALE:
        centre = 128.0 if samples.dtype == np.uint8 else 0.0
        samples = (samples.astype(np.float64) - centre) / _FULL_SCALE[samples.dtype]
    samples = samples.astype(np.float64)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


def conform_clip(
    samples: np.ndarray, rate: int, audio: AudioFormat, where: str = "a clip"
) -> np.ndarray:
    """Brings mono float samples at `rate` to the model's clip: resampled to the sample rate
    (see `RESAMPLING`), then padded or trimmed (see `PADDING_RULE`).

    Raises:
        DataError: for a clip at another rate when `audio.resample` is off.
    """
    check_rate(rate, where)
    # The clip keeps its first samples: resample those (and a filter's margin) only.
    samples = samples[: int(math.ceil(audio.clip_seconds * rate)) + max(64, rate // 50)]
    if rate != audio.sample_rate:
        if not audio.resample:
            raise DataError(
                f"{where} is sampled at {rate} Hz, not at data.audio.sample_rate "
                f"({audio.sample_rate} Hz), and data.audio.resample is false. Resample the "
                "file, or set data.audio.resample: true."
            )
        samples = resample(samples, rate, audio.sample_rate)
    return fit_length(samples, audio.samples)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resamples mono float32 samples from `rate` to `target` Hz (polyphase filtering)."""
    from scipy.signal import resample_poly

    common = math.gcd(int(rate), int(target))
    out = resample_poly(samples.astype(np.float64), target // common, rate // common)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def fit_length(samples: np.ndarray, length: int) -> np.ndarray:
    """Pads with zeros at the end, or keeps the first `length` samples."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if len(samples) >= length:
        return samples[:length].copy()
    return np.pad(samples, (0, length - len(samples)))


def load_clip(source: str | Path | bytes, audio: AudioFormat) -> np.ndarray:
    """Reads a WAV file as the model's clip (`read_wav`, then `conform_clip`)."""
    samples, rate = read_wav(source)
    where = "WAV bytes" if isinstance(source, bytes) else str(source)
    return conform_clip(samples, rate, audio, where)


@dataclass(frozen=True)
class AudioFiles(FileSamples):
    """WAV files, read and conformed on demand in parallel inside tf.data.

    Attributes:
        paths: one file path per sample.
        hashes: a hash of each file's bytes (for duplicate detection).
        audio: the clip format.
        noise_paths: the WAV files of the data folder's `_background_noise_` sub-folder.
    """

    paths: np.ndarray
    hashes: np.ndarray
    audio: AudioFormat
    noise_paths: tuple[str, ...] = ()
    is_image = False
    value_range = None

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.audio.samples,)

    def as_dataset(self, indices: np.ndarray, shuffle_seed=None):
        """Returns a tf.data pipeline of `(index, clip)` for `indices`.

        With `shuffle_seed`, the file list is reshuffled every epoch before reading.
        """
        from tfpipeline._keras import tf

        dataset = file_list_dataset(self.paths, indices, shuffle_seed)
        audio = self.audio

        def read(path: bytes) -> np.ndarray:
            return load_clip(path.decode(), audio)

        def clip(i, path):
            samples = tf.numpy_function(read, [path], tf.float32, stateful=False)
            samples.set_shape([audio.samples])
            return i, samples

        return dataset.map(clip, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def noise(self) -> np.ndarray | None:
        """The background noise files at the sample rate (not cut to a clip), joined end to
        end; `None` without any.

        Raises:
            DataError: for a noise file that is not a readable WAV file, or at another rate
                when resampling is off (named).
        """
        parts = []
        for path in self.noise_paths:
            samples, rate = read_wav(path)
            if rate != self.audio.sample_rate:
                conform_clip(samples[:1], rate, self.audio, path)  # refused without resampling
                samples = resample(samples, rate, self.audio.sample_rate)
            parts.append(samples)
        return np.concatenate(parts) if parts else None


def audio_format(data) -> AudioFormat | None:
    """The clip format of prepared data (a `PreparedData`) read from WAV files, or `None`."""
    return getattr(data.splits.train.samples, "audio", None)


def load_audio_dir(path: str, audio: AudioFormat) -> LoadedData:
    """Lists an audio folder (`root/<class>/<file>.wav`) and reads every file once.

    `.wav` files that cannot be read (corrupt, empty, another format) are skipped and named
    in the `unreadable_files` note; files with another suffix are skipped with a warning
    counting them. Sub-folders starting with `_` or `.` are not classes;
    `_background_noise_` holds the noise that augmentation mixes in.

    Raises:
        DataError: for a missing folder, fewer than two class folders with files, or a file
            at another sample rate when `audio.resample` is off (named).
    """
    root = Path(path)
    if not root.is_dir():
        kind = "is a file, not a folder" if root.exists() else "not found"
        raise DataError(f"Audio folder {kind}: {root}")
    files, labels, others = _list_class_files(root)
    warn_other_files("Audio", root, others, WAV_SUFFIX)
    readable, hashes = _scan(files, audio)
    unreadable = [f for f, ok in zip(files, readable, strict=True) if not ok]
    keep = np.flatnonzero(readable)
    noise_dir = root / BACKGROUND_NOISE_DIR
    noise = tuple(
        str(f)
        for f in sorted(noise_dir.glob("*"))
        if f.is_file() and f.suffix.lower() == WAV_SUFFIX
    )
    samples = AudioFiles(np.array(files)[keep], hashes[keep], audio, noise)
    return LoadedData(
        root.name,
        samples,
        np.array(labels, dtype=object)[keep],
        notes={"unreadable_files": unreadable},
    )


def _list_class_files(root: Path) -> tuple[list[str], list[str], list[Path]]:
    """The `.wav` files under `root/<class>/`, their class, and the other files; `_` folders
    are not classes."""
    files, labels, others = list_class_files(
        root,
        "Audio",
        "clip",
        lambda file: file.suffix.lower() == WAV_SUFFIX,
        "WAV files (root/<class>/<clip>.wav; sub-folders whose names start with `_`, such "
        "as _background_noise_, are not classes)",
        not_classes=(".", "_"),
    )
    return [str(file) for file in files], labels, others


def _scan(files: list[str], audio: AudioFormat) -> tuple[np.ndarray, np.ndarray]:
    """Reads every file once, in parallel; returns (readable mask, content hashes).

    Raises:
        DataError: for a file at another sample rate when resampling is off.
    """

    def check(path: str) -> int | None:
        if Path(path).stat().st_size > MAX_WAV_BYTES:
            return None
        contents = Path(path).read_bytes()
        try:
            samples, rate = read_wav(contents)
        except DataError:
            return None
        conform_clip(samples[:1], rate, audio, path)  # refuses another rate, named
        digest = hashlib.blake2b(contents, digest_size=8).digest()
        return int.from_bytes(digest, "little", signed=True)

    with ThreadPoolExecutor(max_workers=8) as pool:
        digests = list(pool.map(check, files))
    readable = np.array([d is not None for d in digests], dtype=bool)
    hashes = np.array([d or 0 for d in digests], dtype=np.int64)
    return readable, hashes
