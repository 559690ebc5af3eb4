"""Typed configuration: helpers shared by every component's config dataclass.

Each component keeps its own dataclass, with one default and one help text per field (via
``option``). This module turns those dataclasses into JSON and back, and into command-line
options, so that defaults exist in exactly one place.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from enum import Enum
from typing import Any, TypeVar

C = TypeVar("C")


class ConfigError(ValueError):
    """A configuration value or file that cannot be used; the message says which and why."""


def option(default: Any, help: str, cli: bool = True) -> Any:
    """A dataclass field with its help text; ``cli=False`` keeps it off the command line."""
    return dataclasses.field(default=default, metadata={"help": help, "cli": cli})


def _field_type(cls: type, name: str) -> Any:
    hint = typing.get_type_hints(cls)[name]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0]
    return hint


def _convert(kind: Any, value: Any, where: str) -> Any:
    if value is None:
        return None
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(value)
        except ValueError:
            valid = ", ".join(str(m.value) for m in kind)
            raise ConfigError(f"{where}: {value!r} is not one of: {valid}") from None
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value, where)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float, str, bool) and not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    if typing.get_origin(kind) in (list, tuple):
        return list(value)
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict: enums become their values, nested configs become dicts."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, Enum):
            value = value.value
        elif dataclasses.is_dataclass(value):
            value = to_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def from_dict(cls: type[C], data: dict[str, Any], where: str = "config") -> C:
    """Rebuild a config dataclass; unknown keys and bad values give a ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown settings {sorted(unknown)}")
    kwargs = {k: _convert(_field_type(cls, k), v, f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def coerce_enums(cfg: Any) -> None:
    """Turn strings given for enum fields into the enum (call from __post_init__ of frozen configs)."""
    for f in dataclasses.fields(cfg):
        kind = _field_type(type(cfg), f.name)
        value = getattr(cfg, f.name)
        if isinstance(kind, type) and issubclass(kind, Enum) and not isinstance(value, kind):
            object.__setattr__(cfg, f.name, _convert(kind, value, f.name))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type, title: str) -> None:
    """Add one option per CLI field of ``cls``; unset options stay None (the dataclass decides)."""
    group = parser.add_argument_group(title)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        kind = _field_type(cls, f.name)
        help_text = f"{f.metadata.get('help', '')} (default: {_default_text(f)})"
        if kind is bool:
            group.add_argument(_flag(f.name), dest=f.name, default=None,
                               action=argparse.BooleanOptionalAction, help=help_text)
        elif isinstance(kind, type) and issubclass(kind, Enum):
            group.add_argument(_flag(f.name), dest=f.name, default=None,
                               choices=[m.value for m in kind], help=help_text)
        else:
            group.add_argument(_flag(f.name), dest=f.name, default=None, type=kind,
                               metavar=f.name.upper(), help=help_text)


def _default_text(f: dataclasses.Field) -> str:
    value = f.default
    return value.value if isinstance(value, Enum) else repr(value) if isinstance(value, str) else str(value)


def given(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` that were set on the command line, converted to their types."""
    out = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            out[f.name] = _convert(_field_type(cls, f.name), value, _flag(f.name))
    return out


def override(cfg: C, changes: dict[str, Any]) -> C:
    """A copy of ``cfg`` with ``changes`` applied (the original is never mutated)."""
    return dataclasses.replace(cfg, **changes) if changes else cfg
