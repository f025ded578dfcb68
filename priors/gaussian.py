"""An exact prior: data x0 ~ N(m, C) in the prior's [-1, 1] space, with its optimal noise predictor.

For Gaussian data, E[eps | x_t] = sqrt(1 - abar_t) (abar_t C + (1 - abar_t) I)^{-1} (x_t - sqrt(abar_t) m),
so every sampler and solver can be checked against closed-form answers (marginals, posteriors,
likelihoods). Computed in the eigenbasis of C: C = Q diag(lam) Q^T.

Draws (`sample`) use the Cholesky factor C = L L^T instead: L is unique for a positive definite C,
while LAPACK's eigenvectors are only defined up to sign (and rotation within repeated eigenvalues)
and MKL picks them by CPU, so x = m + Q lam^1/2 z would differ between machines for the same z.
eps and log_prob are invariant to that choice (up to rounding) and keep the eigenbasis.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .ddpm import DDPM
from .schedule import Schedule, linear_schedule

__all__ = ["GaussianEps", "gaussian_prior", "stationary_covariance"]


class GaussianEps(nn.Module):
    """eps*(x_t, t - 1) for x0 ~ N(m, C); images of shape `shape` = (C, H, W), D = prod(shape)."""

    def __init__(self, mean: Tensor, cov: Tensor, schedule: Schedule, shape):
        super().__init__()
        self.shape = tuple(shape)
        d = math.prod(self.shape)
        mean, cov = torch.as_tensor(mean, dtype=torch.float64).reshape(d), torch.as_tensor(cov, dtype=torch.float64)
        if cov.shape != (d, d):
            raise ValueError(f"covariance must be {d}x{d}")
        lam, Q = torch.linalg.eigh((cov + cov.T) / 2)
        if float(lam.min()) < -1e-10 * float(lam.max()):
            raise ValueError("covariance is not positive semi-definite")
        self.register_buffer("m", mean)
        self.register_buffer("cov", cov)
        self.register_buffer("lam", lam.clamp(min=0))
        self.register_buffer("Q", Q)
        self.register_buffer("L", _unique_factor(cov, lam.clamp(min=0), Q))
        self.register_buffer("abar", schedule.abar.clone())

    def forward(self, x: Tensor, t_net: Tensor) -> Tensor:
        abar = self.abar[t_net.long()].to(x.dtype)[:, None]
        r = (x.flatten(1).to(self.Q.dtype) - abar.sqrt() * self.m) @ self.Q
        r = r * (1 - abar).sqrt() / (abar * self.lam + 1 - abar)
        return (r @ self.Q.T).reshape(x.shape).to(x.dtype)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws of x0 ~ N(m, C): m + L z, the same x on every machine for the same generator."""
        z = torch.randn(n, len(self.m), generator=generator, dtype=torch.float64)
        return (self.m + z @ self.L.T).reshape(n, *self.shape)

    def log_prob(self, x: Tensor) -> Tensor:
        """log N(x; m, C) per image (C must be non-singular)."""
        r = (x.flatten(1).double() - self.m) @ self.Q
        return -0.5 * ((r**2 / self.lam).sum(1) + self.lam.log().sum() + len(self.m) * math.log(2 * math.pi))


def _unique_factor(cov: Tensor, lam: Tensor, Q: Tensor) -> Tensor:
    """A factor F with F F^T = cov that does not depend on LAPACK's eigenbasis: the Cholesky factor
    (unique for positive definite cov), else (singular cov) the symmetric square root Q lam^1/2 Q^T,
    which is unique too (the same matrix whatever basis Q spans each eigenspace with)."""
    L, info = torch.linalg.cholesky_ex((cov + cov.T) / 2)
    return L if int(info) == 0 else (Q * lam.sqrt()) @ Q.T


def gaussian_prior(mean, cov, shape, schedule: Schedule | None = None) -> DDPM:
    """A DDPM whose eps is the exact optimum for N(mean, cov) data; clipping off, float64."""
    schedule = schedule or linear_schedule()
    net = GaussianEps(mean, cov, schedule, shape)
    return DDPM(net, schedule, image_size=shape[-1], channels=shape[0], clip=False,
                meta={"kind": "gaussian"})


def stationary_covariance(h: int, w: int, channels: int = 1, *, std: float = 0.3,
                          length: float = 2.0, channel_corr: float = 0.5) -> Tensor:
    """A smooth stationary covariance: std^2 exp(-|p - q|^2 / (2 length^2)) over pixels, times a
    channel correlation (1 on the diagonal, channel_corr off it), plus a small nugget (1e-4 std^2)."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    p = torch.stack([yy.flatten(), xx.flatten()], 1)
    k = torch.exp(-torch.cdist(p, p) ** 2 / (2 * length**2))
    cc = torch.full((channels, channels), channel_corr, dtype=torch.float64)
    cc.fill_diagonal_(1.0)
    c = std**2 * torch.kron(cc, k)
    return c + 1e-4 * std**2 * torch.eye(len(c), dtype=torch.float64)
