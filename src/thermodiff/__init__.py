"""thermodiff: diffusion probabilistic models after Sohl-Dickstein et al. (2015).

A forward diffusion slowly destroys the structure in data; a network learns to reverse it;
the learned reverse process is the model. From it: exact samples, a lower bound on
log-likelihood in bits, and posteriors by multiplying the model with another distribution.
"""

from .bound import BoundEstimate, estimate_bound
from .model import DiffusionModel
from .process import DiffusionConfig, DiffusionProcess, make_process
from .run import Run, RunConfig, build_model

__version__ = "0.1.0"

__all__ = [
    "BoundEstimate", "DiffusionConfig", "DiffusionModel", "DiffusionProcess", "Run", "RunConfig",
    "build_model", "estimate_bound", "make_process", "__version__",
]
