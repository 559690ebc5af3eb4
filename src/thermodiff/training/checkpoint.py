"""Checkpoints: tensors in safetensors (never pickles), written atomically.

One file holds the model, its exponential moving average and the optimizer state (and, when
training holds out a validation split, the moving average it kept and its reference scores); its
metadata says what it is and which run wrote it (a foreign or truncated file gives a
CheckpointError, not a crash). A write goes to a temporary file that replaces the old one only
once complete (``disk.atomic_write``), and the checkpoint it replaces is kept as
``checkpoint.prev.safetensors``: if the latest cannot be read, ``read_checkpoint`` falls back to
it and says so (a ``ThermodiffWarning``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from ..disk import atomic_write
from ..errors import CheckpointError, ThermodiffWarning

FORMAT = "thermodiff-checkpoint"
VERSION = "1"


@dataclass(frozen=True)
class Checkpoint:
    step: int
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    ema_updates: int
    selected: "Selected | None" = None
    run: str | None = None  # the digest of the run that wrote it (None: written before it was kept)


@dataclass(frozen=True)
class Selected:
    """The moving-average weights kept by validation (selection.py), when, and their score; and the
    per-example validation bounds of the best-scoring weights so far, which later ones are held to."""

    weights: dict[str, torch.Tensor]
    step: int
    validation_K: float
    best: torch.Tensor | None = None  # None in checkpoints written before it was kept
    best_step: int | None = None


def previous_path(path: Path) -> Path:
    """Where the checkpoint before the latest is kept: checkpoint.prev.safetensors."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def checkpoint_exists(path: Path) -> bool:
    return path.exists() or previous_path(path).exists()


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, scalars = {}, {}
    for idx, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{idx}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, idx, key = name.split(".", 2)
        state.setdefault(int(idx), {})[key] = value
    for name, value in meta["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(path: Path, step: int, model: torch.nn.Module, ema: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, ema_updates: int, selected: Selected | None = None,
                    run: str | None = None) -> None:
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().contiguous().cpu() for k, v in ema.state_dict().items()})
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    tensors.update(opt_tensors)
    metadata = {"format": FORMAT, "version": VERSION, "step": str(step),
                "ema_updates": str(ema_updates), "optimizer": json.dumps(opt_meta)}
    if run is not None:
        metadata["run"] = run
    if selected is not None:
        tensors.update({f"selected.{k}": v.detach().contiguous().cpu() for k, v in selected.weights.items()})
        metadata.update({"selected_step": str(selected.step), "selected_validation_K": repr(selected.validation_K)})
        if selected.best is not None:
            tensors["validation.best"] = selected.best.detach().contiguous().cpu()
            metadata["validation_best_step"] = str(selected.best_step)
    blob = save(tensors, metadata=metadata)  # bytes: safetensors' own save_file leaves a 0600 temporary
    atomic_write(path, lambda tmp: tmp.write_bytes(blob), previous=previous_path(path))


def read_checkpoint(path: Path, run: str | None = None) -> Checkpoint:
    """The latest checkpoint at ``path``, or the one before it (with a warning) if the latest cannot
    be read; ``run``: refuse a checkpoint that another run wrote (a different digest)."""
    try:
        state = load_checkpoint(path)
    except CheckpointError as latest:
        previous = previous_path(path)
        if not previous.exists():
            raise
        try:
            state = load_checkpoint(previous)
        except CheckpointError:
            raise CheckpointError(f"{latest}; the previous checkpoint {previous.name} cannot be read either") from None
        warnings.warn(ThermodiffWarning(f"{latest}; using the previous checkpoint {previous.name} (step {state.step})"),
                      stacklevel=2)
    if run is not None and state.run is not None and state.run != run:
        raise CheckpointError(f"{path} was written by another run (settings or data differ from "
                              f"{path.parent / 'config.json'}); move it away or train into a new directory")
    return state


def load_checkpoint(path: Path) -> Checkpoint:
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"{path} is truncated or not a safetensors file ({err})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a thermodiff checkpoint (no '{FORMAT}' marker)")
    if metadata.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {metadata.get('version')}; this thermodiff reads {VERSION}")
    groups: dict[str, dict[str, torch.Tensor]] = {"model": {}, "ema": {}, "optimizer": {}, "selected": {}, "validation": {}}
    for name, value in tensors.items():
        head, _, rest = name.partition(".")
        if head not in groups:
            raise CheckpointError(f"{path}: unexpected tensor {name!r}")
        groups[head][rest if head != "optimizer" else name] = value
    return Checkpoint(
        step=int(metadata["step"]),
        model=groups["model"],
        ema=groups["ema"],
        optimizer=_unflatten_optimizer(groups["optimizer"], json.loads(metadata["optimizer"])),
        ema_updates=int(metadata["ema_updates"]),
        selected=Selected(groups["selected"], int(metadata["selected_step"]), float(metadata["selected_validation_K"]),
                          groups["validation"].get("best"), int(metadata.get("validation_best_step", metadata["selected_step"])))
        if "selected_step" in metadata else None,
        run=metadata.get("run"),
    )


def load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    """Load weights, turning a mismatch into a CheckpointError that says what differs."""
    expected = module.state_dict()
    differences = [f"{k} missing" for k in expected if k not in state]
    differences += [f"{k} unexpected" for k in state if k not in expected]
    differences += [f"{k} has shape {tuple(v.shape)} in the checkpoint, {tuple(expected[k].shape)} in the model"
                    for k, v in state.items() if k in expected and v.shape != expected[k].shape]
    if differences:
        shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
        raise CheckpointError(f"{path} does not fit this run's model configuration ({shown}); was "
                              f"{path.parent / 'config.json'} changed after training?")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit this run's model configuration: {' '.join(str(err).split())}") from None
