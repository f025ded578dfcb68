"""Denoising: the identity operator."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Shape, SVDOperator, check_image, image_shape


class Denoise(SVDOperator):
    """y = x. SVD: U = V = identity (flattening (C, H, W)), s = ones(C*H*W); A_pinv = identity."""

    def A(self, x: Tensor) -> Tensor:
        check_image(x)
        return x

    def AT(self, y: Tensor) -> Tensor:
        return self.A(y)

    def A_pinv(self, y: Tensor) -> Tensor:
        return self.A(y)

    def x_shape_of(self, y_shape: Shape) -> Shape:
        return tuple(y_shape)

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        c, h, w = image_shape(x_shape)
        return torch.ones(c * h * w, dtype=dtype, device=device)

    def VT(self, x: Tensor) -> Tensor:
        return x.flatten(1)

    def V(self, z: Tensor, x_shape: Shape) -> Tensor:
        return z.reshape(z.shape[0], *image_shape(x_shape))

    def UT(self, y: Tensor) -> Tensor:
        return y.flatten(1)

    def U(self, w: Tensor, x_shape: Shape) -> Tensor:
        return self.V(w, x_shape)
