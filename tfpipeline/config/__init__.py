"""Pipeline configuration: frozen dataclasses, YAML round trip, overrides and validation.

Every key is declared once, as a dataclass field whose metadata holds its rule (range or
accepted values; see `_schema.py`). `load_config` reads a YAML file (or a dict) over the
embedded defaults, applies `KEY=VALUE` overrides and refuses any unknown key, wrong type or
out-of-range value before any work starts.

One module per part: the sections (`data`, `model`, `train`, `compress`, `export` with
`verify`), the whole (`pipeline`), reading and writing (`loading`) and the rules across
keys (`validation`). Every name is imported from here, `tfpipeline.config`.
"""

from tfpipeline.config.compress import (
    ACCEPTED_ORDERS,
    COMPRESS_TECHNIQUES,
    ClusterConfig,
    CompressConfig,
    PruneConfig,
    QatConfig,
)
from tfpipeline.config.data import (
    BUILTIN_DATASETS,
    DEFAULT_MAX_IMAGE_PIXELS,
    DEFAULT_NA_VALUES,
    SOURCES,
    AudioConfig,
    AugmentConfig,
    CategoricalConfig,
    CleanConfig,
    DataConfig,
    RecordFeature,
    SplitConfig,
)
from tfpipeline.config.export import (
    INT8_INPUTS,
    INT8_IO_TYPES,
    TFLITE_VARIANTS,
    ExportConfig,
    VerifyConfig,
)
from tfpipeline.config.loading import default_config_path, dump_config, from_dict, load_config
from tfpipeline.config.model import (
    ACTIVATIONS,
    INITIALIZERS,
    MODELS,
    TEXT_ARCHITECTURES,
    AudioModelConfig,
    FineTuneConfig,
    ModelConfig,
    TextConfig,
)
from tfpipeline.config.pipeline import PipelineConfig
from tfpipeline.config.train import (
    MONITORS,
    OPTIMIZERS,
    SCHEDULES,
    EarlyStoppingConfig,
    ReduceOnPlateauConfig,
    ScheduleConfig,
    TrainConfig,
)

__all__ = [
    "ACCEPTED_ORDERS",
    "ACTIVATIONS",
    "BUILTIN_DATASETS",
    "COMPRESS_TECHNIQUES",
    "DEFAULT_MAX_IMAGE_PIXELS",
    "DEFAULT_NA_VALUES",
    "INITIALIZERS",
    "INT8_INPUTS",
    "INT8_IO_TYPES",
    "MODELS",
    "MONITORS",
    "OPTIMIZERS",
    "SCHEDULES",
    "SOURCES",
    "TEXT_ARCHITECTURES",
    "TFLITE_VARIANTS",
    "AudioConfig",
    "AudioModelConfig",
    "AugmentConfig",
    "CategoricalConfig",
    "CleanConfig",
    "ClusterConfig",
    "CompressConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "ExportConfig",
    "FineTuneConfig",
    "ModelConfig",
    "PipelineConfig",
    "PruneConfig",
    "QatConfig",
    "RecordFeature",
    "ReduceOnPlateauConfig",
    "ScheduleConfig",
    "SplitConfig",
    "TextConfig",
    "TrainConfig",
    "VerifyConfig",
    "default_config_path",
    "dump_config",
    "from_dict",
    "load_config",
]
