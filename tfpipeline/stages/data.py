"""Stage 1, data: load, clean, split and describe the data set."""

from __future__ import annotations

from typing import Any

from tfpipeline.config import DataConfig, TextConfig
from tfpipeline.data import PreparedData, prepare_data
from tfpipeline.stages.log import StageLog


def data_stage(
    config: DataConfig, x: Any, y: Any, log: StageLog, text: TextConfig | None = None
) -> PreparedData:
    """Prepares the data (see `prepare_data`; `text`: the tokenizer's settings) and logs
    what was loaded, cleaned and split.

    Returns:
        The prepared data; its `summary()` is the run record's data summary.
    """
    what = {"builtin": config.name, "arrays": "arrays"}.get(config.source, config.path)
    log.stage(1, "data", f"{config.source} {what}")
    data = prepare_data(config, x, y, text)
    sizes = data.splits.sizes()
    log.detail(f"{data.name}: {data.cleaning['summary']}")
    for kind, examples in data.cleaning["examples"].items():
        if kind == "non_finite_rows":  # what those rows are: non-finite, or empty texts
            kind = f"{data.cleaning.get('non_finite_kind', 'non-finite')} rows"
        log.detail(f"{kind.replace('_', ' ')}: {', '.join(map(str, examples))}")
    log.detail(
        f"{data.task}, features {data.feature_shape}, "
        + (f"{len(data.class_names)} classes, " if data.class_names else "")
        + "split "
        + " / ".join(f"{k} {v}" for k, v in sizes.items())
    )
    if data.encoding is not None:
        log.detail(f"input: {data.encoding.summary()}")
    for note in ("labels", "encodings"):
        if note in data.cleaning:
            log.detail(f"{note}: {data.cleaning[note]}")
    if data.tokenizer is not None:
        tokenizer = data.tokenizer
        log.detail(
            f"tokenizer: {tokenizer.vocab_size:,} token ids fitted on the training texts "
            f"(vocab.txt), {tokenizer.sequence_length} ids per text"
            + (", lower-cased" if tokenizer.lowercase else "")
        )
    return data
