"""Evaluation results as records (JSON) and as text for people. No math here."""

from __future__ import annotations

import json
import math
from typing import Any

from .evaluate import one_carries


def strict_json(record: Any, **kwargs: Any) -> str:
    """JSON that strict parsers accept: a value that is not a finite number (NaN: see ``describe``) is null."""
    return json.dumps(_finite(record), allow_nan=False, **kwargs)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def known(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _pm(value: float, stderr: Any) -> str:
    """'value +- stderr', or the value alone where no standard error can be estimated (--json: null)."""
    return f"{value:.4f} +- {stderr:.4f}" if known(stderr) else f"{value:.4f} +- (none: one example has no spread)"


def _monte_carlo(record: dict[str, Any]) -> str:
    if known(record["mc_stderr_per_example"]):
        return f"Monte Carlo error per example ~{record['mc_stderr_per_example']:.3f} bits"
    if record["trajectories"] == 2:
        return ("Monte Carlo error per example not estimated: its 2 draws are one antithetic pair, whose spread is no "
                "estimate of the noise (--trajectories 4 estimates it)")
    return "Monte Carlo error per example not estimated: it needs at least 2 draws (--trajectories 4 estimates it)"


def describe(record: dict[str, Any]) -> list[str]:
    """Lines a person reads: the bound, its uncertainty, and the truth where it is known. A value
    that cannot be estimated (NaN; null in --json) says why."""
    u = record["units"]
    lines = [
        f"K (lower bound on log-likelihood, z-scored data) = {_pm(record['K'], record['stderr'])} {u}",
        f"K in the data's own coordinates              = {record['K_data']:.4f} {u}",
        f"K - L_null                                   = {record['K_minus_L_null']:.4f} {u}",
        f"eq. 14 on the same draws (not a strict bound)  = {record['K_eq14']:.4f} {u}",
        f"{record['n_examples']} examples, estimator {record['estimator']}, {record['trajectories']} draws each; "
        + _monte_carlo(record),
    ]
    if "true_log_likelihood" in record:
        lines.append(f"true log-likelihood (z-scored)               = {record['true_log_likelihood']:.4f} {u}")
        lines.append(f"gap (truth - K)                              = {_pm(record['gap'], record['gap_stderr'])} {u}")
    if "bits_per_dim" in record:
        lines.append(f"bits per dimension of the discrete data        = {_pm(record['bits_per_dim'], record['bits_per_dim_stderr'])} (lower is better)")
    if "gaussian_bits_per_dim" in record:
        lines.append(f"full-covariance Gaussian on the same images    = {record['gaussian_bits_per_dim']:.4f} bits/dim "
                     f"(the diffusion model is {record['gaussian_bits_per_dim'] - record['bits_per_dim']:+.4f} better)")
    lines += describe_importance(record) + describe_ode(record)
    reference = record.get("reference") or {}
    if "paper_K" in reference:
        lines.append(f"paper's K for reference: {reference['paper_K']} {u} ({reference.get('note', '')})")
    if "paper_K_minus_L_null_per_pixel" in reference:
        lines.append(f"paper's K - L_null for reference: {reference['paper_K_minus_L_null_per_pixel']} bits/pixel "
                     f"({reference.get('note', '')})")
    return lines


def describe_importance(record: dict[str, Any]) -> list[str]:
    """The importance-weighted bound, its effective sample size, the nested estimates; a warning
    instead of confidence when the weights are degenerate."""
    if "K_iw" not in record:
        return []
    u, k = record["units"], record["importance_samples"]
    nested = ", ".join(f"{j}: {v:.4f}" for j, v in record["K_iw_nested"].items())
    lines = [
        f"K_iw (importance-weighted, k = {k} trajectories) = {record['K_iw']:.4f} +- {record['K_iw_stderr']:.4f} {u}"
        f" (K_iw - K = {record['K_iw_minus_K']:+.4f} +- {record['K_iw_minus_K_stderr']:.4f})",
        f"K_iw in the data's own coordinates            = {record['K_iw_data']:.4f} {u}",
        f"effective sample size per example: mean {record['ess_mean']:.1f}, median {record['ess_median']:.1f}, "
        f"smallest {record['ess_min']:.2f} of {k}",
        f"K_iw for k = {nested}",
    ]
    if "gap_iw" in record:
        lines.append(f"gap (truth - K_iw)                           = {record['gap_iw']:.4f} +- {record['gap_iw_stderr']:.4f} {u}")
    if "bits_per_dim_iw" in record:
        lines.append(f"bits per dimension, importance-weighted        = {record['bits_per_dim_iw']:.4f} +- "
                     f"{record['bits_per_dim_iw_stderr']:.4f} (lower is better)")
    if record.get("ess_below_2", 0.0) > 0 and not record["iw_degenerate"]:
        lines.append(f"in {100 * record['ess_below_2']:.0f}% of the examples one trajectory carries nearly all the weight "
                     f"(effective sample size below {one_carries(k):g})")
    if record.get("K_iw_still_rising"):
        lines.append(f"NOTE: L_k still rises from k = {record['K_iw_last_gain_from']} to {k} "
                     f"({record['K_iw_last_gain']:+.4f} +- {record['K_iw_last_gain_stderr']:.4f} {u}, paired): "
                     "more trajectories would tighten K_iw further")
    if record["iw_degenerate"]:
        lines.append("WARNING: the importance weights are degenerate (in half the examples one trajectory carries "
                     "nearly all the weight): K_iw is still a lower bound in expectation, but far from converged; "
                     "how far below log p(x) it lies is unknown")
    return lines


def describe_ode(record: dict[str, Any]) -> list[str]:
    """The probability-flow ODE's log-density, labelled as the density of a different model."""
    if "log_p_ode" not in record:
        return []
    u = record["units"]
    lines = [f"log p_ODE = {record['log_p_ode']:.4f} +- {record['log_p_ode_stderr']:.4f} {u} (data coordinates "
             f"{record['log_p_ode_data']:.4f}; divergence {record['ode_divergence']}, "
             f"{record['ode_evaluations']:.0f} evaluations per example)",
             "  the exact density of the probability-flow ODE: a different, deterministic model sharing this model's "
             "score; not a bound on this model"]
    if "bits_per_dim_ode" in record:
        lines.append(f"  bits per dimension of the ODE's model         = {record['bits_per_dim_ode']:.4f} +- "
                     f"{record['bits_per_dim_ode_stderr']:.4f}")
    return lines
