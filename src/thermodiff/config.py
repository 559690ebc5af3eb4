"""Typed configuration: helpers shared by every component's config dataclass.

Each component keeps its own dataclass, with one default and one help text per field (via
``option``); per-kind defaults are typed instances in ``presets.py``. This module turns those
dataclasses into JSON and back (the command line's options are generated from the same fields,
in ``cli/options.py``), so that defaults exist in exactly one place.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from typing import Any, TypeVar

from .errors import ConfigError

C = TypeVar("C")


def option(default: Any, help: str, cli: bool = True) -> Any:
    """A dataclass field with its help text; ``cli=False`` keeps it off the command line."""
    return dataclasses.field(default=default, metadata={"help": help, "cli": cli})


def field_type(cls: type, name: str) -> Any:
    """The declared type of a config field (``X | None`` gives X)."""
    hint = typing.get_type_hints(cls)[name]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0]
    return hint


def convert(kind: Any, value: Any, where: str) -> Any:
    """``value`` as a ``kind`` (enums from their values); a ConfigError naming ``where`` otherwise."""
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
    kwargs = {k: convert(field_type(cls, k), v, f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def coerce_enums(cfg: Any) -> None:
    """Turn strings given for enum fields into the enum (call from __post_init__ of frozen configs)."""
    for f in dataclasses.fields(cfg):
        kind = field_type(type(cfg), f.name)
        value = getattr(cfg, f.name)
        if isinstance(kind, type) and issubclass(kind, Enum) and not isinstance(value, kind):
            object.__setattr__(cfg, f.name, convert(kind, value, f.name))


def override(cfg: C, changes: dict[str, Any]) -> C:
    """A copy of ``cfg`` with ``changes`` applied (the original is never mutated)."""
    return dataclasses.replace(cfg, **changes) if changes else cfg
