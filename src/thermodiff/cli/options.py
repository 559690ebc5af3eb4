"""Command-line options generated from the configuration dataclasses (their one source of defaults).

Each field becomes ``--field-name`` with the field's help text, its default and, where a kind
of data has its own value in ``presets.py``, that value too. An option left unset stays None,
so the dataclass (or the preset of the data's kind) decides.
"""

from __future__ import annotations

import argparse
import dataclasses
from enum import Enum
from typing import Any

from ..config import convert, field_type
from ..presets import VECTORS, kind_values


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _shown(value: Any) -> str:
    return value.value if isinstance(value, Enum) else repr(value) if isinstance(value, str) else f"{value:g}" \
        if isinstance(value, float) else str(value)


def default_text(section: str | None, f: dataclasses.Field) -> str:
    """'(default: 1000; binary: 2000)': the field's default and each kind's own value."""
    if f.default is None:
        return ""
    if section is None or not hasattr(VECTORS, section):
        return f" (default: {_shown(f.default)})"
    parts = [f"default: {_shown(getattr(getattr(VECTORS, section), f.name))}"]
    parts += [f"{kind.value}: {_shown(value)}" for kind, value in kind_values(section, f.name).items()]
    return f" ({'; '.join(parts)})"


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, title: str, section: str | None = None,
                         skip: tuple[str, ...] = ()) -> None:
    """One option per command-line field of ``cls`` (``section``: its name in presets.Preset, for
    the per-kind defaults); unset options stay None."""
    group = parser.add_argument_group(title)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True) or f.name in skip:
            continue
        kind = field_type(cls, f.name)
        help_text = f"{f.metadata.get('help', '')}{default_text(section, f)}"
        if kind is bool:
            group.add_argument(flag(f.name), dest=f.name, default=None, action=argparse.BooleanOptionalAction,
                               help=help_text)
        elif isinstance(kind, type) and issubclass(kind, Enum):
            group.add_argument(flag(f.name), dest=f.name, default=None, choices=[m.value for m in kind], help=help_text)
        else:
            group.add_argument(flag(f.name), dest=f.name, default=None, type=kind, metavar=f.name.upper(),
                               help=help_text)


def given(cls: type, args: argparse.Namespace) -> dict[str, Any]:
    """The fields of ``cls`` that were set on the command line, converted to their types."""
    out = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name, None)
        if value is not None and f.metadata.get("cli", True):
            out[f.name] = convert(field_type(cls, f.name), value, flag(f.name))
    return out
