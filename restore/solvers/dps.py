"""DPS: diffusion posterior sampling (Chung, Kim, McCann, Klasky & Ye, ICLR 2023)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from restore.priors.sampling import posterior_mean
from restore.priors.schedule import Schedule

from .problem import Problem, normal


@torch.no_grad()
def dps(prior, problem: Problem, schedule: Schedule, *, x_init: Tensor | None = None,
        generator: torch.Generator | None = None, callback: Callable | None = None, zeta: float = 0.5) -> Tensor:
    """DPS, Chung et al. ICLR 2023, Algorithm 1 (Gaussian noise): ancestral steps plus a gradient step
    on ||y' - A x0_hat(x_t)||^2 taken through the network.

    x'_{t-1} ~ q(x_{t-1} | x_t, x0_hat) (posterior variance beta_tilde), then
    x_{t-1} = x'_{t-1} - zeta_t grad_{x_t} ||y' - A x0_hat(x_t)||^2 with zeta_t = zeta / ||y' - A x0_hat(x_t)||
    (the paper's step-size choice, App. C), norms per sample, in prior space ([-1, 1]).
    Scale of zeta: the reference code steps by scale * grad ||y - A x0_hat|| (the unsquared norm,
    whose gradient is grad ||r||^2 / (2 ||r||)), so its `scale` equals 2 * zeta here: the default
    zeta = 0.5 is its scale 1.0. The reference also takes one norm over the whole batch; here each
    sample has its own. sigma_y enters only through y (the paper's Gaussian case does not use it
    in the update). The gradient is taken with torch.enable_grad w.r.t. x_t only (no parameter
    gradients), through the unclipped x0_hat; the ancestral mean uses the clipped one when the
    prior clips.

    Signature and return: `restore.solvers.problem`.
    """
    op = problem.operator
    x = problem.start(schedule, generator, x_init)
    for i, t, abar, abar_prev in schedule.steps():
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = prior.x0_hat(xg, t, clip=False)  # DPS Alg. 1, lines 3-4 (Tweedie)
            sq = (problem.y - op.A(x0)).pow(2).flatten(1).sum(1)
            grad = torch.autograd.grad(sq.sum(), xg)[0]
        x0 = x0.detach()
        if prior.clip:
            x0 = x0.clamp(-1, 1)
        problem.emit(callback, i, t, x, x0)
        x_new = posterior_mean(schedule, i, x0, x)  # DPS Alg. 1, line 6 (mean) ...
        if i > 0:
            x_new = x_new + float(schedule.beta_tilde[i]) ** 0.5 * normal(x.shape, generator, x)  # ... + sigma_i z
        zeta_t = zeta / sq.detach().sqrt().clamp(min=torch.finfo(x.dtype).tiny)
        x = x_new - zeta_t.view(-1, 1, 1, 1) * grad  # DPS Alg. 1, line 7
    return problem.image(x)
