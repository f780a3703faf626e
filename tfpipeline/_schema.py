"""Declarative config checking: each dataclass field carries its rule in its metadata.

`build` turns nested dicts into frozen dataclasses, refusing unknown keys (with a close-match
suggestion), wrong types, non-finite numbers and out-of-range values, each with a message that
names the dotted key, the rule and the value received, then the rules across a section's
keys (its class's `checks`). A rule shared with a public function is declared once and held
against that function's arguments by `check_arguments` / `check_argument`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import Any

import yaml

from tfpipeline.errors import ConfigError


def rule(
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: Sequence[str | int] | None = None,
    aliases: Mapping[Any, Any] | None = None,
) -> dict[str, Any]:
    """Returns a field's rule: a range (`low`/`high`, open or closed) and/or accepted values,
    and `aliases`, other spellings taken as one of them (`{True: "mixed_float16"}`)."""
    return {
        "low": low,
        "high": high,
        "low_open": low_open,
        "high_open": high_open,
        "choices": tuple(choices) if choices else None,
        "aliases": list((aliases or {}).items()),
    }


def setting(default: Any, declared: Mapping[str, Any] | None = None, /, **rules: Any) -> Any:
    """Declares a config field with its default and its rule: the arguments of `rule`, or
    `declared`, a rule shared with a function's arguments, narrowed by them."""
    given = {key: value for key, value in rule(**rules).items() if key in rules}
    metadata = {**(declared or rule()), **given}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Check:
    """A rule between fields of one dataclass (such as `initial_sparsity` below `sparsity`),
    declared once beside the fields' own rules and listed in the class's `checks`.

    Attributes:
        holds: whether an instance keeps the rule.
        argument: the message when the fields are a function's arguments: a `str.format`
            template over the fields' values (each shown as its `repr`). Defaults to `None`
            (the fields are never arguments).
        config_key: the message when the fields are config keys: the same, with `{prefix}`
            the section's dotted path (`"compress.prune."`). Defaults to `None` (never keys).
    """

    holds: Callable[[Any], bool]
    argument: str | None = None
    config_key: str | None = None

    def message(self, template: str, instance: Any, prefix: str = "") -> str:
        """The message `template` says for `instance`, which breaks the rule."""
        values = {f.name: shown(getattr(instance, f.name)) for f in dataclasses.fields(instance)}
        return template.format(prefix=prefix, **values)


# A config is a few kilobytes; PyYAML reads about 35 KiB a second of the worst (one long list).
MAX_CONFIG_BYTES = 256 * 1024
MAX_SHOWN_CHARS = 200  # the longest value repr a config message shows
_MAX_DEPTH = 64  # a config nests four levels; deeper text is refused before Python recurses


def shown(value: Any) -> str:
    """Returns `repr(value)` for a message, cut to `MAX_SHOWN_CHARS` with its full length."""
    return clip(repr(value))


