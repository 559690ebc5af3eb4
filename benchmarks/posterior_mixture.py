"""Posteriors with two modes: paper, diffused and smc against the exact posterior of a Gaussian mixture.

Writes a 4-D mixture of three Gaussians with full, unequal covariances whose components overlap
in the coordinates that get observed (``--examples``, 200000 by default, fixed seeds), trains on it
with default settings (``thermodiff train``; or reuses ``--run``), and for ``--observations`` held-out examples
per task whose exact posterior puts at least 15% of its mass on a second component:
- inpainting: a random half of the coordinates known;
- denoising: y = x + N(0, noise_std^2) in data coordinates (noise std 2);
draws ``--samples`` posterior samples per observation with each method and scores them against
the exact posterior, a mixture of Gaussians in closed form:
- mode masses: each sample goes to the component with the largest exact posterior responsibility;
  TV = total variation between those frequencies and the exact posterior's (200000 exact draws
  assigned the same way);
- the error of the mean over the unknown coordinates, in posterior standard deviations (worst
  coordinate), and of the covariance (relative Frobenius);
- smc: log p(y) against the exact log density of the observation, with the reported standard error;
- minutes of wall time (under whatever load the machine had).
"exact samples" are as many draws from the exact posterior: the Monte Carlo floor.

Why 200000 examples: inpainting conditions on exact values of two coordinates, so a model's
posterior there can only be as good as what it learned near those values. Trained on 18000
examples (three data seeds, default settings), a model's own posterior on six inpainting
observations was 0.015-0.026 from the exact one on average and 0.038-0.077 at worst, the worst
above the 0.05 target whatever the sampler; on 180000 examples, 0.007-0.008 and 0.016-0.031
(``benchmarks/mixture_data_size.py``).

    python benchmarks/posterior_mixture.py --out runs/bench-mixture
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal as mvn

from thermodiff.conditioning import Method, PosteriorConfig
from thermodiff.errors import DataError
from thermodiff.run import Run

D = 4


def mixture(seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights (3,), means (3, 4), covariances (3, 4, 4)): components close in the first coordinates
    (they overlap where observed), apart in the last ones; random rotations, sds 0.4-1.2."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.45, 0.35, 0.20])
    means = np.array([[1.0, 0.0, 2.5, 0.0], [-1.0, 0.5, -2.0, 1.5], [0.0, -1.0, 0.5, -2.5]])
    covs = []
    for _ in range(3):
        Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
        covs.append(Q @ np.diag(rng.uniform(0.4, 1.2, size=D) ** 2) @ Q.T)
    return weights, means, np.array(covs)


def generate(n: int = 20000, seed: int = 0) -> np.ndarray:
    weights, means, covs = mixture()
    rng = np.random.default_rng(seed)
    z = rng.choice(len(weights), n, p=weights)
    return means[z] + np.einsum("nij,nj->ni", np.linalg.cholesky(covs)[z], rng.standard_normal((n, D)))


@dataclass(frozen=True)
class Exact:
    """A posterior that is a mixture of Gaussians: weights (K,), means (K, D), covariances (K, D, D)
    (zero rows and columns at known coordinates), and log p(y)."""

    w: np.ndarray
    m: np.ndarray
    C: np.ndarray
    log_evidence: float

    @property
    def mean(self) -> np.ndarray:
        return self.w @ self.m

    @property
    def cov(self) -> np.ndarray:
        second = np.einsum("k,kij->ij", self.w, self.C + np.einsum("ki,kj->kij", self.m, self.m))
        return second - np.outer(self.mean, self.mean)

    def modes(self, x: np.ndarray, free: np.ndarray) -> np.ndarray:
        """Each sample's component of largest posterior responsibility (on the free coordinates)."""
        f = np.ix_(free, free)
        logp = np.stack([np.log(w) + mvn.logpdf(x[:, free], m[free], C[f]) for w, m, C in zip(self.w, self.m, self.C)], -1)
        return logp.argmax(-1)

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.choice(len(self.w), n, p=self.w)
        return np.stack([rng.multivariate_normal(self.m[j], self.C[j], method="eigh") for j in k])


