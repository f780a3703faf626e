"""Data sources: the registry of the kinds of data, keyed by `data.source`, and `load_data`.

Every source gives `LoadedData`: the raw label of every sample, and `samples` (see
`base.Samples`), which streams the features of any chosen samples as a tf.data pipeline.
In-memory sources (built-in data sets, arrays, CSV files) hold their features in NumPy
arrays; file sources (image folders, TFRecord files) read and decode them inside tf.data, in
parallel, on demand.

Each kind lives in its own module (`arrays`, `audio`, `builtin`, `csv_files`, `images`,
`records`, `text`); `SOURCE_LOADERS` below is the one place that maps a `data.source` to it,
and `get_loader` the one dispatcher.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from tfpipeline.config import DataConfig
from tfpipeline.data.arrays import ArraySamples, from_arrays
from tfpipeline.data.audio import AudioFormat, load_audio_dir
from tfpipeline.data.base import LoadedData, expand_glob
from tfpipeline.data.builtin import load_builtin
from tfpipeline.data.csv_files import load_csv
from tfpipeline.data.images import load_image_dir
from tfpipeline.data.records import load_tfrecords
from tfpipeline.data.text import load_text_csv, load_text_dir
from tfpipeline.errors import ConfigError

# Names that lived here before the kinds had modules of their own.
__all__ = [
    "SOURCE_LOADERS",
    "ArraySamples",
    "LoadedData",
    "Loader",
    "expand_glob",
    "from_arrays",
    "get_loader",
    "load_builtin",
    "load_csv",
    "load_data",
]

# `loader(config, x, y) -> LoadedData`: `x` and `y` are the arrays given to `load_data`
# (`None` for every source but `arrays`).
Loader = Callable[[DataConfig, Any, Any], LoadedData]


def load_data(config: DataConfig, x: Any = None, y: Any = None) -> LoadedData:
    """Loads the data the data config names.

    Args:
        config: the data section of the config.
        x: features for `source: arrays`: an array-like of shape `(samples, ...)` or a pandas
            DataFrame. Defaults to `None`.
        y: labels for `source: arrays`, one per sample. Defaults to `None`.

    Returns:
        The loaded samples and raw labels (and the separate test set, if configured).

    Raises:
        ConfigError: for arrays given with another source, or a source without its data.
        DataError: for a missing or unreadable file or folder, or data of the wrong shape.
    """
    if (x is not None or y is not None) and config.source != "arrays":
        raise ConfigError(
            f"Arrays were given but `data.source` is {config.source!r}; set `data.source: "
            "arrays` to train on them."
        )
    return get_loader(config.source)(config, x, y)


def get_loader(source: str) -> Loader:
    """Returns the loader of a `data.source`.

    Raises:
        ConfigError: for a source that is not registered in `SOURCE_LOADERS`.
    """
    try:
        return SOURCE_LOADERS[source]
    except KeyError:
        raise ConfigError(
            f"Unknown data source {source!r}. Accepted: {', '.join(SOURCE_LOADERS)}."
        ) from None


def _arrays(config: DataConfig, x: Any, y: Any) -> LoadedData:
    if x is None or y is None:
        raise ConfigError(
            "`data.source: arrays` needs the arrays: pass `x` and `y` to `load_data` "
            "(or `Pipeline.run(x=..., y=...)`)."
        )
    return from_arrays(x, y, "arrays", config.na_values, config.categorical.columns or ())


def _builtin(config: DataConfig, x: Any, y: Any) -> LoadedData:
    return load_builtin(config.name, config.as_images)


def _from_files(load: Callable[[DataConfig, str], LoadedData]) -> Loader:
    """The loader of a file source: `load(config, path)` reads `data.path`, and
    `data.test_path` the same way (as the separate test set) when it is set."""

    def loader(config: DataConfig, x: Any, y: Any) -> LoadedData:
        loaded = load(config, _expand(config.path))
        if config.test_path:
            return dataclasses.replace(loaded, test=load(config, _expand(config.test_path)))
        return loaded

    return loader


def _expand(path: str) -> str:
    return os.path.expanduser(path)  # `~/data` in a YAML file is the user's home, as in a shell


def _csv(config: DataConfig, path: str) -> LoadedData:
    if config.text_column:  # a column of texts to classify
        return load_text_csv(path, config.text_column, config.label_column, config.na_values)
    return load_csv(
        path,
        config.label_column,
        config.feature_columns,
        config.na_values,
        config.categorical.columns or (),
    )


def _image_dir(config: DataConfig, path: str) -> LoadedData:
    return load_image_dir(path, config.image_size, config.channels, config.max_image_pixels)


def _tfrecord(config: DataConfig, path: str) -> LoadedData:
    return load_tfrecords(path, config)


def _text_dir(config: DataConfig, path: str) -> LoadedData:
    return load_text_dir(path)


def _audio_dir(config: DataConfig, path: str) -> LoadedData:
    audio = config.audio
    return load_audio_dir(path, AudioFormat(audio.sample_rate, audio.clip_seconds, audio.resample))


# The registry: one entry per `data.source` (a new kind also adds its name to
# `config.SOURCES`, which validates the config; a test checks that both agree).
SOURCE_LOADERS: dict[str, Loader] = {
    "builtin": _builtin,
    "arrays": _arrays,
    "csv": _from_files(_csv),
    "image_dir": _from_files(_image_dir),
    "tfrecord": _from_files(_tfrecord),
    "text_dir": _from_files(_text_dir),
    "audio_dir": _from_files(_audio_dir),
}
