"""Data sources. The embedded default is scikit-learn's bundled `digits` (no download)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfpipeline.config import DataConfig
from tfpipeline.errors import ConfigError


@dataclass(frozen=True)
class LoadedData:
    """Features and integer labels as loaded, before cleaning.

    Attributes:
        name: the data set's name.
        x: features, float32, shape `(samples, features)`.
        y: class indices, int64, shape `(samples,)`, each in `range(len(class_names))`.
        class_names: the label of each class index, in index order.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]


def load_data(config: DataConfig) -> LoadedData:
    """Loads the data set named by the data config.

    Args:
        config: the data section of the config.

    Returns:
        The loaded features, labels and class names.

    Raises:
        ConfigError: for a source or name that is not available.
    """
    if config.source == "builtin" and config.name == "digits":
        return _load_digits()
    raise ConfigError(
        f"Data source {config.source!r} with name {config.name!r} is not available. "
        "Accepted: source=builtin, name=digits."
    )


def _load_digits() -> LoadedData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    names = tuple(str(n) for n in bunch.target_names)
    return LoadedData("digits", bunch.data.astype(np.float32), bunch.target.astype(np.int64), names)
