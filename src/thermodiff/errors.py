"""Errors a user can cause: one base class, so the command line prints them as one line.

Anything that is not a ``ThermodiffError`` is a bug in thermodiff (or in torch, numpy, ...)
and keeps its traceback.
"""

from __future__ import annotations


class ThermodiffError(Exception):
    """Something the user can fix; the message says what is wrong and how to fix it."""


class DataError(ThermodiffError, ValueError):
    """Data that cannot be used."""


class ConfigError(ThermodiffError, ValueError):
    """A setting, a combination of settings or a configuration file that cannot be used."""


class CheckpointError(ThermodiffError, RuntimeError):
    """A checkpoint or run directory that cannot be read or used."""


class ThermodiffWarning(UserWarning):
    """Something the user should know that does not stop the work (the command line prints it as one line)."""
