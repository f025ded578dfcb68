"""Unconditional sampling: ancestral DDPM (seed eqs. 30-35) and DDIM (Song et al. 2021, eq. 12).

Both run on any respaced schedule; x0_hat is clipped to [-1, 1] when the prior's `clip` is on,
in which case the reverse mean is that of q(x_{t-1} | x_t, x0_hat) (it equals seed eq. 21 when
nothing is clipped). `reverse_variance` (the choice of sigma_t^2) lives in schedule.py and is
importable from here too.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .rng import randn
from .schedule import Schedule, gather, reverse_variance

__all__ = ["reverse_variance", "posterior_mean", "reverse_mean_eps", "ancestral_sample", "ddim_step", "ddim_sample"]


def posterior_mean(s: Schedule, i, x0: Tensor, x_t: Tensor) -> Tensor:
    """Mean of q(x_{t-1} | x_t, x0) at position i of schedule s (variance: s.beta_tilde[i])."""
    abar, abar_prev = gather(s.abar, i, x_t), gather(s.abar_prev, i, x_t)
    beta, alpha = 1 - abar / abar_prev, abar / abar_prev
    return (abar_prev.sqrt() * beta * x0 + alpha.sqrt() * (1 - abar_prev) * x_t) / (1 - abar)


def reverse_mean_eps(s: Schedule, i, x_t: Tensor, eps: Tensor) -> Tensor:
    """mu_theta(x_t, t) = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t)."""
    abar, abar_prev = gather(s.abar, i, x_t), gather(s.abar_prev, i, x_t)
    alpha = abar / abar_prev
    return (x_t - (1 - alpha) / (1 - abar).sqrt() * eps) / alpha.sqrt()  # Eq. (21) of the seed


def _start(prior, shape, generator, x_T):
    if x_T is not None:
        return x_T
    return randn(shape, generator, device=prior.device)  # Eq. (30) of the seed


@torch.no_grad()
def ancestral_sample(prior, shape, *, steps: int | None = None, variance="beta",
                     generator: torch.Generator | None = None, callback: Callable | None = None,
                     x_T: Tensor | None = None, spacing: str = "uniform") -> Tensor:
    """DDPM ancestral sampling (seed eqs. 30-35) on `steps` respaced steps; returns x_0 in [-1, 1]."""
    s = prior.schedule if steps is None else prior.schedule.respace(steps, spacing)
    var = reverse_variance(s, variance)
    x = _start(prior, shape, generator, x_T)
    for i, t, abar, abar_prev in s.steps():
        x0 = prior.x0_hat(x, t)  # Eqs. (31), (20)
        mean = posterior_mean(s, i, x0, x)  # Eq. (32) = (21) when x0_hat is not clipped
        if callback is not None:
            callback({"i": i, "t": t, "x": x, "x0_hat": x0})
        if i > 0:
            x = mean + float(var[i]) ** 0.5 * randn(x.shape, generator, device=x.device, dtype=x.dtype)  # Eq. (33)
        else:
            x = mean  # Eq. (34) of the seed
    return x


def ddim_step(x0: Tensor, eps: Tensor, abar: float, abar_prev: float, eta: float,
              generator: torch.Generator | None = None, noise: bool = True) -> Tensor:
    """One DDIM step (Song, Meng & Ermon, ICLR 2021) from level abar to abar_prev given x0_hat and
    eps, with stochasticity eta; noise=False leaves out the fresh noise (the last step)."""
    sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)) ** 0.5  # DDIM eq. (16)
    x = abar_prev**0.5 * x0 + max(1 - abar_prev - sigma**2, 0.0) ** 0.5 * eps  # DDIM eq. (12)
    if sigma > 0 and noise:
        x = x + sigma * randn(x.shape, generator, device=x.device, dtype=x.dtype)
    return x


@torch.no_grad()
def ddim_sample(prior, shape, *, steps: int = 50, eta: float = 0.0,
                generator: torch.Generator | None = None, callback: Callable | None = None,
                x_T: Tensor | None = None, spacing: str = "uniform") -> Tensor:
    """DDIM (Song, Meng & Ermon, ICLR 2021, eq. 12) with stochasticity eta on `steps` steps."""
    s = prior.schedule.respace(steps, spacing)
    x = _start(prior, shape, generator, x_T)
    for i, t, abar, abar_prev in s.steps():
        x0 = prior.x0_hat(x, t)
        eps = (x - abar**0.5 * x0) / (1 - abar) ** 0.5  # consistent with a clipped x0_hat
        if callback is not None:
            callback({"i": i, "t": t, "x": x, "x0_hat": x0})
        x = ddim_step(x0, eps, abar, abar_prev, eta, generator, noise=i > 0)
    return x