def exact_inpainting(x: np.ndarray, known: np.ndarray) -> Exact:
    weights, means, covs = mixture()
    k, u = known, ~known
    logw, ms, Cs = [], [], []
    for pi, mu, S in zip(weights, means, covs):
        logw.append(np.log(pi) + mvn.logpdf(x[k], mu[k], S[np.ix_(k, k)]))
        gain = S[np.ix_(u, k)] @ np.linalg.inv(S[np.ix_(k, k)])
        m = x.copy()
        m[u] = mu[u] + gain @ (x[k] - mu[k])
        C = np.zeros((D, D))
        C[np.ix_(u, u)] = S[np.ix_(u, u)] - gain @ S[np.ix_(k, u)]
        ms.append(m)
        Cs.append(C)
    logw = np.array(logw)
    return Exact(np.exp(logw - logsumexp(logw)), np.array(ms), np.array(Cs), float(logsumexp(logw)))


def exact_denoising(y: np.ndarray, std: float) -> Exact:
    weights, means, covs = mixture()
    logw, ms, Cs = [], [], []
    for pi, mu, S in zip(weights, means, covs):
        logw.append(np.log(pi) + mvn.logpdf(y, mu, S + std**2 * np.eye(D)))
        C = np.linalg.inv(np.linalg.inv(S) + np.eye(D) / std**2)
        ms.append(C @ (np.linalg.solve(S, mu) + y / std**2))
        Cs.append(C)
    logw = np.array(logw)
    return Exact(np.exp(logw - logsumexp(logw)), np.array(ms), np.array(Cs), float(logsumexp(logw)))


def scores(samples: np.ndarray, exact: Exact, reference: np.ndarray) -> dict[str, float]:
    """TV of the mode masses, worst mean error (posterior sds) and relative covariance error, on the free coordinates."""
    free = np.diag(exact.cov) > 1e-12
    K = len(exact.w)
    p = np.bincount(exact.modes(reference, free), minlength=K) / len(reference)
    f = np.bincount(exact.modes(samples, free), minlength=K) / len(samples)
    sd = np.sqrt(np.diag(exact.cov)[free])
    target = exact.cov[np.ix_(free, free)]
    return {"tv": float(0.5 * np.abs(f - p).sum()),
            "mean_err": float((np.abs(samples[:, free].mean(0) - exact.mean[free]) / sd).max()),
            "cov_err": float(np.linalg.norm(np.cov(samples[:, free].T) - target) / np.linalg.norm(target))}


