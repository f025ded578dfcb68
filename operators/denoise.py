"""Denoising: the identity operator."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import PixelSVD, Shape, SVDOperator, check_image, image_shape
from .inpainting import Inpainting
from .scales import Coarse


class Denoise(PixelSVD, SVDOperator):
    """y = x. SVD: U = V = identity (flattening (C, H, W)), s = ones(C*H*W); A_pinv = identity.
    Coarse scale f: that of an Inpainting observing every pixel (the identity where the sides are
    multiples of f; the partial blocks at the edges, whose noise would be larger, unobserved)."""

    def A(self, x: Tensor) -> Tensor:
        check_image(x)
        return x

    def AT(self, y: Tensor) -> Tensor:
        return self.A(y)

    def A_pinv(self, y: Tensor) -> Tensor:
        return self.A(y)

    def coarsened(self, y: Tensor, sigma_y: float, factor: int) -> Coarse:
        check_image(y, "y")
        return Inpainting(torch.ones(y.shape[-2:], dtype=torch.float64)).coarsened(y, sigma_y, factor)

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        c, h, w = image_shape(x_shape)
        return torch.ones(c * h * w, dtype=dtype, device=device)
