"""restore: image restoration by posterior sampling with DDPM priors.

Images are on [0, 1] outside the prior and on [-1, 1] inside it.
"""
__version__ = "0.1.0"

from .api import deblur, denoise, inpaint, super_resolve  # noqa: E402
from .solvers import solve  # noqa: E402

__all__ = ["__version__", "deblur", "denoise", "inpaint", "solve", "super_resolve"]
