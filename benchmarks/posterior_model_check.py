"""Inpainting on the 4-D mixture: is smc's mode-mass error the model's or the sampler's?

``benchmarks/posterior_mixture.py`` finds that smc's inpainting mode masses do not approach the
exact posterior's as M grows (TV 0.077 at M = 512), and that its log p(y) sits ~0.2 nats below the
exact one. smc converges to the MODEL's posterior p_model(x_u | x_k), so if the model's posterior
mode masses are themselves off by ~0.07, the sampler is right and the model is wrong. This script
measures the model's posterior mode masses and evidence without smc, for one held-out inpainting
observation chosen as that benchmark chooses them (same rng seed 7, same known/unknown mask, same
">= 15% on a second mode" filter; ``--observation i`` is the benchmark's i-th):

- proposal: ``--draws`` x_u from the exact posterior p_true(x_u | x_k) (a mixture of Gaussians);
- weights: w = p_model(x) / p_true(x) for x = (x_k, x_u), where log p_model(x) is the
  importance-weighted bound L_k (``Run.evaluate(x, importance_samples=k)``, per example, data
  coordinates, bits -> nats) and log p_true(x) the mixture's exact density. Since
  p_model(x_u | x_k) / p_true(x_u | x_k) is proportional to w, self-normalized weights turn the
  exact posterior into the model's, and E[w] = p_model(x_k) / p_true(x_k), so
  log p_model(y) = log p_true(y) + log mean(w);
- mode masses: each draw goes to the component of largest exact posterior responsibility (as the
  benchmark assigns samples); the model's masses are the weighted frequencies, the truth's the
  unweighted ones of the same draws (paired: their difference is precise) and of 200000 more;
  "truth + shift" (the difference estimator) adds the paired difference to the 200000 draws'
  masses: the model's masses with about the paired difference's small error;
- standard errors: delta method for the ratio estimator, and a bootstrap over the draws for TVs;
- smc at each ``--particles`` M through the benchmark's own ``sample`` (seed 1, ``--samples``
  samples), its mode masses (binomial stderr, and the spread over its independent systems when
  there are several), its log p(y) with the reported stderr;
- TVs between truth, model and each smc run, and log p(y): exact, model (this reweighting), smc.

The model's log-densities are lower bounds: L_k is below log p_model(x) by roughly
var(trajectory weights) / 2k, small for k = 64 on these sets. The masses are also reported with
L_1, L_4, L_16 from the same trajectories: if they agree with L_64, that bias does not matter.
Work is cached in ``--out`` (draws, per-chunk log-densities, smc samples), so an interrupted run
resumes where it stopped.

    OMP_NUM_THREADS=1 python benchmarks/posterior_model_check.py --run runs/bench-mixture/run \\
        --out runs/model-check --observation 0 --draws 2000 --particles 512 64
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal as mvn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import posterior_mixture as pm  # noqa: E402

from thermodiff.run import Run  # noqa: E402

NATS_PER_BIT = math.log(2.0)
BOOTSTRAPS = 2000


# -- the observation and the truth ---------------------------------------------------------------
def observation(run: Run, index: int, noise_std: float = 2.0) -> tuple[np.ndarray, np.ndarray, pm.Exact]:
    """The benchmark's ``index``-th inpainting observation (rng seed 7, as its first task): (x, known mask, exact posterior)."""
    y, masks, exacts = pm.observations(run, "inpaint", index + 1, noise_std, np.random.default_rng(7))
    return y[index], masks[index], exacts[index]


def log_true_density(x: np.ndarray) -> np.ndarray:
    """log p_true(x) in nats for full vectors x (N, 4): the mixture's exact density."""
    weights, means, covs = pm.mixture()
    return logsumexp(np.stack([np.log(w) + mvn.logpdf(x, m, C) for w, m, C in zip(weights, means, covs)], -1), -1)


def proposal(exact: pm.Exact, n: int, seed: int) -> np.ndarray:
    """n full vectors (x_k, x_u) with x_u drawn from the exact posterior."""
    return exact.draw(n, np.random.default_rng(seed))


