"""Stage 1, data: load, clean, split and describe the data set."""

from __future__ import annotations

from typing import Any

from tfpipeline.config import DataConfig
from tfpipeline.data import PreparedData, prepare_data
from tfpipeline.stages.log import StageLog


def data_stage(config: DataConfig, x: Any, y: Any, log: StageLog) -> PreparedData:
    """Prepares the data (see `prepare_data`) and logs what was loaded, cleaned and split.

    Returns:
        The prepared data; its `summary()` is the run record's data summary.
    """
    what = {"builtin": config.name, "arrays": "arrays"}.get(config.source, config.path)
    log.stage(1, "data", f"{config.source} {what}")
    data = prepare_data(config, x, y)
    sizes = data.splits.sizes()
    log.detail(f"{data.name}: {data.cleaning['summary']}")
    for kind, examples in data.cleaning["examples"].items():
        log.detail(f"{kind.replace('_', ' ')}: {', '.join(map(str, examples))}")
    log.detail(
        f"{data.task}, features {data.feature_shape}, "
        + (f"{len(data.class_names)} classes, " if data.class_names else "")
        + "split "
        + " / ".join(f"{k} {v}" for k, v in sizes.items())
    )
    if data.encoding is not None:
        log.detail(f"input: {data.encoding.summary()}")
    if "labels" in data.cleaning:
        log.detail(f"labels: {data.cleaning['labels']}")
    return data
