"""Denoising: the identity operator."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import PixelSVD, Shape, SVDOperator, check_image, image_shape


class Denoise(PixelSVD, SVDOperator):
    """y = x. SVD: U = V = identity (flattening (C, H, W)), s = ones(C*H*W); A_pinv = identity."""

    def A(self, x: Tensor) -> Tensor:
        check_image(x)
        return x

    def AT(self, y: Tensor) -> Tensor:
        return self.A(y)

    def A_pinv(self, y: Tensor) -> Tensor:
        return self.A(y)

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        c, h, w = image_shape(x_shape)
        return torch.ones(c * h * w, dtype=dtype, device=device)
