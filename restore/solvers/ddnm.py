"""DDNM and DDNM+: range-null-space decomposition (Wang, Yu & Zhang, ICLR 2023)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from restore.priors.sampling import posterior_mean
from restore.priors.schedule import Schedule

from .problem import Problem, normal
from .travel import levels, renoise


@torch.no_grad()
def ddnm(prior, problem: Problem, schedule: Schedule, *, x_init: Tensor | None = None,
         generator: torch.Generator | None = None, callback: Callable | None = None) -> Tensor:
    """DDNM, Wang et al. ICLR 2023, Algorithm 1: noiseless range-null-space sampling.

    Each step replaces the range-space part of the prior's x0|t by the observation,
    x0_hat = A^+ y + (I - A^+ A) x0|t (A^+ = ``operator.A_pinv``), then draws x_{t-1} from
    q(x_{t-1} | x_t, x0_hat) (posterior variance beta_tilde). For sigma_y = 0 the result satisfies
    A x = y up to A_pinv's accuracy (exactly on the observed pixels of an inpainting).

    sigma_y > 0 raises ValueError: Algorithm 1 is the noiseless method; `ddnm_plus` is the noisy one.
    Signature and return: `restore.solvers.problem`; x0_hat in the callback is the prior's estimate.
    """
    if problem.sigma > 0:
        raise ValueError("ddnm is DDNM's noiseless Algorithm 1 and needs sigma_y = 0; use ddnm_plus for noisy y")
    op = problem.operator
    pinv_y = op.A_pinv(problem.y)
    x = problem.start(schedule, generator, x_init)
    for i, t, abar, abar_prev in schedule.steps():
        x0 = prior.x0_hat(x, t)  # DDNM eq. (12)
        problem.emit(callback, i, t, x, x0)
        x0 = pinv_y + x0 - op.A_pinv(op.A(x0))  # DDNM eq. (13)
        x = posterior_mean(schedule, i, x0, x)  # DDNM eq. (7): mean of p(x_{t-1} | x_t, x0_hat) ...
        if i > 0:
            x = x + float(schedule.beta_tilde[i]) ** 0.5 * normal(x.shape, generator, x)  # ... variance sigma_t^2
    return problem.image(x)


@torch.no_grad()
def ddnm_plus(prior, problem: Problem, schedule: Schedule, *, x_init: Tensor | None = None,
              generator: torch.Generator | None = None, callback: Callable | None = None,
              travel_length: int = 1, travel_repeat: int = 1) -> Tensor:
    """DDNM+, Wang et al. ICLR 2023, Sec. 3.3 and Algorithm 2: scaled range-space correction for
    noisy y, with optional time travel.

    x0_hat = x0|t - Sigma_t A^+ (A x0|t - y), x_{t-1} ~ N(mu_t(x_t, x0_hat), Phi_t), with
    Sigma_t, Phi_t chosen so that the noise of A^+ y carried into x_{t-1} plus the fresh noise
    totals sigma_t^2 = beta_tilde_t (principle (i)) while Sigma_t stays as close to I as possible
    (principle (ii)): with a_t = sqrt(abar_{t-1}) beta_t / (1 - abar_t) (the weight of x0 in mu_t)
    and n the std of the noise of a component of A^+ y,
        lambda_t = 1 if sigma_t >= a_t n, else sigma_t / (a_t n);   gamma_t = sigma_t^2 - (a_t lambda_t n)^2.
    For operators with a cheap SVD this is applied per singular value in the V basis, where the
    noise of A^+ y has std n_i = sigma' / s_i (Sigma_t = V diag(lambda) V^T, Phi_t = V diag(gamma) V^T;
    null-space components keep gamma = sigma_t^2). Without an SVD the paper's scalar form
    n = sigma' is used (exact when A^+ does not amplify noise, e.g. A A^T = I).
    sigma_y = 0 and no travel reproduce `ddnm` (same draws). Limitation of the rule: the noise of
    A^+ y is budgeted as if fresh at every step but is the same each step, so it accumulates where
    A^+ amplifies noise (on an exact Gaussian prior with a noisy blur, the error is several times
    the MMSE: `python -m lab.gaussian_oracle`).

    Time travel (Algorithm 2, RePaint's schedule, `restore.solvers.travel.levels`): after reaching
    levels 1, 1 + L, 1 + 2L, ... (L = travel_length) the chain is re-noised L levels up with
    q(x_{t+L} | x_t), travel_repeat - 1 times each; travel_repeat = 1 (default) is no travel.
    Signature and return: `restore.solvers.problem`; callback once per network evaluation.
    """
    op = problem.operator
    svd = op.has_svd
    if svd:
        kept, ybar, noise_std = problem.spectral()
        m = ybar.shape[1]
    else:
        pinv_y = op.A_pinv(problem.y)
    x = problem.start(schedule, generator, x_init)
    path = levels(len(schedule), travel_length, travel_repeat)
    for level, nxt in zip(path[:-1], path[1:]):
        if nxt > level:
            x = renoise(schedule, x, level, nxt, generator)  # time travel: x_{t+L} ~ q(x_{t+L} | x_t)
            continue
        i, t, abar, abar_prev = schedule.step(nxt)
        x0 = prior.x0_hat(x, t)  # DDNM eq. (12)
        problem.emit(callback, i, t, x, x0)
        sig = float(schedule.beta_tilde[i]) ** 0.5
        a_t = abar_prev**0.5 * float(schedule.betas[i]) / (1 - abar)
        if svd:
            an = a_t * noise_std
            lam = torch.where(an <= sig, torch.ones_like(an), sig / torch.where(an > 0, an, torch.ones_like(an)))
            gamma = (sig**2 - (lam * an) ** 2).clamp(min=0)  # DDNM Sec. 3.3, lambda_t and gamma_t per s_i
            z = op.VT(x0)
            corr = torch.where(kept, lam * (z[:, :m] - ybar), torch.zeros_like(ybar))
            x0 = op.V(torch.cat([z[:, :m] - corr, z[:, m:]], 1), problem.x_shape)  # DDNM eq. (17)
            std = torch.cat([torch.where(kept, gamma.sqrt(), torch.full_like(ybar, sig)),
                             torch.full_like(z[:, m:], sig)], 1)
        else:
            an = a_t * problem.sigma
            lam = 1.0 if an <= sig else sig / an
            gamma = max(sig**2 - (lam * an) ** 2, 0.0)  # DDNM Sec. 3.3, lambda_t and gamma_t (scalar)
            x0 = x0 - lam * (op.A_pinv(op.A(x0)) - pinv_y)  # DDNM eq. (17)
        x = posterior_mean(schedule, i, x0, x)  # DDNM eq. (18): mean mu_t(x_t, x0_hat) ...
        if i > 0:  # ... and covariance Phi_t (zero at the last step)
            z = normal(x.shape, generator, x)
            x = x + (op.V(std * op.VT(z), problem.x_shape) if svd else gamma**0.5 * z)
    return problem.image(x)
