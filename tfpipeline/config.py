"""Pipeline configuration: frozen dataclasses, YAML round trip, overrides and validation.

Every key is declared once, as a dataclass field whose metadata holds its rule (range or
accepted values). `load_config` reads a YAML file (or a dict) over the embedded defaults,
applies `KEY=VALUE` overrides and refuses any unknown key, wrong type or out-of-range value
before any work starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tfpipeline.errors import ConfigError

TFLITE_VARIANTS = ("float32", "int8")
ACTIVATIONS = ("relu", "relu6", "tanh", "sigmoid", "elu", "selu", "gelu", "swish")
INITIALIZERS = (
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_normal",
)
OPTIMIZERS = ("adam", "sgd", "momentum", "rmsprop")
SCHEDULES = ("constant", "exponential")
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")


def _rule(
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: Sequence[str] | None = None,
) -> dict[str, Any]:
    return {
        "low": low,
        "high": high,
        "low_open": low_open,
        "high_open": high_open,
        "choices": tuple(choices) if choices else None,
    }


def _field(default: Any, **rule: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=_rule(**rule))
    return field(default=default, metadata=_rule(**rule))


@dataclass(frozen=True)
class SplitConfig:
    """Fractions of the cleaned data set given to each split; they must sum to 1."""

    train: float = _field(0.8, low=0.0, high=1.0, low_open=True, high_open=True)
    val: float = _field(0.1, low=0.0, high=1.0, high_open=True)
    test: float = _field(0.1, low=0.0, high=1.0, low_open=True, high_open=True)


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split.

    Attributes:
        source: kind of source. Defaults to `"builtin"`.
        name: name of the built-in data set. Defaults to `"digits"`.
        split: train/val/test fractions.
        seed: seed of the stratified split. Defaults to `42`.
    """

    source: str = _field("builtin", choices=("builtin",))
    name: str = _field("digits", choices=("digits",))
    split: SplitConfig = field(default_factory=SplitConfig)
    seed: int = _field(42, low=0)


