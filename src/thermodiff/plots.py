"""Figures. Functions here draw arrays they are given; ``figure_*`` gather those arrays from a
run first. No math of the model lives here."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .data.images import make_grid  # noqa: E402
from .errors import DataError  # noqa: E402
from .run import Run  # noqa: E402
from .sampling import drift, forward_states, reverse_entropy, sample  # noqa: E402


def draw_trajectories(forward: dict[int, np.ndarray], reverse: dict[int, np.ndarray],
                      drifts: dict[int, tuple[np.ndarray, np.ndarray]], T: int, path: Path) -> None:
    """The paper's Figure 1: rows forward q(x_t), reverse p(x_t), drift mu(x_t) - x_t; columns t."""
    steps = sorted(forward)
    fig, axes = plt.subplots(3, len(steps), figsize=(3.2 * len(steps), 9.6), squeeze=False)
    lim = 1.05 * max(np.abs(forward[0][:, :2]).max(), 2.5)
    for j, t in enumerate(steps):
        for row, states, label in ((0, forward, "q"), (1, reverse, "p")):
            ax = axes[row, j]
            ax.scatter(states[t][:, 0], states[t][:, 1], s=1.5, alpha=0.4, color="C0" if row == 0 else "C3")
            ax.set_title(f"{label}(x_{{{t}}})" if t else f"{label}(x_0)" + (" data" if row == 0 else " samples"))
        ax = axes[2, j]
        grid, vec = drifts[t]
        ax.quiver(grid[:, 0], grid[:, 1], vec[:, 0], vec[:, 1], color="C2", angles="xy")
        ax.set_title(f"mu(x_{{{t}}}) - x_{{{t}}}")
        for ax in axes[:, j]:
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("forward diffusion")
    axes[1, 0].set_ylabel("reverse (the model)")
    axes[2, 0].set_ylabel("drift of the reverse step")
    fig.suptitle(f"Forward and reverse trajectories (T = {T}; first two dimensions, normalized)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _forward_reverse_figure(forward: dict[int, np.ndarray], reverse: dict[int, np.ndarray], show, title: str,
                            path: Path, width: float, height: float) -> None:
    """Two rows (forward q(x_t) of data, reverse p(x_t) of the model), one column per step t;
    ``show(ax, states)`` draws one panel."""
    steps = sorted(forward)
    fig, axes = plt.subplots(2, len(steps), figsize=(width * len(steps), height), squeeze=False)
    for j, t in enumerate(steps):
        for row, states, label in ((0, forward, "q"), (1, reverse, "p")):
            ax = axes[row, j]
            show(ax, states[t])
            ax.set_title(f"{label}(x_{{{t}}})" + (" data" if (t == 0 and row == 0) else " samples" if t == 0 else ""))
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("forward diffusion")
    axes[1, 0].set_ylabel("reverse (the model)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_rasters(forward: dict[int, np.ndarray], reverse: dict[int, np.ndarray], T: int, path: Path) -> None:
    """Binary data as rasters (examples down, bits across): data, forward q(x_t), reverse p(x_t)."""
    def show(ax, v):
        ax.imshow(v, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")

    _forward_reverse_figure(forward, reverse, show, f"Binomial diffusion: forward and reverse trajectories (T = {T}; "
                            "rows are examples)", path, 2.6, 6.5)


def draw_image_trajectories(forward: dict[int, np.ndarray], reverse: dict[int, np.ndarray], T: int, path: Path) -> None:
    """Images (N, C, H, W), each state scaled to [0, 1] by its own range: the forward diffusion of
    held-out images (top) and the model's reverse trajectories (bottom), columns t."""
    def show(ax, v):
        v = (v - v.min()) / max(float(v.max() - v.min()), 1e-12)
        grid = make_grid(v, ncol=int(np.ceil(np.sqrt(v.shape[0]))))
        ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, interpolation="nearest")

    _forward_reverse_figure(forward, reverse, show, f"Forward and reverse trajectories (T = {T})", path, 2.8, 6.0)


def draw_restoration(rows: list[tuple[str, np.ndarray]], peak: float, title: str, path: Path) -> None:
    """Rows of images (N, C, H, W) in data units, e.g. true, corrupted, restored (the paper's Figs. 4-5)."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(1.2 * rows[0][1].shape[0], 1.5 * len(rows)), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows):
        grid = make_grid(np.clip(images / peak, 0.0, 1.0), ncol=images.shape[0])
        ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, interpolation="nearest")
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def band_position(lower: np.ndarray, upper: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Where the learned entropy sits in eq. 24's band: 0 at the lower bound, 1 at the upper (NaN
    where the band is undefined or has no width)."""
    width = upper - lower
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isfinite(lower) & (width > 0), (model - lower) / width, np.nan)