def assign(exact: pm.Exact, x: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Each vector's mode, as the benchmark assigns them (largest exact responsibility on the unknown coordinates)."""
    return exact.modes(x, ~known)


# -- the model's log-density ---------------------------------------------------------------------
def model_log_density(run: Run, x: np.ndarray, k: int, seed: int) -> dict[str, np.ndarray]:
    """Per example: L_j (j = 1, 2, 4, ..., k) in nats, data coordinates, and the trajectories' ESS (of k)."""
    ev = run.evaluate(x, importance_samples=k, eval_seed=seed)
    out = {f"L{j}": (ev.importance.bound(j).cpu().numpy() + ev.log2_jacobian) * NATS_PER_BIT
           for j in sorted(ev.importance.nested())}
    out["traj_ess"] = ev.importance.ess().cpu().numpy()
    return out


def cached_model_log_density(run: Run, x: np.ndarray, k: int, chunk: int, cache: Path, deadline: float) -> dict[str, np.ndarray]:
    """``model_log_density`` chunk by chunk (each chunk its own eval seed), cached in ``cache``; stops
    at ``deadline`` (time.monotonic) with the chunks done so far."""
    cache.mkdir(parents=True, exist_ok=True)
    parts = []
    for c, start in enumerate(range(0, len(x), chunk)):
        path = cache / f"chunk{c:03d}_k{k}_n{chunk}.npz"
        if not path.exists():
            if time.monotonic() > deadline:
                print(f"deadline: stopped after {c} chunks ({start} draws)", flush=True)
                break
            started = time.monotonic()
            part = model_log_density(run, x[start:start + chunk], k, 12345 + c)
            np.savez(path, **part)
            print(f"chunk {c}: {len(part['traj_ess'])} draws, {(time.monotonic() - started) / 60:.2f} min", flush=True)
        parts.append(dict(np.load(path)))
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else {}


# -- reweighting -----------------------------------------------------------------------------------
def normalized(log_w: np.ndarray) -> np.ndarray:
    return np.exp(log_w - logsumexp(log_w))


def ess(log_w: np.ndarray) -> float:
    """(sum w)^2 / sum w^2."""
    return float(np.exp(2 * logsumexp(log_w) - logsumexp(2 * log_w)))


def masses(modes: np.ndarray, weights: np.ndarray, K: int) -> np.ndarray:
    return np.bincount(modes, weights=weights, minlength=K)


def delta_stderr(modes: np.ndarray, weights: np.ndarray, K: int) -> np.ndarray:
    """Delta-method standard errors of self-normalized masses sum w a / sum w (weights normalized)."""
    p = masses(modes, weights, K)
    return np.array([math.sqrt(np.sum(weights**2 * ((modes == j) - p[j]) ** 2)) for j in range(K)])


def tv(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.abs(p - q).sum())


def log_mean_exp(a: np.ndarray) -> float:
    return float(logsumexp(a) - math.log(len(a)))


def bootstrap(modes: np.ndarray, log_w: np.ndarray, K: int, others: dict[str, np.ndarray], seed: int = 0) -> dict[str, float]:
    """Bootstrap stderrs over the draws: the model's masses, TV(model, truth of the same draws),
    TV(model, each fixed mass vector in ``others``), and log mean w."""
    rng = np.random.default_rng(seed)
    rows = {"tv_model_truth_paired": [], "log_mean_w": [], **{f"tv_model_{name}": [] for name in others}}
    got, diffs = [], []
    for _ in range(BOOTSTRAPS):
        i = rng.integers(0, len(modes), len(modes))
        p = masses(modes[i], normalized(log_w[i]), K)
        same = masses(modes[i], np.full(len(i), 1 / len(i)), K)
        got.append(p)
        diffs.append(p - same)
        rows["tv_model_truth_paired"].append(tv(p, same))
        rows["log_mean_w"].append(log_mean_exp(log_w[i]))
        for name, q in others.items():
            rows[f"tv_model_{name}"].append(tv(p, q))
    out = {f"{key}_stderr": float(np.std(v)) for key, v in rows.items()}
    out["masses_stderr"] = np.std(got, 0).tolist()
    out["difference_stderr"] = np.std(diffs, 0).tolist()
    return out


# -- smc through the benchmark's own path -----------------------------------------------------------
def smc(run: Run, x: np.ndarray, known: np.ndarray, exact: pm.Exact, M: int, n: int, cache: Path, seed: int = 1) -> dict:
    """smc's samples for this observation (``pm.sample``: seed 1 unless told), its mode masses and log p(y)."""
    path = cache / f"smc_M{M}_n{n}_seed{seed}.npz"
    if not path.exists():
        started = time.monotonic()
        if seed == 1:
            result = pm.sample(run, "smc", M, "inpaint", x[None], known[None], 2.0, n)
        else:
            from thermodiff.conditioning import Method, PosteriorConfig
            result = run.inpaint_posterior(x[None], known[None],
                                           PosteriorConfig(method=Method.SMC, particles=M, n_samples=n, seed=seed))
        minutes = (time.monotonic() - started) / 60
        r = result.report
        np.savez(path, samples=result.samples[:, 0], log_evidence=r.log_evidence[0], stderr=r.log_evidence_stderr[0],
                 ess=r.ess[0], systems=r.systems, minutes=minutes)
    saved = np.load(path)
    samples, K = saved["samples"], len(exact.w)
    modes = assign(exact, samples, known)
    p = masses(modes, np.full(len(modes), 1 / len(modes)), K)
    systems = int(saved["systems"])
    per_system = math.ceil(n / systems)
    by_system = [masses(modes[s:s + per_system], np.full(len(modes[s:s + per_system]), 1 / len(modes[s:s + per_system])), K)
                 for s in range(0, n, per_system)]
    out = {"M": M, "seed": seed, "samples": n, "systems": systems, "masses": p.tolist(),
           "masses_stderr_binomial": np.sqrt(p * (1 - p) / n).tolist(),
           "masses_by_system": [b.tolist() for b in by_system],
           "log_p_y": float(saved["log_evidence"]), "log_p_y_stderr": float(saved["stderr"]),
           "final_ess": float(saved["ess"]), "minutes": float(saved["minutes"])}
    if systems >= 4:
        out["masses_stderr_systems"] = (np.std(by_system, 0, ddof=1) / math.sqrt(systems)).tolist()
    return out


# -- the report -------------------------------------------------------------------------------------
def check(run: Run, args, deadline: float) -> dict:
    x, known, exact = observation(run, args.observation)
    K = len(exact.w)
    cache = args.out / f"obs{args.observation}"
    draws = proposal(exact, args.draws, seed=11 + args.observation)
    reference = assign(exact, exact.draw(200_000, np.random.default_rng(99)), known)
    truth_ref = masses(reference, np.full(len(reference), 1 / len(reference)), K)

    started = time.monotonic()
    model = cached_model_log_density(run, draws, args.importance_samples, args.chunk, cache, deadline)
    n = len(model["traj_ess"])
    draws = draws[:n]
    modes = assign(exact, draws, known)
    log_p_true = log_true_density(draws)
    L = f"L{args.importance_samples}"
    log_w = model[L] - log_p_true
    w = normalized(log_w)
    model_masses = masses(modes, w, K)
    truth_same = masses(modes, np.full(n, 1 / n), K)

    smcs = [smc(run, x, known, exact, M, args.samples, cache, seed) for M in args.particles for seed in args.smc_seeds]
    others = {"truth": truth_ref, **{f"smc_M{s['M']}_seed{s['seed']}": np.array(s["masses"]) for s in smcs}}
    boot = bootstrap(modes, log_w, K, others)
    log_mean_w = log_mean_exp(log_w)
    # the difference estimator: the truth's masses (200000 draws) plus the reweighting's shift on the same draws
    model_cv = truth_ref + (model_masses - truth_same)
    cv_stderr = np.sqrt(np.array(boot["difference_stderr"]) ** 2 + truth_ref * (1 - truth_ref) / len(reference))

    report = {
        "observation": args.observation, "x": x.tolist(), "known": known.tolist(),
        "exact_component_weights": exact.w.tolist(),
        "draws": n, "importance_samples": args.importance_samples,
        "trajectory_ess_mean_min": [float(model["traj_ess"].mean()), float(model["traj_ess"].min())],
        "reweighting_ess": ess(log_w), "log_w_sd": float(np.std(log_w)),
        "truth_masses_200k": truth_ref.tolist(), "truth_masses_same_draws": truth_same.tolist(),
        "model_masses": model_masses.tolist(), "model_masses_stderr_delta": delta_stderr(modes, w, K).tolist(),
        "model_masses_stderr_bootstrap": boot["masses_stderr"],
        "model_masses_by_bound": {j: masses(modes, normalized(model[j] - log_p_true), K).tolist()
                                  for j in sorted((k for k in model if k.startswith("L")), key=lambda k: int(k[1:]))},
        "model_masses_difference_estimator": model_cv.tolist(), "model_masses_difference_estimator_stderr": cv_stderr.tolist(),
        "tv_model_truth_paired": tv(model_masses, truth_same), "tv_model_truth_paired_stderr": boot["tv_model_truth_paired_stderr"],
        "tv_model_truth": tv(model_masses, truth_ref), "tv_model_truth_stderr": boot["tv_model_truth_stderr"],
        "log_p_y_true": exact.log_evidence, "log_p_y_model": exact.log_evidence + log_mean_w,
        "log_p_y_model_minus_true": log_mean_w, "log_p_y_model_minus_true_stderr": boot["log_mean_w_stderr"],
        "smc": [],
    }
    for s in smcs:
        q, name = np.array(s["masses"]), f"smc_M{s['M']}_seed{s['seed']}"
        report["smc"].append({**s, "tv_smc_truth": tv(q, truth_ref), "tv_smc_model": tv(q, model_masses),
                              "tv_smc_model_difference_estimator": tv(q, model_cv),
                              "tv_smc_model_stderr_is_only": boot[f"tv_model_{name}_stderr"],
                              "log_p_y_smc_minus_true": s["log_p_y"] - exact.log_evidence,
                              "log_p_y_smc_minus_model": s["log_p_y"] - report["log_p_y_model"]})
    report["minutes_this_call"] = (time.monotonic() - started) / 60
    return report


def show(r: dict) -> None:
    f = lambda v: "[" + ", ".join(f"{a:.3f}" for a in v) + "]"  # noqa: E731
    print(f"\nobservation {r['observation']}: x = {f(r['x'])}, known {r['known']}; exact component weights {f(r['exact_component_weights'])}")
    print(f"{r['draws']} exact-posterior draws, log p_model by L_{r['importance_samples']} "
          f"(trajectory ESS mean {r['trajectory_ess_mean_min'][0]:.1f}, min {r['trajectory_ess_mean_min'][1]:.1f}); "
          f"reweighting ESS {r['reweighting_ess']:.0f} of {r['draws']}, sd of log w {r['log_w_sd']:.3f} nats")
    print(f"mode masses, truth (200000 draws):   {f(r['truth_masses_200k'])}")
    print(f"mode masses, truth (same draws):     {f(r['truth_masses_same_draws'])}")
    print(f"mode masses, model (reweighted):     {f(r['model_masses'])} +- {f(r['model_masses_stderr_delta'])} (delta), "
          f"{f(r['model_masses_stderr_bootstrap'])} (bootstrap)")
    print(f"mode masses, model (truth + shift):  {f(r['model_masses_difference_estimator'])} "
          f"+- {f(r['model_masses_difference_estimator_stderr'])} (the truth's 200000 draws plus the paired shift)")
    for j, m in r["model_masses_by_bound"].items():
        print(f"    with {j}: {f(m)}")
    print(f"TV(model, truth) = {r['tv_model_truth_paired']:.3f} +- {r['tv_model_truth_paired_stderr']:.3f} (paired, same draws); "
          f"{r['tv_model_truth']:.3f} +- {r['tv_model_truth_stderr']:.3f} against 200000 draws")
    print(f"log p(y): true {r['log_p_y_true']:.4f}, model {r['log_p_y_model']:.4f} "
          f"(model - true {r['log_p_y_model_minus_true']:+.4f} +- {r['log_p_y_model_minus_true_stderr']:.4f})")
    for s in r["smc"]:
        extra = f", +- {f(s['masses_stderr_systems'])} (spread of {s['systems']} systems)" if "masses_stderr_systems" in s else ""
        print(f"smc M = {s['M']} (seed {s['seed']}, {s['systems']} systems, {s['minutes']:.1f} min): masses {f(s['masses'])} "
              f"+- {f(s['masses_stderr_binomial'])} (binomial){extra}; TV vs truth {s['tv_smc_truth']:.3f}, "
              f"vs model {s['tv_smc_model']:.3f} (+- {s['tv_smc_model_stderr_is_only']:.3f} from the reweighting alone), "
              f"vs model (truth + shift) {s['tv_smc_model_difference_estimator']:.3f}; "
              f"log p(y) - true {s['log_p_y_smc_minus_true']:+.4f} +- {s['log_p_y_stderr']:.4f}, "
              f"- model {s['log_p_y_smc_minus_model']:+.4f}; final ESS {s['final_ess']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="a run trained on posterior_mixture.py's mixture")
    parser.add_argument("--out", type=Path, default=Path("runs/model-check"), help="cache and results (JSON)")
    parser.add_argument("--observation", type=int, default=0, help="the benchmark's i-th inpainting observation")
    parser.add_argument("--draws", type=int, default=2000, help="exact-posterior draws to reweight")
    parser.add_argument("--importance-samples", type=int, default=64, help="k of the bound L_k used as log p_model")
    parser.add_argument("--chunk", type=int, default=250, help="draws per evaluate call (cached one by one)")
    parser.add_argument("--particles", nargs="*", type=int, default=[512, 64], help="smc: M values")
    parser.add_argument("--smc-seeds", nargs="*", type=int, default=[1], help="smc sampling seeds (1: the benchmark's)")
    parser.add_argument("--samples", type=int, default=800, help="smc samples (as the benchmark)")
    parser.add_argument("--minutes", type=float, default=None, help="stop starting new chunks of log-densities after this")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + 60 * args.minutes if args.minutes else math.inf
    started = time.monotonic()
    report = check(Run.open(args.run), args, deadline)
    report["minutes_total"] = (time.monotonic() - started) / 60
    (args.out / f"obs{args.observation}.json").write_text(json.dumps(report, indent=1))
    show(report)
    print(f"\n{report['minutes_total']:.1f} minutes (cached work not counted)")


if __name__ == "__main__":
    main()