@dataclass(frozen=True)
class ModelConfig:
    """The seed MLP: normalization, hidden Dense layers, softmax output.

    Attributes:
        hidden_units: width of each hidden Dense layer. Defaults to `[128, 64]`.
        activation: activation of the hidden layers. Defaults to `"relu"`.
        initializer: kernel initializer. Defaults to `"glorot_uniform"` (Xavier).
    """

    hidden_units: list[int] = _field([128, 64], low=1, high=1_000_000)
    activation: str = _field("relu", choices=ACTIVATIONS)
    initializer: str = _field("glorot_uniform", choices=INITIALIZERS)


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule; `exponential` is `lr * decay_rate ** (step / decay_steps)`."""

    kind: str = _field("exponential", choices=SCHEDULES)
    decay_rate: float = _field(0.9, low=0.0, high=1.0, low_open=True)
    decay_steps: int = _field(100, low=1)
    staircase: bool = False


@dataclass(frozen=True)
class EarlyStoppingConfig:
    """Keras `EarlyStopping` arguments; `patience: 0` stops at the first epoch without progress."""

    enabled: bool = True
    monitor: str = _field("val_loss", choices=MONITORS)
    patience: int = _field(5, low=0)
    restore_best_weights: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """Optimizer, schedule and stopping rule of the training stage."""

    optimizer: str = _field("adam", choices=OPTIMIZERS)
    learning_rate: float = _field(0.001, low=0.0, high=10.0, low_open=True)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    epochs: int = _field(50, low=1, high=100_000)
    batch_size: int = _field(32, low=1, high=1_000_000)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    seed: int = _field(42, low=0)


@dataclass(frozen=True)
class PruneConfig:
    """TFMOT magnitude pruning, fine-tuned from the trained model.

    Attributes:
        enabled: prune at all. Defaults to `True`.
        sparsity: final fraction of zero weights in each Dense kernel. Defaults to `0.75`.
        epochs: fine-tuning epochs. Defaults to `8`.
        learning_rate: fine-tuning learning rate; `null` means half of
            `train.learning_rate`. Defaults to `null`.
    """

    enabled: bool = True
    sparsity: float = _field(0.75, low=0.0, high=1.0, low_open=True, high_open=True)
    epochs: int = _field(8, low=1, high=100_000)
    learning_rate: float | None = _field(None, low=0.0, high=10.0, low_open=True)


@dataclass(frozen=True)
class CompressConfig:
    """Compression techniques applied to the trained model."""

    prune: PruneConfig = field(default_factory=PruneConfig)


@dataclass(frozen=True)
class ExportConfig:
    """Which artifacts to write.

    Attributes:
        saved_model: write a TensorFlow SavedModel. Defaults to `True`.
        onnx: write an ONNX model with tf2onnx. Defaults to `True`.
        onnx_opset: ONNX opset. Defaults to `17`.
        tflite: TFLite variants to write. Defaults to `["float32", "int8"]`.
        calibration_samples: training samples used to calibrate int8. Defaults to `500`.
    """

    saved_model: bool = True
    onnx: bool = True
    onnx_opset: int = _field(17, low=13, high=21)
    tflite: list[str] = _field(["float32", "int8"], choices=TFLITE_VARIANTS)
    calibration_samples: int = _field(500, low=1)


@dataclass(frozen=True)
class VerifyConfig:
    """Thresholds every artifact must meet in its own runtime, and latency settings.

    Attributes:
        float_max_abs_diff: largest allowed difference of a float artifact's probabilities
            from the Keras model's. Defaults to `1e-4`.
        float_min_agreement: smallest allowed top-1 agreement of a float artifact.
            Defaults to `1.0`.
        int8_min_agreement: smallest allowed top-1 agreement of an int8 artifact.
            Defaults to `0.97`.
        min_accuracy: smallest allowed test accuracy of any artifact. Defaults to `0.0`.
        latency_runs: timed single-sample calls per artifact. Defaults to `200`.
        latency_warmup: untimed calls before them. Defaults to `20`.
    """

    float_max_abs_diff: float = _field(1e-4, low=0.0)
    float_min_agreement: float = _field(1.0, low=0.0, high=1.0)
    int8_min_agreement: float = _field(0.97, low=0.0, high=1.0)
    min_accuracy: float = _field(0.0, low=0.0, high=1.0)
    latency_runs: int = _field(200, low=1, high=1_000_000)
    latency_warmup: int = _field(20, low=0, high=1_000_000)


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


# PyYAML follows YAML 1.1, where `1e-4` is a string; accept the exponent forms people write.
class _Loader(yaml.SafeLoader):
    pass


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """Parses YAML text, accepting `1e-4`-style floats.

    Args:
        text: the YAML text.
        source: where the text came from, for the error message.

    Returns:
        The parsed value.

    Raises:
        ConfigError: if the text is not valid YAML.
    """
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None


def default_config_path() -> Path:
    """Returns the path of the embedded default config shipped inside the package."""
    return Path(str(resources.files("tfpipeline") / "configs" / "default.yaml"))


def load_config(
    source: str | Path | Mapping[str, Any] | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
) -> PipelineConfig:
    """Loads and validates a configuration.

    Keys missing from `source` keep their defaults (those of the embedded default config).

    Args:
        source: a YAML/JSON file path, a nested dict, or `None` for the embedded default.
            Defaults to `None`.
        overrides: `"dotted.key=value"` strings (values read as YAML) or a dict of dotted
            keys to values, applied after `source`. Defaults to no overrides.

    Returns:
        The validated `PipelineConfig`.

    Raises:
        ConfigError: for a missing or unreadable file, invalid YAML, an unknown key, a wrong
            type or an out-of-range value.
    """
    raw = _read_source(source)
    items = overrides.items() if isinstance(overrides, Mapping) else map(_split_override, overrides)
    for key, value in items:
        _set_dotted(raw, key, value)
    return from_dict(raw)


def from_dict(raw: Mapping[str, Any]) -> PipelineConfig:
    """Builds a validated `PipelineConfig` from nested dicts (the inverse of `to_dict`).

    Raises:
        ConfigError: for an unknown key, a wrong type or an out-of-range value.
    """
    config = _build(PipelineConfig, raw, "")
    _check_split(config.data.split)
    _check_monitor(config)
    return config


def dump_config(config: PipelineConfig) -> str:
    """Returns the configuration as YAML text that `load_config` reads back unchanged."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def _read_source(source: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    if source is None:
        return {}
    if isinstance(source, Mapping):
        return _deep_copy(source)
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"Config file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"Config path must be a file. Received a directory: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc}") from None
    raw = parse_yaml(text, str(path))
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"Config file {path} must hold a mapping of sections (data, model, train, ...). "
            f"Received a {type(raw).__name__}."
        )
    return raw


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _split_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"An override must look like KEY=VALUE (for example train.epochs=3). Received: {text!r}"
        )
    return key.strip(), parse_yaml(value, f"the value of override {key.strip()!r}")


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    cls: Any = PipelineConfig
    node = raw
    for depth, part in enumerate(parts):
        path = ".".join(parts[: depth + 1])
        hints = _field_types(cls)
        if part not in hints:
            raise ConfigError(_unknown_key_message(path, part, hints))
        if depth == len(parts) - 1:
            node[part] = value
            return
        cls = hints[part]
        if not dataclasses.is_dataclass(cls):
            raise ConfigError(f"Config key `{path}` is a value, not a section; cannot set `{key}`.")
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"Config key `{path}` must be a mapping. Received: {child!r}")
        node = child


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unknown_key_message(path: str, name: str, hints: Mapping[str, Any]) -> str:
    parent = path.rpartition(".")[0]
    close = difflib.get_close_matches(name, list(hints), n=1, cutoff=0.6)
    hint = f" Did you mean `{(parent + '.' if parent else '') + close[0]}`?" if close else ""
    where = f"under `{parent}`" if parent else "at the top level"
    return f"Unknown config key `{path}`.{hint} Accepted keys {where}: {', '.join(hints)}."


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, Mapping):
        name = prefix.rstrip(".") or "the config"
        raise ConfigError(f"Config key `{name}` must be a mapping. Received: {raw!r}")
    hints = _field_types(cls)
    for key in raw:
        if key not in hints:
            raise ConfigError(_unknown_key_message(prefix + str(key), str(key), hints))
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        path = prefix + f.name
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            values[f.name] = _build(kind, raw[f.name], path + ".")
        else:
            values[f.name] = _check_value(path, raw[f.name], kind, f.metadata)
    return cls(**values)


