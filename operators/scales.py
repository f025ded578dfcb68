"""The scales of a coarse-to-fine pyramid (`restore.solvers.pyramid`).

The image at factor f (a power of 2) has ceil(H / f) x ceil(W / f) pixels; its pixel (p, q) is the
mean of the f x f block of fine pixels at (f p, f q), a partial block at the bottom or right edge
the mean of its pixels inside the image (`block_mean`, the downscaling D_f). `upsample` goes back
by bilinear interpolation aligned with those blocks. An operator's observation at a coarse scale
is `Operator.coarsened(y, sigma_y, f)`, a `Coarse`: exact where the operator has a rule for it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch.nn.functional as F
from torch import Tensor

from .base import Operator, check_image


class Coarse(NamedTuple):
    """y_c = A_c D_f x + n_c, n_c ~ N(0, sigma_y^2 I): a coarse-scale problem on the [0, 1] scale."""

    operator: Operator
    y: Tensor
    sigma_y: float


def block_pads(h: int, w: int, f: int) -> tuple[int, int, int, int]:
    """F.pad's (left, right, top, bottom) that complete an h x w image to whole f x f blocks."""
    return 0, (-int(w)) % int(f), 0, (-int(h)) % int(f)


def block_mean(x: Tensor, f: int) -> Tensor:
    """D_f x: (B, C, H, W) -> (B, C, ceil(H / f), ceil(W / f)), each pixel the mean of its f x f
    block (of the block's pixels inside the image at the bottom and right edges)."""
    check_image(x)
    f = int(f)
    if f == 1:
        return x
    pads = block_pads(*x.shape[-2:], f)
    total = F.avg_pool2d(F.pad(x, pads), f)
    inside = F.avg_pool2d(F.pad(x.new_ones((1, 1, *x.shape[-2:])), pads), f)  # 1 on whole blocks
    return total / inside


def upsample(x: Tensor, f: int, size: tuple[int, int]) -> Tensor:
    """The coarse image x (B, C, h, w) at the finer scale of size `size` (ceil(size / f) = (h, w)):
    bilinear interpolation by f, each coarse pixel at the centre of its block, cropped to `size`."""
    check_image(x)
    h, w = (int(v) for v in size)
    if tuple(x.shape[-2:]) != (-(-h // f), -(-w // f)):
        raise ValueError(f"a {tuple(x.shape[-2:])} image is not the {f}x coarse scale of {h}x{w}")
    return F.interpolate(x, scale_factor=float(f), mode="bilinear", align_corners=False)[..., :h, :w]
