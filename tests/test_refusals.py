"""Runs that survive (issue 15), the command line's side: outputs checked before the work (item 7),
one clear line for bad input (8), what was inferred about the data said first (9), strict JSON
(10), schedules that learn only what they can (12), the demo's figures (13), and data larger than
memory kept as stored.
"""

import json
import math

import numpy as np
import pytest
import torch

from helpers import TINY
from thermodiff.cli import main
from thermodiff.data import DataConfig, load_dataset, make_splits
from thermodiff.data.examples import Examples
from thermodiff.presets import configure
from thermodiff.run import Run
from thermodiff.schedule import Schedule, ScheduleKind
from thermodiff.training import distributed
from thermodiff.training.loop import Trainer

TINY_IMAGES = ["--T", "20", "--channels", "8", "--multiscale-layers", "1", "--pointwise-layers", "1", "--time-bumps", "4",
               "--norm-groups", "2", "--batch-size", "16", "--eval-every", "50", "--eval-examples", "16", "--steps", "4"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("refusals")
    rng = np.random.default_rng(0)
    np.save(root / "x.npy", rng.normal(size=(300, 2)))
    np.save(root / "img.npy", rng.integers(0, 256, size=(60, 1, 8, 8), dtype=np.uint8))
    np.save(root / "f3.npy", rng.normal(size=(200, 5, 7)))
    np.save(root / "u16.npy", rng.integers(0, 65536, size=(60, 1, 8, 8), dtype=np.uint16))
    (root / "garbage.png").write_bytes(b"not a png")
    assert main(["train", str(root / "x.npy"), "--out", str(root / "run"), "--steps", "20", *TINY]) == 0
    assert main(["train", str(root / "img.npy"), "--out", str(root / "irun"), *TINY_IMAGES]) == 0
    return root


def refused(argv, capsys) -> str:
    """The one line a refused command prints (exit 2, no traceback)."""
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def no_work(monkeypatch, *names):
    """Make the named Run methods fail the test if called: the output must be checked before."""
    for name in names:
        monkeypatch.setattr(Run, name, lambda *a, **k: pytest.fail(f"Run.{name} ran before the output was checked"))


# -- 7. outputs checked before the work; the path written is the path printed -----------------------
def test_outputs_are_checked_before_sampling_or_evaluating(root, tmp_path, monkeypatch, capsys):
    no_work(monkeypatch, "sample", "evaluate")
    assert "does not exist" in refused(["sample", root / "run", "--out", tmp_path / "missing" / "s.npy"], capsys)
    assert "not images" in refused(["sample", root / "run", "--out", tmp_path / "s.npy", "--png", tmp_path / "s.png"],
                                   capsys)
    assert not (tmp_path / "s.npy").exists()
    assert "cannot write" in refused(["evaluate", root / "run", "--per-example", "/proc/such.npy"], capsys)
    (tmp_path / "afile").write_text("")
    assert "does not exist" in refused(["evaluate", root / "run", "--per-example", tmp_path / "afile" / "p.npy"], capsys)


def test_the_path_printed_is_the_path_written(root, tmp_path, capsys):
    assert main(["sample", str(root / "run"), "--n", "5", "--out", str(tmp_path / "foo")]) == 0
    assert f"{tmp_path / 'foo.npy'}" in capsys.readouterr().out
    assert np.load(tmp_path / "foo.npy").shape == (5, 2)


# -- 8. one clear line, not a traceback; bad values refused, not accepted ----------------------------
@pytest.mark.parametrize("flags, says", [
    (["--bumps", "0"], "bumps"), (["--time-limit", "-1"], "time-limit"), (["--width", "0"], "width"),
    (["--ema-decay", "1.5"], "ema_decay"), (["--grad-clip", "-1"], "grad_clip")])
def test_bad_settings_are_refused_in_one_line(root, tmp_path, capsys, flags, says):
    assert says in refused(["train", root / "x.npy", "--out", tmp_path / "r", *TINY, *flags], capsys)
    assert not (tmp_path / "r").exists()


def test_bad_paths_and_files_are_refused_in_one_line(root, tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    assert "is a file" in refused(["train", root / "x.npy", "--out", tmp_path / "afile", *TINY], capsys)
    assert (tmp_path / "afile").read_text() == "mine"
    assert "at least 1" in refused(["evaluate", root / "run", "--max-examples", "-5"], capsys)
    assert "garbage.png" in refused(["inpaint", root / "irun", "--data", root / "garbage.png", "--mask",
                                     root / "garbage.png", "--out", tmp_path / "g.npy"], capsys)


@pytest.mark.parametrize("text", ["[1, 2]", "{}", '{"format": "thermodiff-run"}', "{not json"])
def test_a_config_that_is_not_a_runs_is_refused_in_one_line(root, tmp_path, capsys, text):
    import shutil

    shutil.copytree(root / "run", tmp_path / "run")
    (tmp_path / "run" / "config.json").write_text(text)
    assert "config.json" in refused(["evaluate", tmp_path / "run"], capsys)


def test_a_changed_T_says_what_differs_in_full(root, tmp_path, capsys):
    import shutil

    shutil.copytree(root / "run", tmp_path / "run")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    config["config"]["diffusion"]["T"] = 30
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    err = refused(["evaluate", tmp_path / "run"], capsys)
    assert "(20,) in the checkpoint, (30,) in the model" in err and err.endswith("changed after training?")


# -- 9. what was inferred about the data, first; flags that say it -----------------------------------
@pytest.mark.parametrize("name, flags, first", [
    ("f3.npy", [], "grey images 5x7, continuous values (from float64 (200, 5, 7); --kind vectors"),
    ("f3.npy", ["--kind", "vectors"], "vectors of 35 values, continuous values"),
    ("u16.npy", [], "continuous values (integers stored as uint16: --levels N"),
    ("u16.npy", ["--levels", "65536"], "65536 discrete levels (dequantized; scored in bits/dim too)")])
def test_train_says_first_how_it_read_the_data(root, tmp_path, capsys, name, flags, first):
    assert main(["train", str(root / name), "--out", str(tmp_path / "r"), *TINY_IMAGES, "--steps", "1", *flags]) == 0
    assert first in capsys.readouterr().out.splitlines()[0]


# -- 10. strict JSON: null where no value can be estimated, and why in the text ----------------------
def test_evaluate_json_is_strict_and_the_text_says_why_a_value_is_missing(root, capsys):
    def no_constants(name):
        raise AssertionError(f"{name} in --json output")

    capsys.readouterr()
    assert main(["evaluate", str(root / "irun"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out, parse_constant=no_constants)
    assert record["mc_stderr_per_example"] is None and record["trajectories"] == 2
    assert main(["evaluate", str(root / "irun"), "--json", "--max-examples", "1"]) == 0
    assert json.loads(capsys.readouterr().out, parse_constant=no_constants)["stderr"] is None
    assert main(["evaluate", str(root / "irun"), "--max-examples", "1"]) == 0
    text = capsys.readouterr().out
    assert "one example has no spread" in text and "antithetic pair" in text


# -- 12. a learned schedule only where it has a gradient, and beta inside (0, 1) ---------------------
def test_binomial_refuses_a_learned_schedule_in_one_line(tmp_path, capsys):
    err = refused(["train", "heartbeat:n=300", "--out", tmp_path / "b", "--schedule", "learned"], capsys)
    assert "no gradient with respect to beta" in err
    assert not (tmp_path / "b").exists()


def test_a_learned_beta_stays_inside_0_1_however_far_training_pushes_it():
    schedule = Schedule(ScheduleKind.LEARNED, T=10, beta_1=1e-3)
    for push in (1e4, -1e4):
        with torch.no_grad():
            schedule.theta.fill_(push)
        table = schedule.table()
        beta = table.beta[1:]  # beta_1..T (index 0 is t = 0)
        assert bool(((beta > 0) & (beta < 1)).all()), beta
        assert bool(torch.isfinite(table.beta_tilde).all() & (table.alpha_bar > 0).all())
        table.alpha_bar[-1].backward()
        assert torch.isfinite(schedule.theta.grad).all()
        schedule.theta.grad = None


# -- 13. the entropy figure: cheap, and the band visible -------------------------------------------
def test_the_entropy_figure_draws_where_the_learned_entropy_sits_in_the_band():
    from thermodiff.plots import band_position, entropy_steps

    lower, upper = np.array([-np.inf, 1.0, 1.0, 2.0]), np.array([0.5, 2.0, 1.0, 3.0])
    position = band_position(lower, upper, np.array([0.0, 1.25, 1.0, 3.5]))
    assert np.isnan(position[0]) and np.isnan(position[2])  # no band: undefined; no width: undefined
    assert position[1] == 0.25 and position[3] == 1.5
    steps = entropy_steps(1000)
    assert steps[0] == 1 and steps[-1] == 1000 and len(steps) <= 64


def test_the_entropy_figure_evaluates_a_subsample_of_steps(root, tmp_path, monkeypatch):
    from thermodiff import plots

    calls = []
    real = plots.reverse_entropy
    monkeypatch.setattr(plots, "reverse_entropy", lambda model, x0, gen, t: calls.append(len(t)) or real(model, x0, gen, t))
    run_ = Run.open(root / "run")
    plots.figure_entropy(run_, tmp_path / "e.png", n=16)
    assert (tmp_path / "e.png").stat().st_size > 0 and calls and calls[0] <= 64


# -- data larger than memory: 8-bit stays 8-bit, a .npy is memory-mapped, a batch is converted alone --
def test_eight_bit_data_stay_eight_bit_and_memory_mapped_and_batches_are_converted_alone(root, tmp_path):
    data = DataConfig(source=str(root / "img.npy"))
    dataset = load_dataset(data)
    assert dataset.x.dtype == np.uint8 and isinstance(dataset.x, np.memmap)
    splits = make_splits(dataset.x, data)
    assert isinstance(splits.train, Examples) and isinstance(splits.train.source, np.memmap)
    run_ = Run.create(tmp_path / "r", configure(dataset, splits.train, {}), dataset, splits)
    trainer = Trainer(run_.training_job(splits), distributed.init())
    assert trainer.data.resident is None  # nothing converted ahead of the batches
    idx = torch.tensor([3, 0, 7])
    whole = run_.coordinates.to_model(np.asarray(splits.train, dtype=np.float64))
    assert torch.equal(trainer.data.batch(idx.to(trainer.ctx.device)).cpu(), torch.as_tensor(whole[idx.numpy()]))


def test_rows_of_a_memory_mapped_file_are_read_from_the_file_as_stored(root, tmp_path):
    from thermodiff.data.examples import FileRows

    x = np.load(root / "img.npy", mmap_mode="r")
    grey = x.reshape(60, 8, 8)  # a view, as (N, H, W) arrays are read
    for array in (x, grey, x[5:]):
        where = FileRows.of(array)
        assert where is not None and where.row_bytes == 64
        examples = Examples(array, np.array([7, 2, 2, 40]))
        assert np.array_equal(examples[:], np.asarray(array)[[7, 2, 2, 40]]) and examples[1].shape == array.shape[1:]
        run = Examples(array, np.arange(3, 9))  # consecutive rows: one read
        assert np.array_equal(run[:], np.asarray(array)[3:9])
    assert FileRows.of(np.zeros((3, 2))) is None and FileRows.of(x[:, :, ::2]) is None
