"""Reading a configuration (file, dict, `KEY=VALUE` overrides) and writing it back as YAML."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tfpipeline._schema import (
    MAX_CONFIG_BYTES,
    build,
    clip,
    field_types,
    parse_yaml,
    shown,
    unknown_key_message,
)
from tfpipeline.config.pipeline import PipelineConfig
from tfpipeline.config.validation import check_config
from tfpipeline.errors import ConfigError


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
        overrides: `"dotted.key=value"` strings (values read as YAML, by the same rules as
            a file) or a dict of dotted keys to values, applied after `source`. Defaults to
            no overrides.

    Returns:
        The validated `PipelineConfig`.

    Raises:
        ConfigError: for a missing or unreadable file, a file over 256 KiB, invalid YAML, a
            YAML alias (`*name`, refused in configs), an unknown key, a wrong type or an
            out-of-range value.
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
    config = build(PipelineConfig, raw, "")
    check_config(config)
    return config


def dump_config(config: PipelineConfig) -> str:
    """Returns the configuration as YAML text that `load_config` reads back unchanged."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def _read_source(source: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    if source is None:
        return {}
    if isinstance(source, Mapping):
        try:
            return _deep_copy(source)
        except RecursionError:  # a dict holding itself, or nested past Python's limit
            raise ConfigError(
                "A config mapping must be plain nested dicts and lists. Received one that "
                "holds itself or is nested thousands of levels deep."
            ) from None
    path = Path(source)
    try:  # stat itself fails on a name too long for the file system
        if not path.exists():
            raise ConfigError(f"Config file not found: {path}")
        if not path.is_file():
            raise ConfigError(f"Config path must be a file. Received a directory: {path}")
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:  # refused before it is read
            raise ConfigError(
                f"Config file {path} is too large: at most {MAX_CONFIG_BYTES:,} bytes "
                f"({MAX_CONFIG_BYTES // 1024} KiB). "
                f"Received: {size:,} bytes"
            )
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
            "An override must look like KEY=VALUE (for example train.epochs=3). "
            f"Received: {shown(text)}"
        )
    return key.strip(), parse_yaml(value, f"the value of override {shown(key.strip())}")


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    cls: Any = PipelineConfig
    node = raw
    for depth, part in enumerate(parts):
        path = ".".join(parts[: depth + 1])
        hints = field_types(cls)
        if part not in hints:  # the rest of the key is named too (`learning.rate`)
            raise ConfigError(unknown_key_message(key, ".".join(parts[depth:]), hints))
        if depth == len(parts) - 1:
            node[part] = value
            return
        cls = hints[part]
        if not dataclasses.is_dataclass(cls):
            raise ConfigError(
                f"Config key `{path}` is a value, not a section; cannot set `{clip(key)}`."
            )
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"Config key `{path}` must be a mapping. Received: {shown(child)}")
        node = child