def draw_entropy(t: np.ndarray, lower: np.ndarray, upper: np.ndarray, model: np.ndarray, path: Path) -> None:
    """Eq. 24's bounds on H_q(X_{t-1}|X_t) per dimension with the learned reverse kernel's entropy
    (top), and where the learned entropy sits inside the band, 0 to 1 (bottom): with many steps the
    band is far narrower than the line that draws it, so the top panel alone would hide it."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    finite = np.isfinite(lower)
    top.fill_between(t[finite], lower[finite], upper[finite], color="0.75", label="eq. 24 bounds on H_q(X_{t-1}|X_t)")
    top.plot(t, model, color="C3", lw=1.2, label="entropy of the learned p(x_{t-1}|x_t)")
    top.set_ylabel("nats per dimension")
    top.legend(loc="lower right")
    top.set_title("Bounds on entropy production per reverse step")
    position = band_position(lower, upper, model)
    bottom.axhspan(0.0, 1.0, color="0.9", label="inside the band")
    bottom.plot(t, position, color="C3", marker="o", ms=2.5, lw=1)
    bottom.set_ylim(min(-0.1, float(np.nanmin(position, initial=0.0)) - 0.05),
                    max(1.1, float(np.nanmax(position, initial=1.0)) + 0.05))
    bottom.set_ylabel("position in the band\n(0: lower bound, 1: upper)")
    bottom.set_xlabel("step t")
    bottom.set_xscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def entropy_steps(T: int, count: int = 64) -> list[int]:
    """About ``count`` steps of 1..T, evenly spaced in log t (the figure's x axis): a figure needs
    no more, and each costs a pass of the network over the examples."""
    return sorted({int(round(v)) for v in np.geomspace(1, T, count)})


def _steps(T: int) -> list[int]:
    return sorted({0, T // 10, T // 2, T})


def figure_trajectories(run: Run, path: Path, n: int = 2000, seed: int = 0, steps: int | None = None) -> None:
    model = run.chain_model(steps)
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    binary = not model.process.continuous  # 0/1 states: drawn as rasters
    if not (binary or run.is_images) and int(np.prod(run.data_shape)) < 2:
        raise DataError("the trajectory figure needs at least two dimensions")
    n = 16 if run.is_images else 40 if binary else n
    x0 = torch.as_tensor(run.normalization.forward(run.heldout()[:n]), dtype=torch.float64, device=device)
    steps = _steps(model.T)
    forward = forward_states(model, x0, steps, gen)
    _, reverse = sample(model, run.data_shape, x0.shape[0], gen, device, keep=steps)
    if run.is_images:
        draw_image_trajectories({t: v.cpu().numpy() for t, v in forward.items()},
                                {t: v.cpu().numpy() for t, v in reverse.items()}, model.T, path)
        return
    if binary:
        draw_rasters({t: v.cpu().numpy() for t, v in forward.items()},
                     {t: v.cpu().numpy() for t, v in reverse.items()}, model.T, path)
        return
    lim = 1.05 * max(float(x0[:, :2].abs().max()), 2.5)
    axis = torch.linspace(-lim, lim, 17, dtype=torch.float64, device=device)
    grid = torch.cartesian_prod(axis, axis)
    if x0.shape[1] > 2:  # other dimensions at their mean (zero)
        grid = torch.cat([grid, torch.zeros(grid.shape[0], x0.shape[1] - 2, dtype=grid.dtype, device=device)], 1)
    drifts = {t: (grid.cpu().numpy(), drift(model, grid, max(t, 1)).cpu().numpy()) for t in steps}
    draw_trajectories({t: v.cpu().numpy() for t, v in forward.items()},
                      {t: v.cpu().numpy() for t, v in reverse.items()}, drifts, model.T, path)


def figure_entropy(run: Run, path: Path, n: int = 512, seed: int = 0, steps: int | None = None) -> None:
    model = run.chain_model(steps)
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    x0 = torch.as_tensor(run.normalization.forward(run.heldout()[:n]), dtype=torch.float64, device=device)
    lower, upper = model.process.entropy_bounds(model.process.table(), x0)
    t = entropy_steps(model.T)
    rows = np.asarray(t) - 1
    draw_entropy(np.asarray(t), lower.detach().cpu().numpy()[rows], upper.detach().cpu().numpy()[rows],
                 reverse_entropy(model, x0, gen, t).numpy(), path)


def figure_restoration(run: Run, path: Path, kind: str, n: int = 8, seed: int = 0) -> str:
    """Held-out images, corrupted (denoise: noise at SNR 1; inpaint: the central square hidden) and
    restored by one posterior sample each (default method); returns a line with the PSNR."""
    from .conditioning import PosteriorConfig
    from .restoration import psnr, restore

    if not run.is_images:
        raise DataError(f"the {kind} figure is drawn for image runs")
    rng = np.random.default_rng(seed)
    clean = run.heldout()[:n]
    noise = run.data_std() if kind == "denoise" else None  # SNR 1: as strong as the training pixels' spread
    result = restore(run, clean, kind, PosteriorConfig(n_samples=1), rng, noise)
    peak = float(run.levels - 1) if run.levels else float(clean.max())
    draw_restoration([("true", clean), ("noisy" if kind == "denoise" else "masked", result.corrupted),
                      ("restored", result.samples[0])], peak,
                     f"{kind} with the {PosteriorConfig().method.value} posterior (one sample each)", path)
    gain = psnr(result.samples[0], clean, peak).mean()
    return f"PSNR of the restored images {gain:.2f} dB" + (
        f" (noisy input {psnr(result.corrupted, clean, peak).mean():.2f} dB)" if kind == "denoise" else "")


def draw_importance(sizes: np.ndarray, estimate: np.ndarray, stderr: np.ndarray, gain: np.ndarray,
                    gain_stderr: np.ndarray, K: float, truth: float | None, units: str, path: Path) -> None:
    """The importance-weighted bound against k (left: L_k with its standard error over examples;
    right: L_k - L_1 paired, whose error is the Monte Carlo noise alone), with K and the truth."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.errorbar(sizes, estimate, yerr=stderr, marker="o", capsize=3, color="C0", label="L_k (importance-weighted)")
    left.axhline(K, color="C3", ls="--", lw=1, label="K (one trajectory, the KL form)")
    if truth is not None:
        left.axhline(truth, color="k", lw=1, label="true log-likelihood")
    left.set_ylabel(f"log-likelihood bound ({units})")
    left.set_title("L_k = E log (1/k) sum_j w_j")
    right.errorbar(sizes, gain, yerr=gain_stderr, marker="o", capsize=3, color="C0")
    if truth is not None:
        right.axhline(truth - estimate[0], color="k", lw=1, label="truth - L_1")
        right.legend(loc="lower right")
    right.set_ylabel(f"L_k - L_1, paired ({units})")
    right.set_title("gain over one trajectory")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("k, forward trajectories per example")
    left.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_importance(run: Run, path: Path, k: int = 64, n: int = 200, steps: int | None = None) -> str:
    """L_k for k = 1, 2, 4, ..., k on the first ``n`` held-out examples (one evaluation, nested draws),
    over a chain of ``steps`` steps (default: the run's T); returns a line with the final estimate."""
    steps = run.config.diffusion.T if steps is None else steps
    evaluation = run.evaluate(run.heldout()[:n], importance_samples=k, steps=steps)
    record = evaluation.summary()
    per = evaluation.pixels or 1
    nested = {j: v.cpu().numpy() / per for j, v in evaluation.importance.nested().items()}
    sizes = np.array(sorted(nested))
    se = [v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else np.nan for v in nested.values()]
    gains = [nested[j] - nested[1] for j in sizes]
    gain_se = [g.std(ddof=1) / np.sqrt(g.size) if g.size > 1 else np.nan for g in gains]
    truth = evaluation.true_log2.mean() / per if evaluation.true_log2 is not None else None
    draw_importance(sizes, np.array([nested[j].mean() for j in sizes]), np.array(se), np.array([g.mean() for g in gains]),
                    np.array(gain_se), record["K"], truth, record["units"], path)
    return (f"K_iw (k = {k}, {record['n_examples']} examples) = {record['K_iw']:.4f} +- {record['K_iw_stderr']:.4f} "
            f"{record['units']}; K = {record['K']:.4f}; effective sample size {record['ess_mean']:.1f} of {k}")
