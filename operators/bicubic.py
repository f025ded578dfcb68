"""Keys cubic kernel and the 1-D antialiased bicubic downsampling matrix (as PIL's BICUBIC resize)."""

from __future__ import annotations

import torch
from torch import Tensor


def keys_cubic(t: Tensor, a: float = -0.5) -> Tensor:
    """Keys cubic convolution kernel W(t): (a+2)|t|^3 - (a+3)|t|^2 + 1 for |t| <= 1,
    a|t|^3 - 5a|t|^2 + 8a|t| - 4a for 1 < |t| < 2, else 0."""
    t = t.abs()
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def bicubic_matrix(n: int, scale: int, a: float = -0.5) -> Tensor:
    """Matrix (n // scale, n), float64, of antialiased bicubic downsampling by an integer ``scale``.

    Output pixel i is centred at input coordinate u = (i + 0.5) scale - 0.5 and takes weights
    W((j - u) / scale) over input pixels j (the kernel stretched by the scale, as MATLAB imresize
    and PIL). Taps outside [0, n) are dropped and each row is renormalised to sum 1 (PIL's border
    handling; MATLAB mirrors instead, so the two differ within 2 * scale pixels of the border).
    """
    if n % scale:
        raise ValueError(f"size {n} is not a multiple of the scale {scale}")
    u = (torch.arange(n // scale, dtype=torch.float64) + 0.5) * scale - 0.5
    j = torch.arange(n, dtype=torch.float64)
    M = keys_cubic((j[None, :] - u[:, None]) / scale, a)
    return M / M.sum(dim=1, keepdim=True)
