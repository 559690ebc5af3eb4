"""thermodiff: diffusion probabilistic models after Sohl-Dickstein et al. (2015).

A forward diffusion slowly destroys the structure in data; a network learns to reverse it;
the learned reverse process is the model. From it: exact samples, a lower bound on
log-likelihood in bits, and posteriors by multiplying the model with another distribution.
"""

from .conditioning import PosteriorConfig, Smooth
from .errors import CheckpointError, ConfigError, DataError, ThermodiffError
from .evaluation.config import EvalConfig
from .evaluation.estimate import BoundEstimate, estimate_bound
from .model import DiffusionModel
from .presets import RunConfig
from .processes import DiffusionConfig, DiffusionProcess, make_process
from .record import build_model
from .run import Run

__version__ = "0.1.0"

__all__ = [
    "BoundEstimate", "CheckpointError", "ConfigError", "DataError", "DiffusionConfig", "DiffusionModel",
    "DiffusionProcess", "EvalConfig", "PosteriorConfig", "Run", "RunConfig", "Smooth", "ThermodiffError",
    "build_model", "estimate_bound", "make_process", "__version__",
]
