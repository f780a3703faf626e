"""What every kind of data shares: the samples interface and the loaded data record.

The kinds of samples (`ArraySamples` in `arrays.py`, `TableSamples` in `tabular.py`,
`ImageFiles` in `images.py`, `RecordFiles` in `records.py`, `TextSamples` and
`TokenSamples` in `text.py`, `AudioFiles` in `audio.py`) implement one of two declared
interfaces, so that the stages after loading never ask which kind they hold:

- `Samples`: any loaded samples, as cleaning reads them (which rows are finite, which repeat
  an earlier one, which features are constant).
- `FeatureSamples`: samples whose features are the model's input (every kind but a table
  or texts before their encoding), as splitting, statistics and tf.data read them: the
  feature shape, and `as_dataset`, with which each kind builds its own unbatched tf.data
  source. `FileSamples` are those read from files on demand.

A new kind of data is one module beside these (its `FeatureSamples` and a loader returning
`LoadedData`) registered in one place, `sources.SOURCE_LOADERS`; folders of one sub-folder
per class are listed by `list_class_files`. This module imports nothing of the package at
load time but its errors, so that every kind can import it.
"""

from __future__ import annotations

import abc
import glob
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfpipeline.errors import DataError


class Samples(abc.ABC):
    """The features of a data set's samples as loaded, however they are held.

    Sample `i` is row `i`: the labels of `LoadedData` are in the same order.
    """

    # What a sample that `finite_rows` leaves out is called in the cleaning report.
    missing_kind = "non-finite"

    @property
    @abc.abstractmethod
    def in_memory(self) -> bool:
        """Whether the features are held in memory (arrays, tables), not read from files
        (image folders, TFRecord files) on demand."""

    @property
    @abc.abstractmethod
    def is_image(self) -> bool:
        """Whether each sample is an image, `(height, width, channels)`."""

    @property
    @abc.abstractmethod
    def value_range(self) -> float | None:
        """The largest raw value of an image format (255, or 16 for digits); `None` for
        other data."""

    @abc.abstractmethod
    def finite_rows(self) -> np.ndarray:
        """Returns a mask of the samples whose features are all present and finite (or,
        for texts, that hold a word): the others are `missing_kind`."""

    @abc.abstractmethod
    def row_keys(self) -> np.ndarray:
        """Returns one int64 id per sample, equal for samples with identical features."""

    def constant_features(self, rows: np.ndarray) -> list[str]:
        """Names the features holding a single value over `rows`.

        Defaults to none: only in-memory data is checked.
        """
        return []

    def row_names(self, rows: np.ndarray) -> list:
        """How a report names the samples `rows`: their 0-based row numbers, or their file
        paths where each sample is a file."""
        return np.asarray(rows).tolist()


class FeatureSamples(Samples):
    """Samples whose features are the model's input: float32 arrays of `feature_shape`."""

    @property
    @abc.abstractmethod
    def feature_shape(self) -> tuple[int, ...]:
        """The shape of one sample's features (the element spec of `as_dataset`, float32)."""

    @property
    @abc.abstractmethod
    def index_shuffle(self) -> bool:
        """Whether shuffling is cheap before decoding (a list of image files): `as_dataset`
        then reshuffles with its `shuffle_seed`, and no shuffle buffer is needed."""

    @abc.abstractmethod
    def as_dataset(self, indices: np.ndarray, shuffle_seed: Any = None) -> Any:
        """Returns an unbatched tf.data pipeline of `(index, features)` for `indices`.

        Args:
            indices: the sample indices, sorted.
            shuffle_seed: with `index_shuffle`, reshuffle the samples with this seed (a
                scalar tensor: one per epoch). Defaults to `None` (the order of `indices`).
        """

    def batches(self, indices: np.ndarray, size: int) -> Iterator[np.ndarray]:
        """Yields the features of `indices` (sorted), in that order, `size` at a time."""
        for _, features in self.as_dataset(indices).batch(size).as_numpy_iterator():
            yield features

    def gather(self, indices: np.ndarray) -> np.ndarray:
        """Returns the features of `indices` (sorted), in that order, as one array."""
        parts = list(self.batches(indices, 1024))
        return np.concatenate(parts) if parts else np.zeros((0, *self.feature_shape), np.float32)


class FileSamples(FeatureSamples):
    """Samples that are files (`paths`, with a hash of each file's bytes in `hashes`), read
    and decoded inside tf.data on demand; a file that could not be read was left out when
    the folder was loaded."""

    paths: np.ndarray
    hashes: np.ndarray
    in_memory = False
    index_shuffle = True  # shuffling the file list before reading is cheap

    def row_keys(self) -> np.ndarray:
        return self.hashes

    def finite_rows(self) -> np.ndarray:
        return np.ones(len(self.paths), dtype=bool)

    def row_names(self, rows: np.ndarray) -> list:
        return [str(self.paths[i]) for i in rows]


@dataclass(frozen=True)
class LoadedData:
    """Samples and their raw labels, as loaded, before cleaning.

    Attributes:
        name: the data set's name.
        samples: the features (see `Samples`).
        labels: the raw label of each sample (ints, floats or strings; `None` or NaN when
            missing).
        notes: problems found while loading (for example unreadable image files), for the
            cleaning report: `{"unreadable_files": [...]}`.
        test: a separately loaded test set (`data.test_path`), or `None`.
    """

    name: str
    samples: Samples
    labels: np.ndarray
    notes: dict = field(default_factory=dict)
    test: LoadedData | None = None

    @property
    def size(self) -> int:
        return len(self.labels)


