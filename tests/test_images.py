"""Images end to end: 8-bit data through dequantization, the multi-scale network, bits/pixel and
bits/dim, the Gaussian baseline, sample grids. Tiny images and a few steps only."""

import json
import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from thermodiff.evaluation.baselines import gaussian_log2_density, parzen_log2_density
from thermodiff.cli import main
from thermodiff.run import Run

TINY_IMAGES = ["--T", "20", "--channels", "8", "--multiscale-layers", "1", "--pointwise-layers", "1", "--time-bumps", "4",
               "--norm-groups", "2", "--batch-size", "16", "--eval-every", "50", "--eval-examples", "16", "--steps", "4",
               "--heldout-fraction", "0.2"]


def test_gaussian_baseline_and_parzen_match_direct_formulas():
    rng = np.random.default_rng(0)
    train = rng.multivariate_normal([1.0, -1.0, 0.0], [[2, 0.5, 0], [0.5, 1, 0.2], [0, 0.2, 0.5]], size=5000)
    test = train[:7] + 0.1
    mean, cov = train.mean(0), np.cov(train.T)
    assert np.allclose(gaussian_log2_density(train, test), multivariate_normal(mean, cov).logpdf(test) / math.log(2), atol=1e-6)
    sigma = 0.7
    direct = np.log(np.mean([multivariate_normal(c, sigma**2 * np.eye(3)).pdf(test) for c in train[:50]], axis=0)) / math.log(2)
    assert np.allclose(parzen_log2_density(train[:50], test, sigma), direct, atol=1e-9)