def _check_value(path: str, value: Any, kind: Any, rule: Mapping[str, Any]) -> Any:
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        kind = next(a for a in args if a is not type(None))
    if typing.get_origin(kind) is list:
        if not isinstance(value, list):
            raise ConfigError(_type_message(path, value, f"a list of {_type_name(kind)}"))
        (item_kind,) = typing.get_args(kind)
        return [_check_value(f"{path}[{i}]", v, item_kind, rule) for i, v in enumerate(value)]
    value = _check_type(path, value, kind)
    _check_rule(path, value, rule)
    return value


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        return _type_name(item) + "s"
    return {bool: "boolean", int: "integer", float: "number", str: "string"}[kind]


def _type_message(path: str, value: Any, expected: str) -> str:
    return f"Config key `{path}` must be {expected}. Received: {path}={value!r}"


def _check_type(path: str, value: Any, kind: type) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(_type_message(path, value, "true or false"))
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(_type_message(path, value, "an integer"))
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(_type_message(path, value, "a number"))
        if not math.isfinite(value):
            raise ConfigError(_type_message(path, value, "a finite number"))
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(_type_message(path, value, "a string"))
        return value
    raise TypeError(f"unsupported config field type {kind!r} at {path}")


def _check_rule(path: str, value: Any, rule: Mapping[str, Any]) -> None:
    choices = rule.get("choices")
    if choices and value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Config key `{path}` must be one of {', '.join(choices)}.{hint} "
            f"Received: {path}={value!r}"
        )
    low, high = rule.get("low"), rule.get("high")
    too_low = low is not None and (value <= low if rule["low_open"] else value < low)
    too_high = high is not None and (value >= high if rule["high_open"] else value > high)
    if too_low or too_high:
        raise ConfigError(
            f"Config key `{path}` must be {_range_text(rule)}. Received: {path}={value!r}"
        )


def _range_text(rule: Mapping[str, Any]) -> str:
    parts = []
    if rule["low"] is not None:
        parts.append(f"{'>' if rule['low_open'] else '>='} {rule['low']}")
    if rule["high"] is not None:
        parts.append(f"{'<' if rule['high_open'] else '<='} {rule['high']}")
    return " and ".join(parts)


def _check_split(split: SplitConfig) -> None:
    total = split.train + split.val + split.test
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ConfigError(
            "Config keys `data.split.train`, `data.split.val` and `data.split.test` must sum "
            f"to 1. Received: {split.train} + {split.val} + {split.test} = {total:g}"
        )


def _check_monitor(config: PipelineConfig) -> None:
    stopping = config.train.early_stopping
    if stopping.enabled and stopping.monitor.startswith("val_") and config.data.split.val == 0:
        raise ConfigError(
            f"Config key `train.early_stopping.monitor` cannot be {stopping.monitor!r} when "
            "`data.split.val` is 0: there is no validation split. Use `loss` or `accuracy`, "
            "or give the validation split a fraction."
        )
