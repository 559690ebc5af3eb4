"""Dead-leaves images: grey patches made of occluding disks (Lee, Mumford & Huang 2001).

The model of Lee, Mumford & Huang (2001, "Occlusion models for natural images: a statistical
study of a scale-invariant dead leaves model", IJCV 41), used for image statistics by Theis,
Hosseini & Bethge (2012, PLoS ONE 7) and as an image benchmark by Sohl-Dickstein et al. (2015,
Table 2): disks ("leaves") with centres uniform in the plane, radii r with density
p(r) ∝ r^-3 on [r_min, r_max] (scale invariant as r_min -> 0, r_max -> inf) and a uniform grey
level each, fall on top of one another; a patch shows the topmost disk at every pixel.

Generation is front to back, which gives the same picture as falling back to front: the first
disk drawn lies on top, each later disk only paints the pixels still uncovered, and drawing
stops once every pixel of the patch is covered. Only disks that can touch the patch matter: a
disk of radius r meets the size x size window only if its centre lies in the square
[-r, size + r]^2, so radii are drawn from p(r) tilted by that square's area, q(r) ∝ p(r)(size + 2r)^2,
and centres uniformly in it (disks that still miss the window paint nothing).
A pixel is covered when its centre (i + 0.5, j + 0.5) lies in the disk. Grey levels are uniform
on 0..255, so the patches are 8-bit images (uint8, 256 levels). The defaults r_min = 1,
r_max = 32 pixels are ours; the papers above do not fix values for 16 x 16 patches.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

LEVELS = 256


def sample_radii(m: int, rng: np.random.Generator, r_min: float, r_max: float, size: int) -> np.ndarray:
    """m radii from q(r) ∝ r^-3 (size + 2r)^2 = size^2 r^-3 + 4 size r^-2 + 4 r^-1 on [r_min, r_max].

    q is a mixture of three truncated power laws, each sampled by inverting its CDF.
    """
    a, b = r_min, r_max
    weights = np.array([size**2 * (a**-2 - b**-2) / 2, 4 * size * (1 / a - 1 / b), 4 * np.log(b / a)])
    part = rng.choice(3, size=m, p=weights / weights.sum())
    u = rng.random(m)
    r3 = (a**-2 - u * (a**-2 - b**-2)) ** -0.5  # r^-3
    r2 = 1 / (1 / a - u * (1 / a - 1 / b))  # r^-2
    r1 = a * (b / a) ** u  # r^-1
    return np.choose(part, [r3, r2, r1])


def generate(n: int, rng: np.random.Generator, size: int = 16, r_min: float = 1.0, r_max: float = 32.0) -> np.ndarray:
    """uint8 (n, 1, size, size): n dead-leaves patches (see module doc).

    size: patch side in pixels; r_min, r_max: radius range in pixels (0 < r_min < r_max).
    """
    if n < 0 or size < 1:
        raise DataError(f"deadleaves needs n >= 0 and size >= 1, got n={n}, size={size}")
    if not 0 < r_min < r_max:
        raise DataError(f"deadleaves needs 0 < r_min < r_max, got r_min={r_min}, r_max={r_max}")
    grid = np.arange(size) + 0.5  # pixel centres
    out = np.empty((n, size, size), dtype=np.uint8)
    todo = np.arange(n)  # patches still being painted; their pictures and uncovered pixels:
    picture = np.zeros((n, size, size), dtype=np.uint8)
    uncovered = np.ones((n, size, size), dtype=bool)
    while todo.size:
        m = todo.size
        r = sample_radii(m, rng, r_min, r_max, size)
        cx = rng.random(m) * (size + 2 * r) - r  # uniform in [-r, size + r]
        cy = rng.random(m) * (size + 2 * r) - r
        grey = rng.integers(LEVELS, size=m, dtype=np.uint8)
        # squared distances of pixel centres to the disk centre, in float32 to halve the memory traffic
        dy2 = ((grid[None, :] - cy[:, None]) ** 2).astype(np.float32)  # (m, size) rows
        dx2 = ((grid[None, :] - cx[:, None]) ** 2).astype(np.float32)  # (m, size) columns
        r2 = (r * r).astype(np.float32)[:, None, None]
        paint = (dy2[:, :, None] + dx2[:, None, :] <= r2) & uncovered  # (m, size, size)
        np.copyto(picture, grey[:, None, None], where=paint)
        uncovered &= ~paint
        done = ~uncovered.any(axis=(1, 2))
        if done.any():  # hand finished patches over and keep painting the rest
            out[todo[done]] = picture[done]
            todo, picture, uncovered = todo[~done], picture[~done], uncovered[~done]
    return out[:, None]  # (n, 1, size, size)
