"""The training loop: gradient ascent on the bound K, in one process or many (torchrun + DDP).

Each step draws its batch, steps t and noise from a generator seeded by (seed, step), so a
resumed run draws exactly what the uninterrupted run would have, and every process of a
distributed run draws the same global batch and keeps its own slice of it. The loss is the
bound itself (``thermodiff.bound.minus_K``, through the model). The loop reports through
``TrainCallbacks``; it never prints.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..bound import BITS_PER_NAT
from ..data import Coordinates, split
from ..model import DiffusionModel
from ..variance import StepDraws
from . import distributed as dist_util
from .checkpoint import Selected, load_checkpoint, load_state, save_checkpoint
from .config import OptimizerKind, TrainConfig
from .ema import EMA
from .selection import Validation, periodic_report


class TrainCallbacks:
    """Hooks for progress reporting; the defaults do nothing."""

    def on_start(self, step: int, total: int) -> None: ...

    def on_step(self, step: int, running_K: float) -> None: ...

    def on_eval(self, step: int, summary: dict) -> None: ...

    def on_end(self, outcome: "Outcome") -> None: ...


@dataclass(frozen=True)
class Outcome:
    step: int
    stopped_by: str  # "steps", "time" or "interrupt"
    seconds: float
    selected: Selected | None  # the moving average that validation kept, if there was validation


@dataclass(frozen=True)
class TrainingJob:
    """What the loop needs: settings, a freshly built model, the examples (data coordinates), and files."""

    config: TrainConfig
    build_model: Callable[[], DiffusionModel]
    coordinates: Coordinates
    train: np.ndarray  # training examples (a validation split is set aside from them if configured)
    heldout: np.ndarray  # for the periodic reports only
    validation_seed: int
    checkpoint_path: Path
    metrics_path: Path


def step_generator(seed: int, step: int, device: torch.device) -> torch.Generator:
    """The generator of one step: a pure function of (seed, step)."""
    return torch.Generator(device=device).manual_seed((seed * 1_000_003 + step * 7_919 + 17) % (2**63))


def learning_rate(config: TrainConfig, step: int, progress: float) -> float:
    """Linear warm-up, constant, then cosine decay to 0 over the last part of the run."""
    warm = min(1.0, (step + 1) / max(config.warmup, 1))
    if progress <= config.decay_from:
        return config.lr * warm
    phase = min(1.0, (progress - config.decay_from) / max(1.0 - config.decay_from, 1e-12))
    return config.lr * warm * 0.5 * (1.0 + math.cos(math.pi * phase))


def make_optimizer(config: TrainConfig, params) -> torch.optim.Optimizer:
    # fused / foreach: one update over all parameters instead of a loop of small ones
    if config.optimizer is OptimizerKind.ADAM:
        return torch.optim.Adam(params, lr=config.lr, fused=True)
    return torch.optim.RMSprop(params, lr=config.lr, foreach=True)


@torch.no_grad()
def clip_gradients(parameters: list[torch.Tensor], max_norm: float) -> None:
    """Scale the gradients so that their joint norm is at most ``max_norm`` (as torch's
    clip_grad_norm_, without regrouping the tensors at every step)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))


