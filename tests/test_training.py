"""A small model trained for a few seconds: its samples have the data's moments."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from thermodiff.training import distributed
from thermodiff.data import DataConfig, load_dataset
from thermodiff.networks import MLPConfig
from thermodiff.processes import DiffusionConfig
from thermodiff.networks import ModelConfig
from thermodiff.presets import RunConfig
from thermodiff.run import Run
from thermodiff.sampling import sample
from thermodiff.training.config import OptimizerKind, TrainConfig


def test_samples_match_the_data_moments(tmp_path):
    sd = np.array([2.0, 1.0])
    cov = np.array([[1.0, 0.8], [0.8, 1.0]]) * np.outer(sd, sd)
    x = np.random.default_rng(0).multivariate_normal([2.0, -1.0], cov, size=4000)
    np.save(tmp_path / "x.npy", x)
    config = RunConfig(
        DataConfig(source=str(tmp_path / "x.npy")),
        DiffusionConfig(T=50),
        ModelConfig(mlp=MLPConfig(width=64, depth=2, bumps=8)),
        TrainConfig(steps=600, batch_size=256, eval_every=10_000, checkpoint_every=10_000),
    )
    run = Run.create(tmp_path / "run", config, load_dataset(config.data))
    run.train(distributed.init())
    model = Run.open(tmp_path / "run").load_model()
    z, _ = sample(model, (2,), 4000, torch.Generator().manual_seed(0), torch.device("cpu"))
    s = run.normalization.inverse(z.numpy())
    n = s.shape[0]
    # sampling error of a mean is std / sqrt(n); allow that plus a small model error
    assert np.all(np.abs(s.mean(0) - x.mean(0)) < 4 * x.std(0) / np.sqrt(n) + 0.05 * x.std(0))
    rel = np.linalg.norm(np.cov(s.T) - np.cov(x.T)) / np.linalg.norm(np.cov(x.T))
    assert rel < 0.1, rel


def _tiny_run(tmp_path, **diffusion):
    x = np.random.default_rng(1).normal(size=(500, 2)) * [2.0, 0.5]
    np.save(tmp_path / "x.npy", x)
    config = RunConfig(
        DataConfig(source=str(tmp_path / "x.npy")),
        DiffusionConfig(T=30, **diffusion),
        ModelConfig(mlp=MLPConfig(width=32, depth=1, bumps=4)),
        TrainConfig(steps=60, batch_size=128, eval_every=30, checkpoint_every=1000),
    )
    return Run.create(tmp_path / "run", config, load_dataset(config.data))


def test_learned_schedule_moves_beta_and_keeps_beta_1(tmp_path):
    run = _tiny_run(tmp_path, schedule="learned", beta_1=1e-4)
    outcome, evaluation = run.train(distributed.init())
    model = Run.open(tmp_path / "run").load_model(ema=False)
    with torch.no_grad():
        table = model.process.table()
    start = torch.tensor(np.r_[1e-4, 1.0 / (30 - np.arange(2, 31) + 1.0)])
    assert float(table.beta[1]) == 1e-4
    assert not torch.allclose(table.beta[2:-1], start[1:-1].to(table.beta.dtype), rtol=1e-6)
    assert np.isfinite(evaluation.summary()["K"])


def test_paper_parameterization_and_rmsprop_train(tmp_path):
    run = _tiny_run(tmp_path, parameterization="paper")
    run = run.with_config(RunConfig(run.config.data, run.config.diffusion, run.config.model,
                                    TrainConfig(steps=60, batch_size=128, optimizer=OptimizerKind.RMSPROP, lr=1e-3,
                                                eval_every=30, checkpoint_every=1000)))
    run.save_config()
    outcome, evaluation = run.train(distributed.init())
    first = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])["K"]
    assert np.isfinite(first) and evaluation.summary()["K"] > first - 1.0


def test_validation_split_keeps_weights_that_evaluate_and_sample_use(tmp_path):
    """With --validation-fraction, every evaluation scores the moving average on the set-aside
    examples; the weights kept are stored in the checkpoint, and evaluate/sample load them."""
    run = _tiny_run(tmp_path)
    run = run.with_config(RunConfig(run.config.data, run.config.diffusion, run.config.model,
                                    TrainConfig(steps=90, batch_size=128, eval_every=30, checkpoint_every=1000,
                                                validation_fraction=0.2)))
    run.save_config()
    outcome, evaluation = run.train(distributed.init())
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    scores = {r["step"]: r["validation_K"] for r in records if "validation_K" in r}
    assert sorted(scores) == [30, 60, 90]
    state = Run.open(tmp_path / "run").checkpoint()
    assert state.selected.validation_K == scores[state.selected.step]
    assert state.selected.best_step == max(scores, key=scores.get)  # the reference later weights are held to
    assert state.selected.best.mean().item() == pytest.approx(max(scores.values()))
    written = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert written["weights_from_step"] == state.selected.step
    model = Run.open(tmp_path / "run").load_model()
    for name, value in model.state_dict().items():
        assert torch.equal(value, state.selected.weights[name])
    assert evaluation.estimate.K.shape[0] == run.heldout().shape[0]


def test_validation_keeps_the_latest_unless_clearly_worse_than_the_best(tmp_path, monkeypatch):
    """Scripted per-example validation bounds: a later score within the noise of the best is kept
    (it trained longer); one clearly below the best is not, and neither is one that drifted below
    it in steps each within the noise of the one before."""
    from types import SimpleNamespace

    import thermodiff.training.selection as selection_module
    from thermodiff.training.loop import Trainer

    run = _tiny_run(tmp_path)
    run = run.with_config(RunConfig(run.config.data, run.config.diffusion, run.config.model,
                                    TrainConfig(steps=10, validation_fraction=0.2)))
    trainer = Trainer(run.training_job(), distributed.init())
    rng = np.random.default_rng(0)
    noise, r1, r2 = ((v - v.mean()) / v.std(ddof=1) for v in rng.normal(size=(3, 200)))  # mean 0, sd 1 exactly
    best = -2.0 + noise
    # paired differences with sd 0.1 over 200 examples: standard error 0.0071, two of them 0.0141
    script = {1: -3.0 + noise, 2: best, 3: best - 0.010 + 0.1 * r1,  # within the noise of the best: kept
              4: best - 1.0,  # clearly worse: not kept
              5: best - 0.012 + 0.1 * r1,  # still within the noise of the best: kept
              6: best - 0.026 + 0.1 * r2}  # within the noise of step 5's, but not of the best's: not kept
    monkeypatch.setattr(selection_module, "evaluate", lambda *a, **k: SimpleNamespace(per_example_data=lambda: script[trainer.step]))
    kept = []
    for step in script:
        trainer.step = step
        trainer._validate()
        kept.append(trainer.selected.step)
    assert kept == [1, 2, 3, 3, 5, 5]
    assert trainer.selected.best_step == 2
    trainer.save()  # the reference survives a restart
    restored = Run.open(run.path).checkpoint().selected
    assert (restored.step, restored.best_step) == (5, 2) and torch.equal(restored.best, torch.as_tensor(best))
    # a checkpoint written before reference scores were kept: the next score becomes the reference
    trainer.selected = replace(trainer.selected, best=None, best_step=None)
    trainer.step = 7
    script[7] = best - 1.0
    trainer._validate()
    assert (trainer.selected.step, trainer.selected.best_step) == (7, 7)


def test_keep_later_is_a_paired_test():
    from thermodiff.training.selection import keep_later

    rng = np.random.default_rng(1)
    best = torch.as_tensor(rng.normal(size=400))  # wide spread across examples...
    shift = torch.as_tensor(0.01 * rng.normal(size=400))
    assert not keep_later(best - 0.01 + shift, best)  # ...but paired, a shift of 0.01 is 20 standard errors
    assert keep_later(best + shift, best) and keep_later(best + 0.5, best)