def expand_glob(pattern: str, what: str) -> list[str]:
    """Returns the sorted files matching `pattern` (a path or a glob).

    Raises:
        DataError: if nothing matches.
    """
    files = sorted(glob.glob(pattern)) if any(ch in pattern for ch in "*?[") else [pattern]
    files = [f for f in files if Path(f).is_file()]
    if not files:
        raise DataError(f"No {what} found at {pattern!r}.")
    return files


def file_list_dataset(paths: np.ndarray, indices: np.ndarray, shuffle_seed: Any = None):
    """A tf.data pipeline of `(index, path)` for the sample files `indices` (sorted), the
    list reshuffled with `shuffle_seed` (every epoch: it is cheap before reading)."""
    from tfpipeline._keras import tf

    indices = np.asarray(indices, dtype=np.int64)
    dataset = tf.data.Dataset.from_tensor_slices((indices, paths[indices]))
    if shuffle_seed is not None:
        dataset = seeded_shuffle(dataset, len(indices), shuffle_seed)
    return dataset


_GLOBAL_SEED_FOR_ZERO = 1_000_003  # any value but 0: the order stays a function of the seeds


def seeded_shuffle(dataset: Any, buffer: int, seed: Any) -> Any:
    """`dataset.shuffle(buffer, seed=seed)` for a seed tensor (one per epoch) inside a traced
    epoch function, whatever the global seed.

    TensorFlow's `get_seed` compares `(global seed, op seed)` with `(0, 0)`: with a global
    seed of 0 (`train.seed: 0`) that asks for a symbolic tensor's truth value and fails, so
    the traced graph's global seed is lifted off 0 for this one call."""
    from tfpipeline._keras import tf

    graph = tf.compat.v1.get_default_graph()
    if tf.executing_eagerly() or graph.seed != 0:
        return dataset.shuffle(buffer, seed=seed)
    graph.seed = _GLOBAL_SEED_FOR_ZERO
    try:
        return dataset.shuffle(buffer, seed=seed)
    finally:
        graph.seed = 0


def list_class_files(
    root: Path,
    kind: str,
    sample: str,
    wanted: Callable[[Path], bool],
    holding: str,
    not_classes: tuple[str, ...] = (".",),
) -> tuple[list[Path], list[str], list[Path]]:
    """Lists a class folder tree (`root/<class>/...`, sub-folders included): the files
    `wanted`, the class of each, and the other files.

    Args:
        root: the data folder.
        kind: its kind, for messages (`"Image"`, `"Text"`, `"Audio"`).
        sample: what one sample is, for messages (`"image"`).
        wanted: whether a file is a sample.
        holding: what a class folder must hold, for messages (`"images (root/<class>/...)"`).
        not_classes: prefixes of the sub-folders that are not classes (hidden ones).

    Raises:
        DataError: for a folder leading back to `root` (see `refuse_loop`), or fewer than
            two class folders holding samples.
    """
    files, labels, others = [], [], []
    _warn_loose_samples(root, kind, sample, wanted)
    for folder in sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(not_classes)
    ):
        refuse_loop(folder, root, kind, sample)
        for file in sorted(folder.rglob("*")):
            if file.is_dir():
                refuse_loop(file, root, kind, sample)
            elif file.is_file() and wanted(file):
                files.append(file)
                labels.append(folder.name)
            elif file.is_file():
                others.append(file)
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise DataError(
            f"{kind} folder {root} needs at least two class sub-folders holding {holding}; "
            f"found {len(classes)}: {', '.join(classes) or 'none'}."
        )
    return files, labels, others


def _warn_loose_samples(root: Path, kind: str, sample: str, wanted: Callable) -> None:
    """Warns of samples directly in the data folder: they have no class folder, so no label."""
    loose = sorted(f for f in root.iterdir() if f.is_file() and wanted(f))
    if loose:
        warnings.warn(
            f"{kind} folder {root}: left out {len(loose)} {sample} file(s) that lie directly "
            f"in it, outside any class folder (no label), for example {loose[0].name}. Move "
            f"them into root/<class>/.",
            UserWarning,
            stacklevel=5,
        )


def warn_other_files(kind: str, root: Path, others: list[Path], accepted: str) -> None:
    """Warns of the files in class folders that are skipped for their suffix, counted by
    suffix, one named."""
    if not others:
        return
    by_suffix = Counter(p.suffix.lower() or "(none)" for p in others)
    kinds = ", ".join(f"{n} {s}" for s, n in sorted(by_suffix.items()))
    warnings.warn(
        f"{kind} folder {root}: skipped {len(others)} file(s) that are not {accepted} "
        f"({kinds}), for example {others[0]}.",
        UserWarning,
        stacklevel=4,
    )


def refuse_loop(folder: Path, root: Path, kind: str, sample: str) -> None:
    """Refuses a folder (a symbolic link) of a class folder tree that leads back to the data
    folder or above it: it would read every sample again, as one more class.

    Args:
        folder: the folder met while listing `root`.
        root: the data folder.
        kind: the data folder's kind, for the message (`"Image"`, `"Text"`).
        sample: what a sample is, for the message (`"image"`, `"text"`).
    """
    target = folder.resolve()
    if root.resolve().is_relative_to(target):
        raise DataError(
            f"{kind} folder {root}: {folder} leads back to {target}, the data folder or a "
            f"folder above it (a symbolic link?), so it would hold every {sample} again. "
            f"Remove that link, or point it at a folder of that class's {sample}s only."
        )
