"""DDRM: denoising diffusion restoration models (Kawar, Elad, Ermon & Song, NeurIPS 2022)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from restore.priors.schedule import Schedule

from .problem import Problem, normal


@torch.no_grad()
def ddrm(prior, problem: Problem, schedule: Schedule, *, x_init: Tensor | None = None,
         generator: torch.Generator | None = None, callback: Callable | None = None,
         eta: float = 0.85, eta_b: float = 1.0) -> Tensor:
    """DDRM, Kawar et al. NeurIPS 2022, eqs. (7)-(8): sampling in the spectral space of A.

    With A = U diag(s) V^T (the operator's SVD), xbar = V^T x / sqrt(abar) (the chain in
    variance-exploding form, noise level sigma_t = sqrt((1 - abar_t) / abar_t)), ybar = s^+ U^T y'
    and xbar_theta = V^T x0_hat, each component i of x_{t-1} is drawn from N(mean, var) with
      s_i = 0 (null space):      mean = xbar_theta + sqrt(1 - eta^2) sigma_{t-1} (xbar_t - xbar_theta) / sigma_t,
                                 var = eta^2 sigma_{t-1}^2
      sigma_{t-1} < sigma'/s_i:  mean = xbar_theta + sqrt(1 - eta^2) sigma_{t-1} (ybar - xbar_theta) / (sigma'/s_i),
                                 var = eta^2 sigma_{t-1}^2
      sigma_{t-1} >= sigma'/s_i: mean = (1 - eta_b) xbar_theta + eta_b ybar,
                                 var = sigma_{t-1}^2 - eta_b^2 sigma'^2 / s_i^2
    and x_T from eq. (7): N(ybar, sigma_T^2 - sigma'^2/s_i^2) where s_i > 0 and sigma_T >= sigma'/s_i,
    N(0, sigma_T^2) elsewhere. Singular values that A_pinv truncates (s <= rcond max s) count as
    zero. With sigma_y = 0 the observed components equal ybar exactly (inpainting: the observed
    pixels are reproduced). Defaults eta = 0.85, eta_b = 1 (the paper's).

    Warm start (x_init, an estimate of the image on [0, 1], with a schedule that stops at t0 < T):
    eq. (7) with the estimate's components V^T (2 x_init - 1) as the mean where y does not fix
    them, i.e. the forward chain q(x_t0 | x_init) there.

    Operators without ``has_svd`` raise ValueError. Signature and return: `restore.solvers.problem`.
    """
    op = problem.operator
    if not op.has_svd:
        raise ValueError(f"ddrm needs an operator with a cheap SVD; {op!r} has none")
    kept, ybar, ny = problem.spectral()  # ny = sigma' / s_i: the std of ybar's noise
    m, n = ybar.shape[1], problem.x_shape[-3] * problem.x_shape[-2] * problem.x_shape[-1]

    def draw(mean: Tensor, std: Tensor) -> Tensor:
        return mean + std * normal(mean.shape, generator, mean)

    K = len(schedule)
    sig_T = ((1 - float(schedule.abar[K - 1])) / float(schedule.abar[K - 1])) ** 0.5
    z_T = normal((ybar.shape[0], n), generator, ybar)
    fits = kept & (ny <= sig_T)
    # the start's mean where y does not fix it: 0 (cold, eq. 7 as written), or V^T x0 of the warm estimate
    prior_mean = torch.zeros_like(z_T) if x_init is None else op.VT(problem.latent(x_init))
    top = torch.where(fits, ybar + (sig_T**2 - ny**2).clamp(min=0).sqrt() * z_T[:, :m],
                      prior_mean[:, :m] + sig_T * z_T[:, :m])  # DDRM eq. (7)
    xbar = torch.cat([top, prior_mean[:, m:] + sig_T * z_T[:, m:]], 1)
    x = float(schedule.abar[K - 1]) ** 0.5 * op.V(xbar, problem.x_shape)
    del z_T, fits, top, xbar, prior_mean  # each del below frees an image-sized buffer early: peak memory on large photos
    for i, t, abar, abar_prev in schedule.steps():
        sig_t, sig_n = ((1 - abar) / abar) ** 0.5, ((1 - abar_prev) / abar_prev) ** 0.5
        x0 = prior.x0_hat(x, t)
        problem.emit(callback, i, t, x, x0)
        xbar, xth = op.VT(x) / abar**0.5, op.VT(x0)
        del x, x0
        # null space (and truncated singular values): DDRM eq. (8), first case
        null = draw(xth + (1 - eta**2) ** 0.5 * sig_n * (xbar - xth) / sig_t, torch.full_like(xth, eta * sig_n))
        del xbar
        yt, ym = xth[:, :m], ybar
        weak = ym.new_zeros(ym.shape) if problem.sigma == 0 else (ym - yt) / torch.where(ny > 0, ny, torch.ones_like(ny))
        low = yt + (1 - eta**2) ** 0.5 * sig_n * weak  # DDRM eq. (8), sigma_{t-1} < sigma'/s_i (mean)
        high = (1 - eta_b) * yt + eta_b * ym  # DDRM eq. (8), sigma_{t-1} >= sigma'/s_i (mean)
        above = ny <= sig_n
        mean = torch.where(above, high, low)
        del weak, low, high
        std = torch.where(above, (sig_n**2 - (eta_b * ny) ** 2).clamp(min=0).sqrt(), torch.full_like(ym, eta * sig_n))
        top = torch.where(kept, draw(mean, std), null[:, :m])
        del mean, std, yt, xth
        xbar = torch.cat([top, null[:, m:]], 1)
        del top, null
        x = abar_prev**0.5 * op.V(xbar, problem.x_shape)
    return problem.image(x)
