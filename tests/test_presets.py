"""Every default has one home: per-kind presets, the help that shows them, resuming with the same
settings, and errors that are the user's (one line) against bugs (a traceback)."""

import json

import numpy as np
import pytest

from helpers import TINY
from thermodiff import presets
from thermodiff.cli import build_parser, main
from thermodiff.data import DataConfig, load_dataset, make_splits
from thermodiff.errors import ConfigError
from thermodiff.networks import NetworkKind
from thermodiff.processes import ProcessKind
from thermodiff.schedule import ScheduleKind


def _configure(source, **given):
    data = DataConfig(source=source)
    dataset = load_dataset(data)
    return presets.configure(dataset, make_splits(dataset.x, data).train, given)


def test_each_kind_of_data_gets_its_preset_and_the_user_has_the_last_word():
    vectors = _configure("gaussian:n=300")
    assert vectors.diffusion.T == 1000 and vectors.model.network is NetworkKind.MLP and vectors.train.steps == 8000
    binary = _configure("heartbeat:n=300")
    assert binary.diffusion.process is ProcessKind.BINOMIAL and binary.diffusion.T == 2000
    assert binary.diffusion.schedule is ScheduleKind.PAPER and binary.train.validation_fraction == 0.05
    assert binary.diffusion.pi == pytest.approx(0.2, abs=0.02)  # the data's mean activity
    images = _configure("digits:n=300")
    assert images.model.network is NetworkKind.MULTISCALE and images.train.batch_size == 64
    given = _configure("heartbeat:n=300", diffusion={"T": 50}, train={"steps": 7})
    assert given.diffusion.T == 50 and given.train.steps == 7 and given.train.validation_fraction == 0.05
    gaussian_on_bits = _configure("heartbeat:n=300", diffusion={"process": ProcessKind.GAUSSIAN})
    assert gaussian_on_bits.diffusion.T == 1000 and gaussian_on_bits.train.steps == 8000


def test_settings_that_contradict_the_data_are_refused_not_overridden():
    with pytest.raises(ConfigError, match="binary data"):
        _configure("heartbeat:n=300", data={"normalization": "zscore"})
    with pytest.raises(ConfigError, match="whitening"):
        _configure("digits:n=300", data={"normalization": "whiten"})
    with pytest.raises(ConfigError, match="learn its schedule"):
        _configure("heartbeat:n=300", diffusion={"schedule": "learned"})


def test_help_states_each_kinds_default():
    train = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    text = " ".join(train.split())
    assert "(default: 1000; binary: 2000)" in text  # --T
    assert "(default: 8000; binary: 20000; binary images: 20000)" in text  # --steps
    assert "(default: mlp; images: multiscale; binary images: multiscale)" in text  # --network
    assert "(default: 1024; images: 64; binary images: 64)" in text  # --batch-size
    evaluate = " ".join(build_parser()._subparsers._group_actions[0].choices["evaluate"].format_help().split())
    assert "(default: 200; binary: 0; images: 50; binary images: 50)" in evaluate  # --t-samples


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("presets")
    np.save(root / "x.npy", np.random.default_rng(0).normal(size=(200, 2)))
    assert main(["train", str(root / "x.npy"), "--out", str(root / "run"), "--steps", "10", "--seed", "3", *TINY]) == 0
    return root


def test_resume_accepts_settings_given_again_with_the_runs_values(trained, capsys):
    root = trained
    args = ["train", str(root / "x.npy"), "--out", str(root / "run"), "--resume", "--steps", "12", "--seed", "3", *TINY]
    assert main(args) == 0
    assert json.loads((root / "run" / "evaluation.json").read_text())["step"] == 12
    capsys.readouterr()
    assert main(["train", str(root / "x.npy"), "--out", str(root / "run"), "--resume", "--seed", "4"]) == 2
    err = capsys.readouterr().err
    assert "--seed (3 in the run, 4 given)" in err and "Traceback" not in err
    # the same file by another path is the same data
    assert main(["train", str(root / "." / "x.npy"), "--out", str(root / "run"), "--resume", "--steps", "13"]) == 0


def test_only_the_users_errors_are_one_line_a_bug_keeps_its_traceback(trained, monkeypatch, capsys):
    import thermodiff.cli as cli

    def bug(args):
        raise ValueError("a bug in thermodiff")

    monkeypatch.setitem(cli.COMMANDS, "sample", bug)
    with pytest.raises(ValueError, match="a bug"):
        main(["sample", str(trained / "run"), "--out", str(trained / "s.npy")])
    monkeypatch.undo()
    assert main(["sample", str(trained / "run"), "--out", str(trained / "missing" / "s.npy")]) == 2
    assert "does not exist" in capsys.readouterr().err