def observations(run: Run, task: str, count: int, noise_std: float, rng: np.random.Generator):
    """(observed, mask or None, exacts): held-out examples whose exact posterior has a second mode of >= 15%."""
    obs, masks, exacts = [], [], []
    for x in run.heldout():
        if task == "inpaint":
            known = np.zeros(D, bool)
            known[rng.choice(D, D // 2, replace=False)] = True
            y, exact = x, exact_inpainting(x, known)
        else:
            known, y = None, x + noise_std * rng.standard_normal(D)
            exact = exact_denoising(y, noise_std)
        if np.sort(exact.w)[-2] >= 0.15:
            obs.append(y)
            masks.append(known)
            exacts.append(exact)
        if len(obs) == count:
            break
    return np.array(obs), (np.array(masks) if task == "inpaint" else None), exacts


def train(args) -> Path:
    if args.run is not None:
        return args.run
    data, run_dir = args.out / f"mixture4-{args.examples}.npy", args.out / "run"
    if not data.exists():
        np.save(data, generate(args.examples))
    if (run_dir / "config.json").exists():
        try:  # the run in --out must have been trained on these examples
            Run.open(run_dir).load_splits(source=str(data))
        except DataError as e:
            raise SystemExit(f"{e}: give another --out (or --run to reuse that run)") from None
    if not (run_dir / "checkpoint.safetensors").exists():
        limit = [] if args.time_limit is None else ["--time-limit", str(args.time_limit)]
        subprocess.run([sys.executable, "-m", "thermodiff", "train", str(data), "--out", str(run_dir), *limit], check=True)
    return run_dir


def model_fit(run: Run) -> str:
    """The bound's gap to the true mean log-likelihood of the held-out split (bits per example)."""
    weights, means, covs = mixture()
    x = run.heldout()
    logp = logsumexp(np.stack([np.log(w) + mvn.logpdf(x, m, C) for w, m, C in zip(weights, means, covs)], -1), -1)
    trained = json.loads((run.path / "evaluation.json").read_text())
    truth = float(logp.mean() / np.log(2))
    return f"held-out K_data {trained['K_data']:.3f} bits, true log-likelihood {truth:.3f} bits: gap {truth - trained['K_data']:.3f}"


def sample(run: Run, method: str, particles: int, task: str, y, mask, noise_std: float, n: int):
    config = PosteriorConfig(method=Method(method), particles=particles, n_samples=n, seed=1)
    if task == "inpaint":
        return run.inpaint_posterior(y, mask, config)
    return run.denoise_posterior(y, noise_std, config)


def rows_for(run: Run, task: str, args, rng: np.random.Generator) -> list[dict]:
    y, mask, exacts = observations(run, task, args.observations, args.noise_std, rng)
    references = [e.draw(200_000, rng) for e in exacts]
    label = "inpaint (half known)" if task == "inpaint" else f"denoise (noise std {args.noise_std:g})"
    floor = [scores(e.draw(args.samples, rng), e, r) for e, r in zip(exacts, references)]
    rows = [summarize(label, "exact samples (Monte Carlo floor)", floor, 0.0)]
    methods = [(m, 1) for m in args.methods if m != "smc"] + [("smc", M) for M in args.particles if "smc" in args.methods]
    for method, M in methods:
        started = time.monotonic()
        result = sample(run, method, M, task, y, mask, args.noise_std, args.samples)
        minutes = (time.monotonic() - started) / 60
        if mask is not None:  # known values are never changed
            assert np.array_equal(result.samples[:, mask], np.broadcast_to(y[mask], result.samples[:, mask].shape))
        got = [scores(result.samples[:, i], e, r) for i, (e, r) in enumerate(zip(exacts, references))]
        name = method if method != "smc" else f"smc, M = {M}"
        rows.append(summarize(label, name, got, minutes, result.report, exacts))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def summarize(task: str, method: str, got: list[dict], minutes: float, report=None, exacts=None) -> dict:
    row = {"task": task, "method": method, "minutes": minutes}
    for key in ("tv", "mean_err", "cov_err"):
        values = [g[key] for g in got]
        row[key] = max(values)
        row[key + "_median"] = float(np.median(values))
    if report is not None:
        errors = report.log_evidence - np.array([e.log_evidence for e in exacts])
        row["log_p_y_err"] = [float(e) for e in errors]
        row["log_p_y_stderr"] = [float(s) for s in report.log_evidence_stderr]
        row["ess"] = [float(e) for e in report.ess]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-mixture"))
    parser.add_argument("--run", type=Path, default=None, help="reuse a run trained on this benchmark's mixture")
    parser.add_argument("--examples", type=int, default=200_000, help="examples drawn from the mixture (10%% held out)")
    parser.add_argument("--time-limit", type=float, default=None, help="passed to thermodiff train (default: none)")
    parser.add_argument("--observations", type=int, default=3, help="held-out observations per task")
    parser.add_argument("--samples", type=int, default=800, help="posterior samples per observation")
    parser.add_argument("--noise-std", type=float, default=2.0)
    parser.add_argument("--methods", nargs="*", default=[m.value for m in Method], choices=[m.value for m in Method])
    parser.add_argument("--particles", nargs="*", type=int, default=[1, 8, 64, 512], help="smc: M values")
    parser.add_argument("--tasks", nargs="*", default=["inpaint", "denoise"], choices=["inpaint", "denoise"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    run = Run.open(train(args))
    print(model_fit(run), flush=True)
    rows = []
    for i, task in enumerate(args.tasks):
        rows += rows_for(run, task, args, np.random.default_rng(7 + i))
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    print(f"\n{args.observations} held-out observations per task, {args.samples} posterior samples each; run {run.path}")
    print("| task | method | TV of mode masses, worst (median) | mean error, worst (median) | covariance error, worst (median) "
          "| log p(y) error (stderr) | minutes |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        evidence = "" if "log_p_y_err" not in r else ", ".join(
            f"{e:+.3f} ({s:.3f})" for e, s in zip(r["log_p_y_err"], r["log_p_y_stderr"]))
        print(f"| {r['task']} | {r['method']} | {r['tv']:.3f} ({r['tv_median']:.3f}) | {r['mean_err']:.3f} "
              f"({r['mean_err_median']:.3f}) sd | {100 * r['cov_err']:.1f}% ({100 * r['cov_err_median']:.1f}%) | {evidence} "
              f"| {r['minutes']:.1f} |")


if __name__ == "__main__":
    main()
