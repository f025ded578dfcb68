"""DiffPIR: denoising diffusion models for plug-and-play image restoration (Zhu et al., CVPRW 2023)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from restore.priors.schedule import Schedule

from .problem import Problem, normal


@torch.no_grad()
def diffpir(prior, problem: Problem, schedule: Schedule, *, x_init: Tensor | None = None,
            generator: torch.Generator | None = None, callback: Callable | None = None,
            lam: float = 7.0, zeta: float = 0.3) -> Tensor:
    """DiffPIR, Zhu et al. CVPRW 2023, Algorithm 1: half-quadratic splitting with the diffusion
    model as the denoising prior.

    Per step: x0 = x0_hat(x_t) (the prior sub-problem); the data sub-problem
        x0_y = argmin_x ||y' - A x||^2 + rho_t ||x - x0||^2,   rho_t = lam sigma'^2 / sigma_bar_t^2,
    sigma_bar_t^2 = (1 - abar_t) / abar_t, solved in closed form for any operator with a cheap
    SVD (masks elementwise, circular blur by its FFT/Hartley SVD, separable blur, downsampling)
    and by conjugate gradients (CGLS) otherwise; sigma' = 0 gives rho_t = 0, the projection
    x0 + A^+ (y' - A x0). Then eps_hat = (x_t - sqrt(abar_t) x0_y) / sqrt(1 - abar_t) and
    x_{t-1} = sqrt(abar_{t-1}) x0_y + sqrt(1 - abar_{t-1}) (sqrt(1 - zeta) eps_hat + sqrt(zeta) eps).
    lam (lambda) and zeta are the paper's two hyper-parameters (defaults 7.0 and 0.3).

    Signature and return: `restore.solvers.problem`.
    """
    if not 0 <= zeta <= 1:
        raise ValueError(f"zeta must be in [0, 1], got {zeta}")
    if not lam > 0:
        raise ValueError(f"lam must be positive, got {lam}")
    op = problem.operator
    x = problem.start(schedule, generator, x_init)
    for i, t, abar, abar_prev in schedule.steps():
        x0 = prior.x0_hat(x, t)  # DiffPIR Alg. 1: prior sub-problem (Tweedie)
        problem.emit(callback, i, t, x, x0)
        rho = lam * problem.sigma**2 * abar / (1 - abar)  # DiffPIR: rho_t = lambda sigma_n^2 / sigma_bar_t^2
        x0 = x0 + problem.least_squares(problem.y - op.A(x0), rho)  # DiffPIR Alg. 1: data sub-problem
        eps = (x - abar**0.5 * x0) / (1 - abar) ** 0.5  # DiffPIR Alg. 1: effective noise
        x = abar_prev**0.5 * x0
        if i > 0:  # DiffPIR Alg. 1: x_{t-1} with the stochasticity zeta
            x = x + (1 - abar_prev) ** 0.5 * ((1 - zeta) ** 0.5 * eps + zeta**0.5 * normal(x.shape, generator, x))
    return problem.image(x)
