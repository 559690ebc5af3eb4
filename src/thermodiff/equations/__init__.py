"""Pure tensor math, named after the papers' symbols. Imports nothing of the package but the
schedule: no files, no training loop, no screen.

- ``shapes``: gathering per-step coefficients and summing per example;
- ``gaussian``: Gaussian diffusion's forward kernel, marginal, posterior, KL, entropies (eq. 24);
- ``reverse``: how network outputs become a Gaussian reverse kernel (paper's eqs. 64-65, or the
  posterior form);
- ``binomial``: binomial diffusion on binary data;
- ``products``: multiplying Gaussians (Kalman gain, Matheron's rule, Tweedie's formula).
"""
