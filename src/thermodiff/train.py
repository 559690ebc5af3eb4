"""The training loop: gradient ascent on the bound K, in one process or many (torchrun + DDP).

Each step draws its batch, steps t and noise from a generator seeded by (seed, step), so a
resumed run draws exactly what the uninterrupted run would have, and every process of a
distributed run draws the same global batch and keeps its own slice of it. The loop reports
through ``TrainCallbacks``; it never prints.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from . import distributed as dist_util
from .bound import BITS_PER_NAT
from .checkpoint import Selected, load_state, save_checkpoint
from .data import DataError, Dataset, fingerprint, load_dataset, split
from .ema import EMA
from .baselines import image_baselines
from .evaluate import EvalConfig, Evaluation, evaluate
from .model import DiffusionModel
from .report import evaluation_record, write_evaluation
from .run import Run
from .selection import keep_later
from .train_config import OptimizerKind, TrainConfig

# Validation scores the set-aside examples (up to this many network evaluations' worth) at 64
# uniformly drawn steps, 2 antithetic pairs of draws, from a fixed seed: the draws are the same
# every time, so scores pair up example by example. Many examples matter more than many steps:
# overfitting moves each example's bound its own way (bernmix16: 262 examples scored at every step
# missed a decline that 900 at 64 steps showed).
VALIDATION_EVALUATIONS = 2**20
VALIDATION_ESTIMATOR = EvalConfig(trajectories=4, t_samples=64)


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
    evaluation: Evaluation | None  # the final held-out evaluation (main process only)


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
    if config.optimizer is OptimizerKind.ADAM:
        return torch.optim.Adam(params, lr=config.lr)
    if config.optimizer is OptimizerKind.RMSPROP:
        return torch.optim.RMSprop(params, lr=config.lr)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def training_data(run: Run) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """(dataset, train, heldout) of the run, in data coordinates; the data must not have changed."""
    dataset = load_dataset(run.config.data)
    if fingerprint(dataset.x) != run.data_fingerprint:
        raise DataError(f"the data of {run.config.data.source} changed since this run started; start a new run")
    train_x, heldout_x = split(dataset.x, run.config.data.heldout_fraction, run.config.data.data_seed)
    return dataset, train_x, heldout_x


class Trainer:
    def __init__(self, run: Run, ctx: dist_util.DistContext, callbacks: TrainCallbacks | None = None):
        self.run = run
        self.ctx = ctx
        self.config = run.config.train
        self.callbacks = callbacks or TrainCallbacks()
        self.dataset, train_x, heldout_x = training_data(run)
        self.validation = None
        if self.config.validation_fraction > 0:
            train_x, self.validation = split(train_x, self.config.validation_fraction, run.config.data.data_seed + 1)
        self.data = torch.as_tensor(run.normalization.forward(train_x), dtype=torch.float64, device=ctx.device)
        # discrete data: each batch adds fresh U[0, 1) noise (in model coordinates, u / std)
        self.dequantization = None if run.levels is None else torch.as_tensor(
            np.broadcast_to(1.0 / run.normalization.std, run.data_shape).copy(), dtype=torch.float64, device=ctx.device)
        self.heldout = heldout_x
        self.train_x = train_x
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            self.model: DiffusionModel = run.build_model().to(ctx.device)
        self.optimizer = make_optimizer(self.config, self.model.parameters())
        self.ema = EMA(self.model, self.config.ema_decay)
        self.selected: Selected | None = None
        self.step = 0
        if run.has_checkpoint():
            self._restore()
        self.net = (DistributedDataParallel(self.model, broadcast_buffers=False) if ctx.distributed else self.model)
        self.running_K = float("nan")

    def _restore(self) -> None:
        state = self.run.checkpoint()
        path = self.run.checkpoint_path
        load_state(self.model, state.model, path)
        load_state(self.ema.model, state.ema, path)
        self.optimizer.load_state_dict(state.optimizer)
        self.ema.updates = state.ema_updates
        self.selected = state.selected
        self.step = state.step

    # -- one step -------------------------------------------------------------------------
    def train_step(self, progress: float) -> float:
        """One optimizer step; returns this batch's estimate of K (bits/example)."""
        cfg, model, ctx = self.config, self.model, self.ctx
        gen = step_generator(cfg.seed, self.step, ctx.device)
        B = cfg.batch_size
        idx = torch.randint(self.data.shape[0], (B,), generator=gen, device=ctx.device)
        t, p = model.steps.sample(cfg.t_sampling, B, gen)
        x0 = self.data[idx]
        if self.dequantization is not None:
            x0 = x0 + torch.rand(x0.shape, generator=gen, device=ctx.device, dtype=x0.dtype) * self.dequantization
        noise = model.process.noise_like(x0, gen)
        local = ctx.local_slice(B)
        ell, u, prior = self.net(x0[local], t[local], noise[local])
        a = model.steps.cv_coefficient[t[local] - 1]
        # ell_t / p(t) + ell_prior is unbiased for -K; a_t u has mean zero (and no gradient)
        minus_K = (ell - a * u) / p[local] + prior
        loss = minus_K.mean() * BITS_PER_NAT / x0[0].numel()  # bits per dimension
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg, self.step, progress)
        self.optimizer.step()
        self.ema.update(model)
        with torch.no_grad():
            edge = torch.where(t[local] == 1, model.process.edge_reference(x0[local], model.process.table()), 0.0)
            stats = torch.stack([ell - a * u - edge, ell, u, minus_K]).detach()
            stats = dist_util.all_gather_cat(stats.T.contiguous(), ctx).T
            model.steps.update(t, stats[0], stats[1], stats[2], model.process.noise_feature_variance(x0))
        return -float(stats[3].mean()) * BITS_PER_NAT

    # -- the loop -------------------------------------------------------------------------
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
        evaluation = None
        if self.ctx.is_main and stopped_by != "interrupt":
            if self.selected is not None:
                load_state(self.ema.model, self.selected.weights, self.run.checkpoint_path)
            evaluation = self.final_eval()
        outcome = Outcome(self.step, stopped_by, time.monotonic() - start, evaluation)
        self.callbacks.on_end(outcome)
        return outcome

    def save(self) -> None:
        if self.ctx.is_main:
            save_checkpoint(self.run.checkpoint_path, self.step, self.model, self.ema.model, self.optimizer, self.ema.updates,
                            self.selected)
        dist_util.barrier(self.ctx)

    def _periodic_eval(self) -> None:
        x = self.heldout[: self.config.eval_examples]
        quick = EvalConfig(trajectories=2, t_samples=min(64, self.model.T - 1))
        summary = evaluate(self.ema.model, x, self.run.normalization, quick, levels=self.run.levels).summary()
        record = {"step": self.step, "running_K": self.running_K, **{k: summary[k] for k in ("K", "K_data", "stderr")}}
        validation_K = self._validate()
        if validation_K is not None:
            record["validation_K"] = validation_K
        with open(self.run.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        self.callbacks.on_eval(self.step, record)

    def _validate(self) -> float | None:
        """Score the moving average on the validation examples (the same draws every time, so
        scores pair up) and keep it unless it is worse than the best so far (selection.py)."""
        if self.validation is None:
            return None
        if self.selected is not None and self.selected.step == self.step:
            return self.selected.validation_K
        config = replace(VALIDATION_ESTIMATOR, t_samples=min(VALIDATION_ESTIMATOR.t_samples, self.model.T - 1))
        x = self.validation[: max(64, VALIDATION_EVALUATIONS // (config.trajectories * (config.t_samples + 1)))]
        scores = torch.as_tensor(evaluate(self.ema.model, x, self.run.normalization, config, levels=self.run.levels,
                                          uniform_steps=True).per_example_data())
        K = float(scores.mean())
        previous = self.selected
        if previous is None or previous.best is None or K > float(previous.best.mean()):
            best, best_step = scores, self.step
        elif keep_later(scores, previous.best):
            best, best_step = previous.best, previous.best_step
        else:
            return K
        weights = {k: v.detach().clone().cpu() for k, v in self.ema.model.state_dict().items()}
        self.selected = Selected(weights, self.step, K, best, best_step)
        return K

    def final_eval(self) -> Evaluation:
        config = self.run.eval_config()
        evaluation = evaluate(self.ema.model, self.heldout, self.run.normalization, config,
                              log_density=self.dataset.log_density, levels=self.run.levels)
        record = evaluation_record(evaluation, self.dataset.reference, self.step)
        if self.selected is not None:
            record.update(weights_from_step=self.selected.step, validation_K=self.selected.validation_K)
        if self.run.levels is not None:
            record.update(image_baselines(self.train_x, self.heldout, self.run.levels, config.eval_seed))
        write_evaluation(self.run, record)
        return evaluation


def train(run: Run, ctx: dist_util.DistContext, callbacks: TrainCallbacks | None = None,
          time_limit_minutes: float | None = None) -> Outcome:
    """Train ``run`` up to its configured steps (or the time limit), resuming from its checkpoint."""
    return Trainer(run, ctx, callbacks).fit(time_limit_minutes)
