"""Built-in data sets: generated here (no downloads), each with its parameters and, where it is
known, its exact log-density, so that a bound can be compared with the truth.

A source names one, optionally with parameters: ``swissroll`` or ``swissroll:noise=0.1,n=50000``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import deadleaves, digits, heartbeat, swissroll, textures, toy
from ..errors import DataError


@dataclass(frozen=True)
class Builtin:
    """A generator ``generate(n, rng, **params)`` and, if known, ``log_density(x, **params)`` (nats)."""

    description: str
    generate: Callable[..., np.ndarray]
    params: dict[str, Any]
    log_density: Callable[..., np.ndarray] | None = None
    n: int = 20000
    reference: dict[str, Any] = field(default_factory=dict)  # published figures to print beside ours
    levels: int | None = None  # discrete images: values are integers 0..levels-1 (dequantized in training)


def _digits(n: int, rng: np.random.Generator) -> np.ndarray:
    return digits.load()[:n]


BUILTINS: dict[str, Builtin] = {
    "swissroll": Builtin(
        description="2-D Swiss roll (see thermodiff.data.swissroll for the generator)",
        generate=swissroll.generate,
        log_density=swissroll.log_density,
        params={"noise": 0.05},
        reference={"paper_K": 2.35, "paper_K_minus_L_null": 6.45,
                   "note": "Sohl-Dickstein et al. 2015, Table 1; their Swiss roll's noise level is not published, so the numbers are not directly comparable"},
    ),
    "heartbeat": Builtin(
        description="binary sequences with a 1 every period-th bin at a random phase (the paper's)",
        generate=heartbeat.generate,
        log_density=heartbeat.log_density,
        params={"length": 20, "period": 5},
        reference={"paper_K": -2.414, "paper_K_minus_L_null": 12.024,
                   "note": "Sohl-Dickstein et al. 2015, Table 1 (length 20, period 5); the truth there is log2(1/5) = -2.322"},
    ),
    "gaussian": Builtin(
        description="correlated Gaussian, unequal variances, condition number about 100",
        generate=toy.gaussian_generate,
        log_density=toy.gaussian_log_density,
        params={"dim": 8, "condition": 100.0, "structure_seed": 1},
    ),
    "mixture": Builtin(
        description="2-D mixture of well-separated isotropic Gaussians on a circle",
        generate=toy.mixture_generate,
        log_density=toy.mixture_log_density,
        params={"components": 8, "radius": 4.0, "width": 0.3},
    ),
    "deadleaves": Builtin(
        description="8-bit grey dead-leaves patches, 16x16 (occluding disks, radii ~ r^-3; see thermodiff.data.deadleaves)",
        generate=deadleaves.generate,
        params={"size": 16, "r_min": 1.0, "r_max": 32.0},
        levels=deadleaves.LEVELS,
        reference={"paper_K_minus_L_null_per_pixel": 3.536,
                   "note": "Sohl-Dickstein et al. 2015, Table 2 (the dead leaves of Theis et al. 2012; not the same images)"},
    ),
    "textures": Builtin(
        description="8-bit 16x16 patches of a texture photograph shipped with scikit-image (brick, grass or gravel)",
        generate=textures.generate,
        params={"size": 16, "image": "brick", "downscale": 1},
        levels=textures.LEVELS,
        reference={"paper_K_minus_L_null_per_pixel": 1.5,
                   "note": "Sohl-Dickstein et al. 2015 report about 1.5 bits/pixel on bark textures (Lazebnik et al. 2005), "
                           "which cannot be shipped; these photographs differ"},
    ),
    "digits": Builtin(
        description="scikit-learn's 1797 8x8 handwritten digits, 17 grey levels (0..16)",
        generate=_digits,
        params={},
        n=1797,
        levels=digits.LEVELS,
    ),
}


def parse_source(source: str) -> tuple[str, dict[str, str]]:
    """'name:key=value,key=value' -> (name, {key: value})."""
    name, _, rest = source.partition(":")
    pairs = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise DataError(f"{source!r}: parameters are written key=value, got {item!r}")
        pairs[key.strip()] = value.strip()
    return name, pairs


def _typed(name: str, key: str, value: str, like: Any) -> Any:
    try:
        return type(like)(float(value)) if isinstance(like, (int, float)) else type(like)(value)
    except ValueError:
        raise DataError(f"{name}: parameter {key} must be a {type(like).__name__}, got {value!r}") from None


def resolve(source: str) -> tuple[Builtin, dict[str, Any], int] | None:
    """(builtin, parameters, n) if ``source`` names a built-in data set, else None."""
    name, given = parse_source(source)
    if name not in BUILTINS:
        return None
    builtin = BUILTINS[name]
    known = {**builtin.params, "n": builtin.n}
    unknown = set(given) - set(known)
    if unknown:
        raise DataError(f"{name}: unknown parameter(s) {sorted(unknown)}; it takes {sorted(known)}")
    params = {k: _typed(name, k, given[k], v) if k in given else v for k, v in builtin.params.items()}
    n = _typed(name, "n", given["n"], builtin.n) if "n" in given else builtin.n
    if n < 2:
        raise DataError(f"{name}: n must be at least 2, got {n}")
    return builtin, params, n
