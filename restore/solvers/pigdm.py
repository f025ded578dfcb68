"""PiGDM: pseudoinverse-guided diffusion models (Song, Vahdat, Mardani & Kautz, ICLR 2023)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from restore.priors.sampling import ddim_step
from restore.priors.schedule import Schedule

from .problem import Problem


@torch.no_grad()
def pigdm(prior, problem: Problem, schedule: Schedule, *, x_init: Tensor | None = None,
          generator: torch.Generator | None = None, callback: Callable | None = None,
          eta: float = 1.0, weight: float = 1.0) -> Tensor:
    """PiGDM, Song et al. ICLR 2023, Sec. 3 and Algorithm 1 (with the authors' adaptive weights):
    DDIM driven by the pseudoinverse-guided conditional score.

    p(x0 | x_t) is approximated by N(x0_hat, r_t^2 I) with r_t^2 = 1 - abar_t (the paper's choice
    for data of unit variance), so p(y | x_t) ~ N(A x0_hat, r_t^2 A A^T + sigma'^2 I) and
        g = grad_{x_t} log p(y | x_t) = (d x0_hat / d x_t)^T A^T (r_t^2 A A^T + sigma'^2 I)^{-1} (y' - A x0_hat),
    one vector-Jacobian product through the network. The inverse is applied in closed form
    through the operator's SVD when it has one, by CGLS otherwise (A^T (r^2 A A^T + s^2 I)^{-1} r
    = (A^T A + s^2/r^2 I)^{-1} A^T r / r^2); for sigma' = 0 it is A^+ / r_t^2 (the noiseless
    guidance (A^+ y - A^+ A x0_hat)^T d x0_hat / d x_t, scaled by 1 / r_t^2).

    The guidance moves x0_hat by weight sqrt(abar_t) r_t^2 g and the DDIM step (eta, eq. 12 of
    Song et al. 2021) keeps the network's eps, as Algorithm 1 and the authors' code (NVlabs/RED-diff,
    algos/pgdm.py, awd=True: x_{t-1} = sqrt(abar_{t-1}) (x0_hat + sqrt(abar_t) r_t^2 g) + c1 z
    + c2 eps_theta). Tweedie's formula would move x0_hat by r_t^2 / sqrt(abar_t) g, abar_t times
    less damped: that Bayes-exact step can diverge at high noise, where d x0_hat / d x_t magnifies
    the network's error by 1 / sqrt(abar_t). On a Gaussian prior this one is exact only where the
    guidance is a replacement (noiseless, white prior); tests/test_solvers.py bounds its error.
    weight scales the guidance (the authors' grad_term_weight).

    Signature and return: `restore.solvers.problem`.
    """
    op = problem.operator
    x = problem.start(schedule, generator, x_init)
    for i, t, abar, abar_prev in schedule.steps():
        r2 = 1 - abar  # PiGDM: r_t^2 = sigma_t^2 / (1 + sigma_t^2) = 1 - abar_t
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = prior.x0_hat(xg, t, clip=False)
            v = problem.least_squares(problem.y - op.A(x0.detach()), problem.sigma**2 / r2) / r2
            # PiGDM Sec. 3: g^T = (y' - A x0)^T (r_t^2 A A^T + sigma'^2 I)^{-1} A d x0 / d x_t
            g = torch.autograd.grad(x0, xg, grad_outputs=v)[0]
        x0 = x0.detach()
        eps = (x - abar**0.5 * x0) / (1 - abar) ** 0.5  # the network's eps_theta(x_t, t) (seed eq. 20)
        if prior.clip:
            x0 = x0.clamp(-1, 1)
        problem.emit(callback, i, t, x, x0)
        x0 = x0 + weight * abar**0.5 * r2 * g  # PiGDM Alg. 1: the guidance sqrt(abar_t) r_t^2 g on x0_hat
        x = ddim_step(x0, eps, abar, abar_prev, eta, generator, noise=i > 0)  # PiGDM Alg. 1: the DDIM step
    return problem.image(x)
