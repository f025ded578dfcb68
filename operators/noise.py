"""Measurement noise: the one place it is added, its level estimated from an image, and the map of an
observation to the prior's scale.

Images live on the [0, 1] pixel scale; sigma_y is a standard deviation on that scale. The DPS
reference code's sigma 0.05 on [-1, 1] is sigma_y = 0.025 here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .base import Operator


def add_noise(y: Tensor, sigma_y: float, generator: torch.Generator, kind: str = "gaussian",
              rate: float | None = None) -> Tensor:
    """Noisy observation on the [0, 1] scale, drawn with ``generator`` only.

    kind="gaussian": y + sigma_y n, n ~ N(0, I).
    kind="poisson": Poisson(rate * max(y, 0)) / rate (rate = expected counts at value 1), plus
    Gaussian noise of std sigma_y when sigma_y > 0 (Poisson-Gaussian).
    """
    if sigma_y < 0:
        raise ValueError(f"sigma_y must be >= 0, got {sigma_y}")
    if kind == "poisson":
        if rate is None or not rate > 0:
            raise ValueError(f"poisson noise needs a positive rate, got {rate}")
        y = torch.poisson(rate * y.clamp(min=0), generator=generator) / rate
    elif kind != "gaussian":
        raise ValueError(f"kind must be 'gaussian' or 'poisson', got {kind!r}")
    if sigma_y > 0:
        y = y + sigma_y * torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    return y


def to_prior_space(operator: Operator, y: Tensor, sigma_y: float) -> tuple[Tensor, float]:
    """(y', sigma') with y' = 2 y - A(1) and sigma' = 2 sigma_y: the observation of x' = 2 x - 1 in [-1, 1].

    A(1) is A applied to the all-ones image (not 1: they differ for masks and for operators that do
    not preserve constants).
    """
    ones = y.new_ones(operator.x_shape_of(tuple(y.shape)))
    return 2 * y - operator.A(ones), 2 * sigma_y


def estimate_noise(x: Tensor, patch: int = 7, max_patches: int = 40000) -> float:
    """Noise standard deviation on [0, 1] of an image (C, H, W): the patch-PCA estimator of Chen,
    Zhu & Heng (ICCV 2015). The covariance of the image's patch x patch x C patches has the noise
    variance as its smallest eigenvalues, where the image's own structure adds none; sorted in
    decreasing order, the tail whose mean first falls to its median is taken as that noise.
    Unlike scikit-image's wavelet estimator it does not count texture as noise (measured by
    `python -m lab.noise_estimate DATA`, benchmarks/notes/changelog-lab-log.md). Images with fewer
    than 3x as many patches as a patch has values fall back to scikit-image's estimate.
    The patches are a regular subsample (every k-th row and column of positions), not random."""
    a = x.detach().double().cpu().permute(1, 2, 0).numpy()
    h, w, c = a.shape
    d = patch * patch * c
    if (h - patch + 1) * (w - patch + 1) < 3 * d or min(h, w) < patch:
        from skimage.restoration import estimate_sigma

        return float(estimate_sigma(a, channel_axis=-1, average_sigmas=True))
    k = max(1, int(np.ceil(np.sqrt((h - patch + 1) * (w - patch + 1) / max_patches))))
    views = np.lib.stride_tricks.sliding_window_view(a, (patch, patch, c))[::k, ::k]  # (h', w', 1, p, p, c)
    P = views.reshape(-1, d)
    P = P - P.mean(0)
    lam = np.linalg.eigvalsh(P.T @ P / len(P))[::-1]  # decreasing
    for i in range(len(lam)):
        tail = lam[i:]
        if tail.mean() <= np.median(tail):
            break
    return float(np.sqrt(max(float(tail.mean()), 0.0)))