def test_builtin_images_train_evaluate_sample_and_plot(tmp_path, capsys):
    run_dir = tmp_path / "dl"
    assert main(["train", "deadleaves:size=8,n=120", "--out", str(run_dir), *TINY_IMAGES]) == 0
    run = Run.open(run_dir)
    assert run.levels == 256 and run.data_shape == (1, 8, 8) and run.config.model.network.value == "multiscale"
    assert run.config.diffusion.T == 20 and run.config.data.normalization.value == "zscore"
    capsys.readouterr()
    per_example = tmp_path / "per.npy"
    assert main(["evaluate", str(run_dir), "--json", "--t-samples", "4", "--per-example", str(per_example)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["units"] == "bits/pixel" and record["n_examples"] == 24
    for key in ("K", "K_minus_L_null", "stderr", "bits_per_dim", "gaussian_bits_per_dim"):
        assert np.isfinite(record[key]), key
    # bits/dim of the discrete data: minus the per-example bounds (bits, grey-level units) over 64 dimensions,
    # and K_data per pixel times 64 pixels is the same total
    totals = np.load(per_example)
    assert math.isclose(record["bits_per_dim"], -totals.mean() / 64, rel_tol=1e-9)
    assert math.isclose(record["K_data"] * 64, totals.mean(), rel_tol=1e-9)
    out = tmp_path / "s.npy"
    assert main(["sample", str(run_dir), "--n", "4", "--out", str(out), "--png", str(tmp_path / "grid.png")]) == 0
    samples = np.load(out)
    assert samples.dtype == np.uint8 and samples.shape == (4, 1, 8, 8)
    from PIL import Image

    assert Image.open(tmp_path / "grid.png").size == (2 * 9 + 1, 2 * 9 + 1)
    assert main(["plot", str(run_dir), "--out", str(tmp_path / "traj.png")]) == 0
    assert (tmp_path / "traj.png").stat().st_size > 1000


def test_user_images_from_npy_and_from_a_folder(tmp_path, capsys):
    rng = np.random.default_rng(1)
    np.save(tmp_path / "imgs.npy", rng.integers(0, 256, size=(60, 6, 6), dtype=np.uint8))  # (N, H, W) uint8: 8-bit grey
    assert main(["train", str(tmp_path / "imgs.npy"), "--out", str(tmp_path / "a"), *TINY_IMAGES]) == 0
    assert Run.open(tmp_path / "a").data_shape == (1, 6, 6) and Run.open(tmp_path / "a").levels == 256
    from PIL import Image

    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(30):
        Image.fromarray(rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    assert main(["train", str(folder), "--out", str(tmp_path / "b"), "--image-size", "8", *TINY_IMAGES]) == 0
    assert Run.open(tmp_path / "b").data_shape == (3, 8, 8)
    capsys.readouterr()
    # evaluate --data accepts what train accepts, and refuses images that do not fit the run
    assert main(["evaluate", str(tmp_path / "b"), "--data", str(folder), "--json", "--t-samples", "2", "--max-examples", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["n_examples"] == 5
    assert main(["evaluate", str(tmp_path / "a"), "--data", str(folder), "--t-samples", "2"]) == 2
    assert "shape" in capsys.readouterr().err


def test_standard_sets_say_where_their_files_go(tmp_path, capsys):
    assert main(["train", "mnist", "--out", str(tmp_path / "m")]) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert main(["train", "cifar10", "--data-dir", str(tmp_path), "--out", str(tmp_path / "c")]) == 2
    assert "data_batch_1" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--normalization", "whiten"]])
def test_images_refuse_whitening(tmp_path, capsys, option):
    assert main(["train", "digits", "--out", str(tmp_path / "d"), *TINY_IMAGES, *option]) == 2
    assert "whiten" in capsys.readouterr().err


def test_image_posteriors_png_in_and_out_and_the_restoration_figure(tmp_path, capsys):
    from PIL import Image

    run_dir = tmp_path / "dl"
    assert main(["train", "deadleaves:size=8,n=120", "--out", str(run_dir), *TINY_IMAGES]) == 0
    image = Run.open(run_dir).heldout()[0, 0].astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "obs.png")
    mask = np.zeros((8, 8), np.uint8)
    mask[:, :4] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "filled.npy"
    assert main(["inpaint", str(run_dir), "--data", str(tmp_path / "obs.png"), "--mask", str(tmp_path / "mask.png"),
                 "--n-samples", "2", "--out", str(out), "--png", str(tmp_path / "filled.png")]) == 0
    filled = np.load(out)
    assert filled.dtype == np.uint8 and filled.shape == (2, 1, 8, 8)
    assert np.array_equal(filled[:, 0, :, :4], np.broadcast_to(image[:, :4], (2, 8, 4)))  # known pixels kept exactly
    assert (tmp_path / "filled.png").exists()
    assert main(["denoise", str(run_dir), "--data", str(tmp_path / "obs.png"), "--noise-std", "40", "--n-samples", "2",
                 "--out", str(out)]) == 0
    Image.fromarray(np.zeros((9, 9), np.uint8)).save(tmp_path / "wrong.png")
    capsys.readouterr()
    assert main(["denoise", str(run_dir), "--data", str(tmp_path / "wrong.png"), "--noise-std", "40", "--out", str(out)]) == 2
    assert "9x9 pixels" in capsys.readouterr().err
    for kind in ("denoise", "inpaint"):
        assert main(["plot", str(run_dir), "--kind", kind, "--out", str(tmp_path / f"{kind}.png")]) == 0
        assert "PSNR" in capsys.readouterr().out


def test_the_image_posterior_benchmark_scores_paper_and_smc_beside_the_baselines(tmp_path, capsys, monkeypatch):
    """benchmarks/posterior_images.py on a tiny run: a row per task for paper, smc and the linear
    baseline (it once read the training split in a form the restoration baselines could not use)."""
    import importlib.util
    import sys
    from pathlib import Path

    run_dir = tmp_path / "dl"
    assert main(["train", "deadleaves:size=8,n=120", "--out", str(run_dir), *TINY_IMAGES]) == 0
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "posterior_images.py"
    spec = importlib.util.spec_from_file_location("posterior_images", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    monkeypatch.setattr(sys, "argv", ["posterior_images.py", str(run_dir), "--images", "2", "--samples", "2",
                                      "--methods", "paper", "smc, M = 4"])
    capsys.readouterr()
    benchmark.main()
    out = capsys.readouterr().out
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| task")]
    scores = {(task, method): float(score.split()[0]) for task, method, score, *_ in rows}
    expected = {("denoise", m) for m in ("noisy input", "Wiener filter (fitted Gaussian)", "paper", "smc, M = 4")}
    expected |= {("inpaint", m) for m in ("Gaussian conditional mean", "paper", "smc, M = 4")}
    assert set(scores) == expected, out
    assert all(math.isfinite(v) and v > 0 for v in scores.values()), out
    assert f"noise std {Run.open(run_dir).data_std():.1f} (SNR 1)" in out
