"""What a run directory keeps of its data, the run's identity, and how a new one comes into being.

A new run is written into a temporary folder beside its final place (``.NAME.tmp-PID``), which
takes the run's name only once every file is complete: a start that fails, or is killed, leaves
no half-made run that would block a retry or ``--resume`` (a killed one's temporary folder is
removed by the next start). The target must not exist, or be an empty directory: the files of a
folder that is not a run are never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from .config import to_dict
from .data import DataConfig, resolve_path
from .disk import cannot_write, fsync_directory, remove_stale_temporaries, temporary_path
from .errors import CheckpointError, ConfigError
from .networks import ModelConfig
from .presets import RunConfig
from .processes import DiffusionConfig
from .training.config import RESUMABLE, TrainConfig

SECTIONS = {"data": DataConfig, "diffusion": DiffusionConfig, "model": ModelConfig, "train": TrainConfig}


@dataclass(frozen=True)
class DataFacts:
    """What a run keeps of its data besides the held-out split (None in runs written before)."""

    fingerprint: str
    n_examples: int
    std: float | None = None  # the spread of the training values as stored (a denoising figure's noise level)
    source_path: str | None = None  # the absolute path of a file or folder source
    data_dir: str | None = None  # the absolute path of --data-dir
    digest: str | None = None  # the run's identity: written into its checkpoints and checked when they are read


def run_digest(config: RunConfig, shape: tuple[int, ...], data: str, levels: int | None) -> str:
    """A hash of what makes a run what it is: its settings (less those --resume may change) and its data."""
    sections = {name: to_dict(getattr(config, name)) for name in SECTIONS}
    sections["train"] = {k: v for k, v in sections["train"].items() if k not in RESUMABLE}
    blob = json.dumps({"config": sections, "shape": list(shape), "data": data, "levels": levels}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def locate(config: DataConfig) -> tuple[str | None, str | None]:
    """(absolute path of a file or folder source, absolute --data-dir): found from any directory later."""
    return resolve_path(config.source), (str(Path(config.data_dir).resolve()) if config.data_dir else None)


def located(config: DataConfig, facts: DataFacts) -> DataConfig:
    """``config`` with its paths made absolute where the run recorded them and they still exist."""
    if facts.source_path and Path(facts.source_path).exists():
        config = replace(config, source=facts.source_path)
    if facts.data_dir and Path(facts.data_dir).exists():
        config = replace(config, data_dir=facts.data_dir)
    return config


def check_new_directory(path: Path) -> None:
    """A new run goes into a directory that does not exist yet, or is empty."""
    path = Path(path)
    if path.is_dir() and (path / "config.json").exists():
        raise ConfigError(f"{path} already holds a run; pass --resume to continue it, or choose another --out")
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} is a file; give a directory for the run")
    if path.is_dir() and any(path.iterdir()):
        raise ConfigError(f"--out {path} is a directory that holds other files and is not a run; choose a new or "
                          "empty directory (nothing in it was changed)")


def new_directory(final: Path, write: Callable[[Path], None]) -> None:
    """``write(folder)`` fills a temporary folder, which then becomes ``final`` in one rename."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(final.parent, f".{final.name}")
        folder = temporary_path(final)
        folder.mkdir()
    except OSError as err:
        raise cannot_write(final, err) from None
    try:
        write(folder)
        os.rename(folder, final)
    except OSError as err:
        meanwhile = " (another process created it meanwhile)" if final.exists() else ""
        raise CheckpointError(f"cannot create the run {final}: {err.strerror or err}{meanwhile}") from None
    finally:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
    fsync_directory(final.parent)
