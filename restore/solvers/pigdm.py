"""PiGDM: pseudoinverse-guided diffusion models (Song, Vahdat, Mardani & Kautz, ICLR 2023)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from restore.operators.base import Operator

from ._chain import chain, emit, finish, normal, observe, start, tikhonov
from .padding import pads


@pads
@torch.no_grad()
def pigdm(prior, operator: Operator, y: Tensor, *, steps: int, sigma_y: float,
          generator: torch.Generator | None = None, callback: Callable | None = None,
          eta: float = 1.0, weight: float = 1.0) -> Tensor:
    """PiGDM, Song et al. ICLR 2023, Sec. 3 and Algorithm 1: DDIM driven by the pseudoinverse-guided
    conditional score.

    p(x0 | x_t) is approximated by N(x0_hat, r_t^2 I) with r_t^2 = 1 - abar_t (the paper's choice
    for data of unit variance), so p(y | x_t) ~ N(A x0_hat, r_t^2 A A^T + sigma'^2 I) and
        g = grad_{x_t} log p(y | x_t) = (d x0_hat / d x_t)^T A^T (r_t^2 A A^T + sigma'^2 I)^{-1} (y' - A x0_hat),
    one vector-Jacobian product through the network. The inverse is applied in closed form
    through the operator's SVD when it has one, by CGLS otherwise (A^T (r^2 A A^T + s^2 I)^{-1} r
    = (A^T A + s^2/r^2 I)^{-1} A^T r / r^2); for sigma' = 0 it is A^+ / r_t^2 (the noiseless
    guidance (A^+ y - A^+ A x0_hat)^T d x0_hat / d x_t, scaled by 1 / r_t^2).
    The conditional score enters DDIM (eta, eq. 12 of Song et al. 2021) through Tweedie's formula:
    x0_y = x0_hat + weight (1 - abar_t) / sqrt(abar_t) g and eps_y = (x_t - sqrt(abar_t) x0_y) / sqrt(1 - abar_t).
    weight = 1 is the unweighted Bayes rule; the paper's adaptive guidance weights are not applied.
    It is exact for a Gaussian prior with its exact eps, but it trusts the network's Jacobian at every
    noise level: at high noise d x0_hat / d x_t = (I - sqrt(1 - abar_t) d eps / d x_t) / sqrt(abar_t)
    magnifies the network's error by 1 / sqrt(abar_t), and with a small trained prior (the shipped
    digits prior, noisy Gaussian blur) the chain diverges within a few steps; the NaN guard then
    stops it with an error naming the step.

    Returns images on [0, 1], unclamped; callback {i, t, x, x0_hat} once per step.
    """
    obs = observe(prior, operator, y, sigma_y)
    s = chain(prior, steps)
    x = start(obs, generator)
    for i in reversed(range(len(s))):
        t = int(s.t[i])
        abar, abar_prev = float(s.abar[i]), float(s.abar_prev[i])
        r2 = 1 - abar  # PiGDM: r_t^2 = sigma_t^2 / (1 + sigma_t^2) = 1 - abar_t
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = prior.x0_hat(xg, t, clip=False)
            v = tikhonov(operator, obs.y - operator.A(x0.detach()), obs.sigma**2 / r2, obs.x_shape) / r2
            # PiGDM Sec. 3: g^T = (y' - A x0)^T (r_t^2 A A^T + sigma'^2 I)^{-1} A d x0 / d x_t
            g = torch.autograd.grad(x0, xg, grad_outputs=v)[0]
        x0 = x0.detach()
        if prior.clip:
            x0 = x0.clamp(-1, 1)
        emit(callback, i, t, x, x0)
        x0 = x0 + weight * (1 - abar) / abar**0.5 * g  # Tweedie with the conditional score
        eps = (x - abar**0.5 * x0) / (1 - abar) ** 0.5
        c1 = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)) ** 0.5  # DDIM eq. (16)
        x = abar_prev**0.5 * x0 + max(1 - abar_prev - c1**2, 0.0) ** 0.5 * eps  # DDIM eq. (12), PiGDM Alg. 1
        if c1 > 0 and i > 0:
            x = x + c1 * normal(x.shape, generator, x)
    return finish(x, y)