def clip(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """Returns `text` cut to `limit` characters, with an ellipsis and its full length."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


class _Refused(yaml.YAMLError):
    """YAML that parses but that a config file may not hold (an alias, too deep, a bad value)."""

    def __init__(self, problem: str, mark: Any):
        super().__init__(problem)
        self.problem, self.line = problem, mark.line + 1


# A SafeLoader that refuses aliases: an alias repeats a whole node without copying its text,
# so nine nested lists of nine aliases (under 500 bytes) expand to 9**9 items ("billion
# laughs"). Configs never need them. It also bounds nesting and turns the ValueErrors of
# PyYAML's constructors (a 5000-digit integer, a date 2024-13-45) into errors with a line.
class _Loader(yaml.SafeLoader):
    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(
                f"found the alias *{event.anchor}; aliases (*name) are not accepted in config "
                "files, write the value out instead",
                event.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > _MAX_DEPTH:
                raise _Refused(
                    f"nested deeper than {_MAX_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            reason = str(exc).partition("; use sys.set_int_max_str_digits")[0]  # not for users
            raise _Refused(f"cannot read this value: {reason}", node.start_mark) from None


# PyYAML follows YAML 1.1, where `1e-4` is a string; accept the exponent forms people write.
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
    """Parses YAML text as config text: `1e-4`-style floats accepted, aliases refused.

    Args:
        text: the YAML text.
        source: where the text came from, for the error message.

    Returns:
        The parsed value.

    Raises:
        ConfigError: if the text is longer than `MAX_CONFIG_BYTES`, is not valid YAML, holds
            an alias (`*name`), nests deeper than 64 levels or holds a value PyYAML cannot
            build (such as an integer of more than 4300 digits), naming the line.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{source} is too large for a config: at most {MAX_CONFIG_BYTES:,} bytes "
            f"({MAX_CONFIG_BYTES // 1024} KiB). Received: {size:,} bytes"
        )
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as exc:
        raise ConfigError(f"{source}, line {exc.line}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        # PyYAML quotes the offending line (up to 75 characters) after its problem.
        raise ConfigError(f"{source} is not valid YAML: {clip(str(exc), 800)}") from None
    except RecursionError:  # a last guard: the depth limit above should come first
        raise ConfigError(f"{source} is not valid YAML: nested too deeply") from None


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def unknown_key_message(path: str, name: str, hints: Mapping[str, Any]) -> str:
    """The message for key `name` (the end of the dotted `path`; it may hold dots itself,
    as a YAML key `"a.b"` does) not among `hints`, with the closest accepted spelling."""
    parent = path[: -len(name)].rstrip(".") if path.endswith(name) else path.rpartition(".")[0]
    prefix = parent + "." if parent else ""
    head, dot, rest = name.partition(".")
    joined = name.replace(".", "_")
    if dot and joined in hints:  # `learning.rate` for `learning_rate`
        hint = f" Did you mean `{prefix}{joined}`?"
    elif dot and head in hints:  # a dotted path written as one YAML key
        hint = (
            f" A dotted path is one key per level: in YAML write `{head}:` with `{rest}` "
            f"nested under it (`{prefix}{name}` works as a --set path)."
        )
    else:  # a misspelt key; for a dotted name, its first part (`trian.epochs`)
        close = difflib.get_close_matches(head, list(hints), n=1, cutoff=0.6)
        hint = f" Did you mean `{prefix}{close[0]}{dot}{rest}`?" if close else ""
    where = f"under `{parent}`" if parent else "at the top level"
    return f"Unknown config key `{clip(path)}`.{hint} Accepted keys {where}: {', '.join(hints)}."


def build(cls: type, raw: Any, prefix: str) -> Any:
    """Builds dataclass `cls` from the mapping `raw`, checking every key against its rule.

    Args:
        cls: a dataclass whose fields carry `rule` metadata (see `setting`).
        raw: the mapping read from YAML or given by the user.
        prefix: the dotted path of `raw` in the whole config, for messages (`"train."`).

    Raises:
        ConfigError: naming the dotted key, the rule and the value received.
    """
    if not isinstance(raw, Mapping):
        name = prefix.rstrip(".") or "the config"
        raise ConfigError(f"Config key `{name}` must be a mapping. Received: {shown(raw)}")
    hints = field_types(cls)
    for key in raw:
        if key not in hints:
            raise ConfigError(unknown_key_message(prefix + str(key), str(key), hints))
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        path = prefix + f.name
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            values[f.name] = build(kind, raw[f.name], path + ".")
        else:
            values[f.name] = _check_value(path, raw[f.name], kind, f.metadata)
    section = cls(**values)
    for check in getattr(cls, "checks", ()):  # the rules across its keys, once each key passed
        if not check.holds(section):
            raise ConfigError(check.message(check.config_key, section, prefix))
    return section


def check_arguments(arguments: Any) -> None:
    """Checks a function's arguments, gathered in dataclass `arguments`, against the rules
    of its fields and then its class's `checks` (scikit-learn's `_validate_params`).

    Raises:
        TypeError: for a value that is not a number where a range applies.
        ValueError: naming the argument, the rule and the value received.
    """
    for f in dataclasses.fields(arguments):
        if f.metadata:
            check_argument(f.name, getattr(arguments, f.name), f.metadata)
    for check in getattr(type(arguments), "checks", ()):
        if not check.holds(arguments):
            raise ValueError(check.message(check.argument, arguments))


def check_argument(name: str, value: Any, rule: Mapping[str, Any]) -> None:
    """Checks one argument against a rule declared for a config key (see `rule`), stating
    a range as an interval: "Argument `sparsity` must be in (0, 1). Received: sparsity=1.5".

    Raises:
        TypeError: for a value that is not a number where a range applies.
        ValueError: naming the argument, the rule and the value received.
    """
    ranged = rule.get("low") is not None or rule.get("high") is not None
    if ranged and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise TypeError(f"Argument `{name}` must be a number. Received: {name}={shown(value)}")
    broken = _broken_rule(value, rule, _interval_text)
    if broken:
        raise ValueError(f"Argument `{name}` {broken} Received: {name}={shown(value)}")


def broken_rule(value: Any, rule: Mapping[str, Any]) -> str | None:
    """What `value` breaks of a declared rule, stated as for an argument ("must be in
    (0, 1)."), or `None` when it keeps it (a number is expected where a range applies)."""
    return _broken_rule(value, rule, _interval_text)


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
        if dataclasses.is_dataclass(item_kind):
            return [build(item_kind, v, f"{path}[{i}].") for i, v in enumerate(value)]
        return [_check_value(f"{path}[{i}]", v, item_kind, rule) for i, v in enumerate(value)]
    for alias, meaning in rule.get("aliases", ()):
        if type(value) is type(alias) and value == alias:  # `True` is not `1` here
            value = meaning
    value = _check_type(path, value, kind)
    _check_rule(path, value, rule)
    return value


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        return _type_name(item) + "s"
    if dataclasses.is_dataclass(kind):
        return "mapping"
    return {bool: "boolean", int: "integer", float: "number", str: "string"}[kind]


def _type_message(path: str, value: Any, expected: str) -> str:
    return f"Config key `{path}` must be {expected}. Received: {path}={shown(value)}"


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
    broken = _broken_rule(value, rule, _range_text)
    if broken:
        raise ConfigError(f"Config key `{path}` {broken} Received: {path}={shown(value)}")


def _broken_rule(
    value: Any, rule: Mapping[str, Any], range_text: Callable[[Mapping[str, Any]], str]
) -> str | None:
    """What `value` breaks of `rule` ("must be one of ...", with the closest accepted value,
    or "must be " and the range as `range_text` states it), or `None` if it keeps it."""
    choices = rule.get("choices")
    if choices and value not in choices:
        names = [str(c) for c in choices]
        close = difflib.get_close_matches(str(value), names, n=1) if isinstance(value, str) else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"must be one of {', '.join(names)}.{hint}"
    low, high = rule.get("low"), rule.get("high")
    too_low = low is not None and (value <= low if rule["low_open"] else value < low)
    too_high = high is not None and (value >= high if rule["high_open"] else value > high)
    if too_low or too_high:
        return f"must be {range_text(rule)}."
    return None


def _interval_text(rule: Mapping[str, Any]) -> str:
    """A range as an argument's message states it: `in (0, 1)`, `in [0, 1)` or `>= 2`."""
    low, high = rule["low"], rule["high"]
    if low is not None and high is not None:
        opening, closing = "(" if rule["low_open"] else "[", ")" if rule["high_open"] else "]"
        return f"in {opening}{low:g}, {high:g}{closing}"
    if low is not None:
        return f"{'>' if rule['low_open'] else '>='} {low:g}"
    return f"{'<' if rule['high_open'] else '<='} {high:g}"


def _range_text(rule: Mapping[str, Any]) -> str:
    parts = []
    if rule["low"] is not None:
        parts.append(f"{'>' if rule['low_open'] else '>='} {rule['low']}")
    if rule["high"] is not None:
        parts.append(f"{'<' if rule['high_open'] else '<='} {rule['high']}")
    return " and ".join(parts)
