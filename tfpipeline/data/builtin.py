"""Data sets bundled with scikit-learn: no download, so the default run works offline."""

from __future__ import annotations

import numpy as np

from tfpipeline.data.arrays import ArraySamples
from tfpipeline.data.base import LoadedData
from tfpipeline.data.tabular import TableSamples
from tfpipeline.errors import ConfigError


def load_builtin(name: str, as_images: bool = False) -> LoadedData:
    """Loads a data set bundled with scikit-learn (no download).

    Args:
        name: `digits`, `iris`, `wine`, `breast_cancer` (classes) or `diabetes` (a number:
            disease progression after one year, from ten raw measurements).
        as_images: give `digits` as 8x8x1 images (values 0-16). Defaults to `False`.
    """
    from sklearn import datasets

    loaders = {
        "digits": datasets.load_digits,
        "iris": datasets.load_iris,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": lambda: datasets.load_diabetes(scaled=False),  # raw units, as apps have
    }
    if name not in loaders:
        raise ConfigError(f"Unknown built-in data set {name!r}. Accepted: {', '.join(loaders)}.")
    if as_images and name != "digits":
        raise ConfigError(f"`data.as_images` applies to digits only. Received name={name!r}")
    bunch = loaders[name]()
    names = getattr(bunch, "target_names", None)
    labels = bunch.target if names is None else np.asarray(names)[bunch.target]
    x = bunch.data.astype(np.float32)
    if as_images:
        return LoadedData(name, ArraySamples(x.reshape(-1, 8, 8, 1), True, 16.0), labels)
    columns = tuple(str(n) for n in bunch.feature_names)
    return LoadedData(name, TableSamples(columns, tuple(x.T.copy())), labels)
