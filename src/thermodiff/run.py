"""A trained model and its record on disk; the Python API that the command line uses.

    run = thermodiff.Run.open("runs/sr")
    x = run.sample(1000, seed=0)                     # data coordinates (discrete data: levels)
    record = run.evaluate().summary()                # the bound on the held-out split, in bits
    filled = run.inpaint(observed, mask)             # posterior samples given known values
    clean = run.denoise(noisy, noise_std=0.5)
    result = run.inpaint_posterior(observed, mask, PosteriorConfig(method="smc"))   # .samples, .report (log p(y), ESS)
    boxed = run.posterior(Smooth(log_r, n=100), PosteriorConfig(method="smc"))     # any log r(x)

The run directory (see ``record.py``): config.json, heldout.npy, checkpoint.safetensors,
metrics.jsonl, evaluation.json, and for discrete data baseline.npz; it needs nothing else, from
any working directory. Every method checks its input as the command line does (one DataError
that says what is wrong). ``train`` holds the run's lock (one training process at a time) and
stops cleanly on SIGTERM and SIGINT.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .conditioning import Denoising, Evidence, Inpainting, Posterior, PosteriorConfig, denoising, inpainting, posterior
from .data import Dataset, Splits, check_examples, known_density, make_splits
from .errors import ConfigError, DataError, ThermodiffWarning
from .evaluation.baselines import parzen_baseline
from .evaluation.config import EvalConfig
from .evaluation.evaluate import Evaluation, evaluate
from .evaluation.profile import EXAMPLES as PROFILE_EXAMPLES, measure_profile, profile_record, weights_digest
from .evaluation.work import Progress, Share
from .model import DiffusionModel
from .processes import process_class
from .processes.continuous import DenoisingProfile
from .presets import PRESETS, RunConfig
from .record import RunRecord
from .sampling import sample as ancestral_sample
from .training import distributed
from .training.distributed import DistContext, default_device
from .training.loop import Outcome, TrainCallbacks, TrainingJob, train


class Run(RunRecord):
    """A run directory: its record (``RunRecord``) and what can be done with its model."""

    @classmethod
    def create(cls, path: Path, config: RunConfig, dataset: Dataset, splits: Splits | None = None) -> "Run":
        """A new run directory for ``config`` and ``dataset`` (split by ``config.data`` unless ``splits`` are given)."""
        splits = splits or make_splits(dataset.x, config.data)
        return cls.from_record(RunRecord.create(path, config, dataset, splits))

    @classmethod
    def open(cls, path: Path | str) -> "Run":
        return cls.from_record(RunRecord.open(Path(path)))

    # -- training ------------------------------------------------------------------------------
    def train(self, ctx: DistContext | None = None, callbacks: TrainCallbacks | None = None,
              time_limit_minutes: float | None = None, splits: Splits | None = None) -> tuple[Outcome, Evaluation | None]:
        """Train up to ``config.train.steps`` (or the time limit), resuming from the checkpoint, then
        (main process, unless interrupted) evaluate on the held-out split and write evaluation.json.
        The main process holds the run's lock throughout (CheckpointError if another process trains it)."""
        ctx = ctx or distributed.init()
        with self.lock() if ctx.is_main else nullcontext():
            outcome = train(self.training_job(splits), ctx, callbacks, time_limit_minutes)
            if not ctx.is_main or outcome.stopped_by == "interrupt":
                return outcome, None
            return outcome, self._final_evaluation(outcome, ctx)

    def _final_evaluation(self, outcome: Outcome, ctx: DistContext) -> Evaluation:
        evaluation = self.evaluate(device=ctx.device)
        context: dict[str, Any] = {"step": outcome.step}
        if outcome.selected is not None:
            context.update(weights_from_step=outcome.selected.step, validation_K=outcome.selected.validation_K)
        evaluation = evaluation.with_extra(**context)
        self.write_evaluation(evaluation.summary())
        return evaluation

    def training_job(self, splits: Splits | None = None) -> TrainingJob:
        """What the training loop needs of this run (``splits``: its examples, loaded again if not given)."""
        splits = splits or self.load_splits()
        return TrainingJob(config=self.config.train, build_model=self.build_model, coordinates=self.coordinates,
                           train=splits.train, heldout=splits.heldout, validation_seed=self.config.data.data_seed + 1,
                           checkpoint_path=self.checkpoint_path, metrics_path=self.metrics_path, run=self.data.digest)

    def eval_config(self, given: dict[str, Any] | None = None) -> EvalConfig:
        """The bound estimator's settings: this kind's preset, then ``given``."""
        return replace(PRESETS[self.kind].eval, **(given or {}))

    def _model(self, device: torch.device | str | None) -> DiffusionModel:
        return self.load_model().to(torch.device(device) if device else default_device())

    # -- the chain of steps ---------------------------------------------------------------------
    def chain_model(self, steps: int | None = None, device: torch.device | str | None = None,
                    progress: Progress | None = None) -> DiffusionModel:
        """The model whose time runs over steps (``DiffusionModel.with_steps``): a continuous-time
        run's ``steps``-step chain, shaped by its denoising profile."""
        model = self._model(device)
        return model.with_steps(steps, self.denoising_profile(model, progress))

    def denoising_profile(self, model: DiffusionModel | None = None, progress: Progress | None = None) -> DenoisingProfile | None:
        """A continuous-time run's profile of x_hat's error (evaluation/profile.py) for its trained
        weights: read from the run directory, else measured on training examples and stored there.
        None for a discrete-time run, or (with a warning) when the training data cannot be read."""
        if process_class(self.config.diffusion.process).discrete_time:
            return None
        model = model or self._model(None)
        digest = weights_digest(model)
        known = getattr(self, "_profile", None)
        if known is not None and known[0] == digest:
            return known[1]
        profile = self.read_profile(digest) or self._measure_profile(model, digest, progress)
        self._profile = (digest, profile)
        return profile

    def _measure_profile(self, model: DiffusionModel, digest: str, progress: Progress | None) -> DenoisingProfile | None:
        try:
            train = np.asarray(self.load_splits().train[:PROFILE_EXAMPLES], dtype=np.float64)
        except DataError as err:
            warnings.warn(ThermodiffWarning(f"{err}; without training examples to measure x_hat's error on, the "
                                            "chain of steps takes uniform times and the posterior's variance"))
            return None
        seed = self.config.data.data_seed
        x = self.coordinates.to_model(self.coordinates.dequantize(train, np.random.default_rng(seed)))
        device = next(model.parameters()).device
        profile = measure_profile(model, torch.as_tensor(x, dtype=torch.float64, device=device),
                                  torch.Generator(device=device).manual_seed(seed), progress=progress)
        self.write_profile(profile_record(profile, digest, train.shape[0]))
        return profile

    # -- sampling ------------------------------------------------------------------------------
    def sample(self, n: int, seed: int = 0, device: torch.device | str | None = None, steps: int | None = None) -> np.ndarray:
        """n exact samples of the model, in data coordinates (discrete data: integer levels);
        ``steps``: a continuous-time run's number of steps (default: its configured T)."""
        if int(n) != n or n < 1:
            raise DataError(f"the number of samples must be a positive integer, got {n}")
        model = self.chain_model(steps, device)
        dev = next(model.parameters()).device
        w, _ = ancestral_sample(model, self.data_shape, int(n), torch.Generator(device=dev).manual_seed(seed), dev)
        return self.coordinates.to_data(w.cpu().numpy())

    # -- the bound ------------------------------------------------------------------------------
    def evaluate(self, x: np.ndarray | None = None, config: EvalConfig | None = None,
                 device: torch.device | str | None = None, log_density: Callable | None = None,
                 reference: dict | None = None, parzen: bool = False, steps: int | None = None,
                 progress: Progress | None = None, ctx: DistContext | None = None, **settings: Any) -> Evaluation:
        """The bound on ``x`` (data coordinates; default: the held-out split, compared with the
        true density where a built-in knows it), with this kind's baselines. ``steps``: for a
        continuous-time run, the bound of its ``steps``-step chain instead of the continuous one.

        ``settings`` change fields of ``config`` (default: this kind's ``EvalConfig``), e.g.
        ``importance_samples=64`` (the importance-weighted bound K_iw) or ``ode=True`` (the
        probability-flow ODE's log-density, of a different model); both run on a chain of steps,
        so a continuous-time run needs ``steps``. Under torchrun (``ctx``) the examples of those
        are split across the processes, and every process returns the same evaluation, equal to
        one process's with the same seed. ``progress`` hears of long work."""
        if x is None:
            x = self.heldout()
            log_density, reference = known_density(self.config.data.source)
        x = self.check_examples(x, "the data")
        config = with_settings(config or self.eval_config(), settings)
        share = None if ctx is None else Share(ctx.rank, ctx.world_size, lambda v, sizes: distributed.gather_rows(v, sizes, ctx))
        model = self._model(ctx.device if ctx else device) if steps is None else self.chain_model(steps, ctx.device if ctx else device, progress)
        result = evaluate(model, x, self.coordinates, config, log_density=log_density, share=share, progress=progress)
        extra: dict[str, Any] = {"reference": reference} if reference else {}
        if self.coordinates.discrete:
            extra.update(self.image_baselines(x, config.eval_seed))
            if parzen:
                extra.update(parzen_baseline(self.load_splits().train, x, self.coordinates.levels, config.eval_seed))
        return result.with_extra(**extra)

    def check_examples(self, x: np.ndarray, what: str) -> np.ndarray:
        """``x`` as float64 (N, *data_shape), or one DataError that says what is wrong with it."""
        x = check_examples(x, self.data_shape, what)
        self.coordinates.check(x, what)
        return x

    # -- posteriors ------------------------------------------------------------------------------
    def inpaint(self, observed: np.ndarray, mask: np.ndarray, config: PosteriorConfig | None = None,
                device: torch.device | str | None = None, progress: Callable[[int], None] | None = None,
                steps: int | None = None) -> np.ndarray:
        """Posterior samples given the values where ``mask`` is 1: (n_samples, *observed.shape)."""
        return self.inpaint_posterior(observed, mask, config, device, progress, steps).samples

    def denoise(self, noisy: np.ndarray, noise_std: float | np.ndarray, config: PosteriorConfig | None = None,
                device: torch.device | str | None = None, progress: Callable[[int], None] | None = None,
                steps: int | None = None) -> np.ndarray:
        """Posterior samples of the clean data given y = x + N(0, noise_std^2): (n_samples, *noisy.shape)."""
        return self.denoise_posterior(noisy, noise_std, config, device, progress, steps).samples

    def inpaint_posterior(self, observed: np.ndarray, mask: np.ndarray, config: PosteriorConfig | None = None,
                          device: torch.device | str | None = None, progress: Callable[[int], None] | None = None,
                          steps: int | None = None) -> Posterior:
        """``inpaint``'s samples and, for the smc method, per example log p(known values) and the final ESS."""
        observed = np.asarray(observed, dtype=np.float64)
        result = self.posterior(self.inpainting_evidence(observed, mask), config, device, progress, steps)
        return self._shaped(result, observed.shape)

    def denoise_posterior(self, noisy: np.ndarray, noise_std: float | np.ndarray, config: PosteriorConfig | None = None,
                          device: torch.device | str | None = None, progress: Callable[[int], None] | None = None,
                          steps: int | None = None) -> Posterior:
        """``denoise``'s samples and, for the smc method, per example log p(noisy data) and the final ESS."""
        noisy = np.asarray(noisy, dtype=np.float64)
        result = self.posterior(self.denoising_evidence(noisy, noise_std), config, device, progress, steps)
        return self._shaped(result, noisy.shape)

    def inpainting_evidence(self, observed: np.ndarray, mask: np.ndarray) -> Inpainting:
        """Checked evidence: the values where ``mask`` is 1 (discrete data: at the middle of each level's bin)."""
        observed = np.asarray(observed, dtype=np.float64)
        evidence = inpainting(self.coordinates.bin_centres(observed), mask, self.data_shape)
        if self.coordinates.discrete:
            self.coordinates.check(observed[np.broadcast_to(np.asarray(mask), observed.shape).astype(bool)],
                                   "the known values")
        return evidence

    def denoising_evidence(self, noisy: np.ndarray, noise_std: float | np.ndarray) -> Denoising:
        """Checked evidence: y = x + N(0, noise_std^2) in data coordinates."""
        noisy = np.asarray(noisy, dtype=np.float64)
        return denoising(self.coordinates.bin_centres(noisy), noise_std, self.data_shape)

    def posterior(self, evidence: Evidence, config: PosteriorConfig | None = None, device: torch.device | str | None = None,
                  progress: Callable[[int], None] | None = None, steps: int | None = None) -> Posterior:
        """Posterior samples for any evidence (``inpainting_evidence``, ``denoising_evidence``, ``Smooth(log_r, n)``):
        (n_samples, N, *shape), for ``Smooth`` (n, *shape); discrete data as levels. Every method, smc
        included, runs down the chain of ``model.with_steps(steps)``: a continuous-time run's
        ``steps``-step discretization (default: its configured T)."""
        config = config or PosteriorConfig()
        model = self.chain_model(steps, device)
        result = posterior(model, self.coordinates.normalization, self.data_shape, model.process.kind, evidence, config,
                           progress=progress)
        if self.coordinates.discrete:  # back to the levels (known values v + 1/2 -> v exactly)
            return replace(result, samples=self.coordinates.floor(result.samples))
        return result

    @staticmethod
    def _shaped(result: Posterior, shape: tuple[int, ...]) -> Posterior:
        """Samples as (n_samples, *shape) for observations of ``shape`` (one example or a batch)."""
        return replace(result, samples=result.samples.reshape(-1, *shape))


def with_settings(config: EvalConfig, settings: dict[str, Any]) -> EvalConfig:
    """``config`` with some fields changed by name; an unknown name is a ConfigError that lists the valid ones."""
    valid = [f.name for f in fields(EvalConfig)]
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise ConfigError(f"unknown evaluation settings {unknown}; valid: {', '.join(valid)}")
    return replace(config, **settings)
