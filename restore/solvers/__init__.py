"""Guided reverse-chain solvers for linear inverse problems y = A x + n with a DDPM prior.

Every method has the signature
    method(prior, operator, y, *, steps, sigma_y, generator=None, callback=None, x_init=None, **specific) -> Tensor
with y and sigma_y on the [0, 1] pixel scale (mapped once to the prior's [-1, 1] by
`restore.operators.to_prior_space`), `steps` respaced steps of the prior's schedule or a `Schedule`
the caller made, `x_init` the estimate a warm start begins from (with a schedule that stops at
t0 < T; None: pure noise), randomness only from `generator`, `callback({i, t, x, x0_hat})` once per network evaluation, and returns images on
[0, 1] of y's batch, NOT clamped (`solve` clamps when the prior clips).
"""
from .ddnm import ddnm, ddnm_plus
from .ddrm import ddrm
from .diffpir import diffpir
from .dps import dps
from .pigdm import pigdm
from .repaint import repaint
from .solve import METHODS, solve

__all__ = ["METHODS", "ddnm", "ddnm_plus", "ddrm", "diffpir", "dps", "pigdm", "repaint", "solve"]