class Trainer:
    def __init__(self, job: TrainingJob, ctx: dist_util.DistContext, callbacks: TrainCallbacks | None = None):
        self.job, self.ctx, self.config = job, ctx, job.config
        self.callbacks = callbacks or TrainCallbacks()
        train_x, validation = job.train, None
        if self.config.validation_fraction > 0:
            train_x, validation = split(train_x, self.config.validation_fraction, job.validation_seed)
        self.data = torch.as_tensor(job.coordinates.to_model(train_x), dtype=torch.float64, device=ctx.device)
        # discrete data: each batch adds fresh U[0, 1) noise (in model coordinates, u / std)
        scale = job.coordinates.dequantization_scale(tuple(train_x.shape[1:]))
        self.dequantization = None if scale is None else torch.as_tensor(scale, dtype=torch.float64, device=ctx.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            self.model: DiffusionModel = job.build_model().to(ctx.device)
        self.parameters = list(self.model.parameters())
        self.optimizer = make_optimizer(self.config, self.parameters)
        self.ema = EMA(self.model, self.config.ema_decay)
        self.validation = None if validation is None else Validation(validation, job.coordinates)
        self.selected: Selected | None = None
        self.step = 0
        if job.checkpoint_path.exists():
            self._restore()
        self.net = (DistributedDataParallel(self.model, broadcast_buffers=False) if ctx.distributed else self.model)
        self.running_K = float("nan")

    def _restore(self) -> None:
        path = self.job.checkpoint_path
        state = load_checkpoint(path)
        load_state(self.model, state.model, path)
        load_state(self.ema.model, state.ema, path)
        self.optimizer.load_state_dict(state.optimizer)
        self.ema.updates = state.ema_updates
        self.selected = state.selected
        self.step = state.step

    # -- one step ----------------------------------------------------------------------------
    def train_step(self, progress: float) -> float:
        """One optimizer step; returns this batch's estimate of K (bits/example)."""
        cfg, model, ctx = self.config, self.model, self.ctx
        gen = step_generator(cfg.seed, self.step, ctx.device)
        B = cfg.batch_size
        idx = torch.randint(self.data.shape[0], (B,), generator=gen, device=ctx.device)
        steps = model.steps.draw(cfg.t_sampling, B, gen)
        x0 = self.data[idx]
        if self.dequantization is not None:
            x0 = x0 + torch.rand(x0.shape, generator=gen, device=ctx.device, dtype=x0.dtype) * self.dequantization
        noise = model.process.noise_like(x0, gen)
        local = ctx.local_slice(B)
        terms = self.net(x0[local], StepDraws(steps.t[local], steps.w[local]), noise[local])
        minus_K = terms.total  # unbiased for -K (the control variate has mean zero and no gradient)
        loss = minus_K.mean() * BITS_PER_NAT / x0[0].numel()  # bits per dimension
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(self.parameters, cfg.grad_clip)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg, self.step, progress)
        self.optimizer.step()
        self.ema.update(model)
        return self._record_terms(steps.t[:, 0], local, x0[local], terms, minus_K)

    @torch.no_grad()
    def _record_terms(self, t: torch.Tensor, local: slice, x0: torch.Tensor, terms, minus_K: torch.Tensor) -> float:
        """Fold the global batch's terms (``t``: its steps) into the per-step statistics; K in bits."""
        model = self.model
        ell, u = terms.ell[:, 0], terms.u[:, 0]
        edge = torch.where(model.process.at_decoder(t[local]), model.process.edge_reference(x0, model.process.table()), 0.0)
        stats = (ell - terms.control[:, 0] - edge, ell, u, minus_K)
        if self.ctx.distributed:
            stats = dist_util.all_gather_cat(torch.stack(stats, dim=1), self.ctx).unbind(1)
        model.steps.update(t, stats[0], stats[1], stats[2], model.process.noise_feature_variance(x0))
        return -float(stats[3].mean()) * BITS_PER_NAT

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, time_limit_minutes: float | None = None) -> Outcome:
        cfg = self.config
        start = time.monotonic()
        limit = None if time_limit_minutes is None else 60.0 * time_limit_minutes
        self.callbacks.on_start(self.step, cfg.steps)
        stopped_by = "steps"
        try:
            while self.step < cfg.steps:
                elapsed = dist_util.max_over_processes(time.monotonic() - start, self.ctx)
                if limit is not None and elapsed >= limit:
                    stopped_by = "time"
                    break
                progress = max(self.step / cfg.steps, 0.0 if limit is None else elapsed / limit)
                K = self.train_step(progress)
                self.step += 1
                self.running_K = K if math.isnan(self.running_K) else 0.98 * self.running_K + 0.02 * K
                self.callbacks.on_step(self.step, self.running_K)
                if self.step % cfg.eval_every == 0 and self.ctx.is_main:
                    self._periodic_eval()
                if self.step % cfg.checkpoint_every == 0:
                    self.save()
        except KeyboardInterrupt:
            stopped_by = "interrupt"
        if self.ctx.is_main and stopped_by != "interrupt":
            self._validate()
        self.save()
        outcome = Outcome(self.step, stopped_by, time.monotonic() - start, self.selected)
        self.callbacks.on_end(outcome)
        return outcome

    def save(self) -> None:
        if self.ctx.is_main:
            save_checkpoint(self.job.checkpoint_path, self.step, self.model, self.ema.model, self.optimizer,
                            self.ema.updates, self.selected)
        dist_util.barrier(self.ctx)

    def _periodic_eval(self) -> None:
        record = periodic_report(self.ema.model, self.job.heldout[: self.config.eval_examples], self.job.coordinates,
                                 self.step, self.running_K)
        validation_K = self._validate()
        if validation_K is not None:
            record["validation_K"] = validation_K
        with open(self.job.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        self.callbacks.on_eval(self.step, record)

    def _validate(self) -> float | None:
        """Score the moving average on the validation examples and keep it unless it is worse
        than the best so far (selection.py)."""
        if self.validation is None:
            return None
        if self.selected is not None and self.selected.step == self.step:
            return self.selected.validation_K
        self.selected, K = self.validation.judge(self.ema.model, self.step, self.selected)
        return K


def train(job: TrainingJob, ctx: dist_util.DistContext, callbacks: TrainCallbacks | None = None,
          time_limit_minutes: float | None = None) -> Outcome:
    """Train up to the configured steps (or the time limit), resuming from the checkpoint if there is one."""
    return Trainer(job, ctx, callbacks).fit(time_limit_minutes)
