"""Guided reverse-chain solvers for linear inverse problems y = A x + n with a DDPM prior.

Every method is `method(prior, problem, schedule, *, x_init=None, generator=None, callback=None,
**its_own)`: `problem` from `pose(prior, operator, y, sigma_y)`, the schedule the caller made
(`restore.solvers.problem` states the conventions). `solve` poses the problem, respaces a step
count and draws several samples; `coarse_to_fine` runs `solve` on an image pyramid.
"""
from .ddnm import ddnm, ddnm_plus
from .ddrm import ddrm
from .diffpir import diffpir
from .dps import dps
from .pigdm import pigdm
from .problem import Problem, pose
from .pyramid import coarse_to_fine, pyramid_levels
from .repaint import repaint
from .solve import METHODS, respaced, solve

__all__ = ["METHODS", "Problem", "coarse_to_fine", "ddnm", "ddnm_plus", "ddrm", "diffpir", "dps", "pigdm", "pose",
           "pyramid_levels", "repaint", "respaced", "solve"]
