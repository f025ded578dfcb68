"""The variational bound on -log p(x0) (seed supplement 1, eq. 6) in bits per dimension.

bound = KL(q(x_T|x_0) || N(0, I))                              (prior term, no network)
      + sum_{t=2..T} KL(q(x_{t-1}|x_t, x_0) || p(x_{t-1}|x_t))  (Gaussian KLs)
      - log p(x_0 | x_1)                                         (discretized Gaussian decoder)

computed from these true terms whatever weights trained the network. The reverse variance is
sigma_t^2 = beta_t ('beta', the default) or beta_tilde_t ('beta_tilde'); at t = 1, where
beta_tilde_1 = 0, the decoder uses beta_1 or guided-diffusion's clipped value beta_tilde_2.
Data are 8-bit: x0 = u / 127.5 - 1 for u in 0..255, bins of width 2/255.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .rng import randn
from .sampling import posterior_mean, reverse_variance

__all__ = ["normal_kl", "discretized_gaussian_log_likelihood", "bound_terms", "bits_per_dim"]


def normal_kl(m1: Tensor, logv1, m2: Tensor, logv2) -> Tensor:
    """KL(N(m1, e^logv1) || N(m2, e^logv2)), elementwise, in nats."""
    logv1, logv2 = torch.as_tensor(logv1, dtype=m1.dtype), torch.as_tensor(logv2, dtype=m1.dtype)
    return 0.5 * (-1.0 + logv2 - logv1 + torch.exp(logv1 - logv2) + (m1 - m2) ** 2 * torch.exp(-logv2))


def _std_normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x: Tensor, mean: Tensor, log_scale) -> Tensor:
    """log P(bin of x) under N(mean, e^{2 log_scale}) for 8-bit data on [-1, 1]; the end bins
    extend to -inf and +inf (Ho et al. 2020, eq. 13). Elementwise, in nats."""
    inv = torch.exp(-torch.as_tensor(log_scale, dtype=x.dtype))
    c = x - mean
    cdf_hi = _std_normal_cdf(inv * (c + 1 / 255))
    cdf_lo = _std_normal_cdf(inv * (c - 1 / 255))
    log_hi = torch.log(cdf_hi.clamp(min=1e-300))
    log_one_minus_lo = torch.log((1 - cdf_lo).clamp(min=1e-300))
    mid = torch.log((cdf_hi - cdf_lo).clamp(min=1e-300))
    return torch.where(x < -0.999, log_hi, torch.where(x > 0.999, log_one_minus_lo, mid))


def prior_term(s, x0: Tensor) -> Tensor:
    """KL(q(x_T | x_0) || N(0, I)) per image, in nats."""
    abar_T = float(s.abar[-1])
    return normal_kl(math.sqrt(abar_T) * x0, math.log(1 - abar_T), torch.zeros_like(x0), 0.0).flatten(1).sum(1)


@torch.no_grad()
def bound_terms(prior, x0: Tensor, t: Tensor, noise: Tensor, variance="beta"):
    """L_{t-1} (t >= 2: the Gaussian KL; t = 1: the decoder NLL) per image, in nats, and the
    eps-MSE per image, for one t per image. x0 in [-1, 1] on the 8-bit grid, float64 preferred."""
    s = prior.schedule
    i = t - 1
    x_t = prior.q_sample(x0, t, noise)
    eps = prior.eps(x_t, t)
    x0_hat = prior.x0_from_eps(x_t, t, eps)
    model_mean = posterior_mean(s, i, x0_hat, x_t)
    logvar = reverse_variance(s, variance, clip_first=True).log()[i].to(x0.dtype).reshape(-1, *[1] * (x0.ndim - 1))
    true_mean = posterior_mean(s, i, x0, x_t)
    true_logvar = s.beta_tilde.clamp(min=1e-300).log()[i].to(x0.dtype).reshape(-1, *[1] * (x0.ndim - 1))
    kl = normal_kl(true_mean, true_logvar, model_mean, logvar).flatten(1).sum(1)
    nll = -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * logvar).flatten(1).sum(1)
    terms = torch.where(t == 1, nll, kl)
    mse = (noise - eps).pow(2).flatten(1).mean(1)
    return terms, mse


@torch.no_grad()
def bits_per_dim(prior, x0: Tensor, *, strata: int | None = 50, variance="beta",
                 generator: torch.Generator | None = None) -> dict:
    """Per-image bound in bits/dim. strata=None sums all T terms (T network evaluations per
    image); otherwise a stratified Monte-Carlo estimate over t with `strata` evaluations per image
    (t = 1 always, then one uniform t per equal-size stratum of 2..T weighted by its
    size: unbiased).

    Returns {'bpd': (B,), 't': (B, K), 'mse': (B, K)}: the per-image estimates, the t used and the
    eps-MSE at each of them (for per-band reports)."""
    s = prior.schedule
    T, B = len(s), x0.shape[0]
    D = x0[0].numel()
    if strata is None or strata >= T:
        ts = torch.arange(1, T + 1).expand(B, T)
        weights = torch.ones(T, dtype=torch.float64)
    else:
        # t = 1 (the decoder, the largest and most variable term) is always evaluated; the
        # other strata-1 evaluations split 2..T into equal strata
        edges = 1 + torch.linspace(0, T - 1, strata).round().long()
        sizes = edges[1:] - edges[:-1]
        u = torch.rand(B, strata - 1, generator=generator, dtype=torch.float64)
        ts = torch.cat([torch.ones(B, 1, dtype=torch.long), edges[:-1] + 1 + (u * sizes).long().clamp(max=sizes - 1)], 1)
        weights = torch.cat([torch.ones(1), sizes.double()])
    total = prior_term(s, x0).double().cpu()
    mses = torch.empty(ts.shape, dtype=torch.float64)
    for k in range(ts.shape[1]):
        t = ts[:, k].to(x0.device)
        noise = randn(x0.shape, generator, device=x0.device, dtype=x0.dtype)
        terms, mse = bound_terms(prior, x0, t, noise, variance)
        total += weights[k] * terms.double().cpu()
        mses[:, k] = mse.double().cpu()
    return {"bpd": total / (D * math.log(2)), "t": ts, "mse": mses}
