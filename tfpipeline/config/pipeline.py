"""The whole configuration: one section per stage."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from tfpipeline.config.compress import CompressConfig
from tfpipeline.config.data import DataConfig
from tfpipeline.config.export import ExportConfig, VerifyConfig
from tfpipeline.config.model import ModelConfig
from tfpipeline.config.train import TrainConfig


@dataclass(frozen=True)
class PipelineConfig:
    """The whole pipeline's configuration, one section per stage."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    compress: CompressConfig = field(default_factory=CompressConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)

    def to_dict(self) -> dict[str, Any]:
        """Returns the configuration as plain nested dicts and lists (YAML/JSON ready)."""
        return dataclasses.asdict(self)
