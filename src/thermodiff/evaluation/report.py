"""Evaluation results as records (JSON) and as text for people. No math here."""

from __future__ import annotations

from typing import Any


def describe(record: dict[str, Any]) -> list[str]:
    """Lines a person reads: the bound, its uncertainty, and the truth where it is known."""
    u = record["units"]
    lines = [
        f"K (lower bound on log-likelihood, z-scored data) = {record['K']:.4f} +- {record['stderr']:.4f} {u}",
        f"K in the data's own coordinates              = {record['K_data']:.4f} {u}",
        f"K - L_null                                   = {record['K_minus_L_null']:.4f} {u}",
        f"eq. 14 on the same draws (not a strict bound)  = {record['K_eq14']:.4f} {u}",
        f"{record['n_examples']} examples, estimator {record['estimator']}, {record['trajectories']} draws each;"
        f" Monte Carlo error per example ~{record['mc_stderr_per_example']:.3f} bits",
    ]
    if "true_log_likelihood" in record:
        lines.append(f"true log-likelihood (z-scored)               = {record['true_log_likelihood']:.4f} {u}")
        lines.append(f"gap (truth - K)                              = {record['gap']:.4f} +- {record['gap_stderr']:.4f} {u}")
    if "bits_per_dim" in record:
        lines.append(f"bits per dimension of the discrete data        = {record['bits_per_dim']:.4f} +- {record['bits_per_dim_stderr']:.4f} (lower is better)")
    if "gaussian_bits_per_dim" in record:
        lines.append(f"full-covariance Gaussian on the same images    = {record['gaussian_bits_per_dim']:.4f} bits/dim "
                     f"(the diffusion model is {record['gaussian_bits_per_dim'] - record['bits_per_dim']:+.4f} better)")
    reference = record.get("reference") or {}
    if "paper_K" in reference:
        lines.append(f"paper's K for reference: {reference['paper_K']} {u} ({reference.get('note', '')})")
    if "paper_K_minus_L_null_per_pixel" in reference:
        lines.append(f"paper's K - L_null for reference: {reference['paper_K_minus_L_null_per_pixel']} bits/pixel "
                     f"({reference.get('note', '')})")
    return lines
