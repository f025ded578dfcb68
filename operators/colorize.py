"""Colorization: a colour image seen in grey."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Shape, SVDOperator, check_image, image_shape
from .svd_tools import householder_basis


class Colorize(SVDOperator):
    """y[b, 0] = sum_c weights[c] x[b, c]: shape (B, 1, H, W). Default weights: the channel mean (1/3 each).

    SVD, per pixel: s = |weights| for each of the H*W pixels, V = a Householder basis of the
    channels whose first vector is weights / |weights|; z = VT(x) holds the (H*W) coefficients along
    that vector first, then the other (C-1) channels' coefficients (C-1, H, W); U = identity.
    A_pinv y = weights y / |weights|^2 (nothing truncated).
    """

    def __init__(self, weights=None, *, rcond: float = 1e-3):
        w = torch.full((3,), 1.0 / 3.0) if weights is None else torch.as_tensor(weights)
        w = w.detach().to(device="cpu", dtype=torch.float64).flatten()
        if w.numel() < 1 or not torch.isfinite(w).all() or w.norm() == 0:
            raise ValueError(f"colorize weights must be finite and not all zero, got {w.tolist()}")
        self.weights = w
        self.rcond = float(rcond)
        self._Q = householder_basis(w)

    def __repr__(self) -> str:
        return f"Colorize(weights={[round(v, 4) for v in self.weights.tolist()]})"

    def _check(self, c: int) -> None:
        if c != self.weights.numel():
            raise ValueError(f"colorize expects {self.weights.numel()} channels, got {c}")

    def A(self, x: Tensor) -> Tensor:
        check_image(x)
        self._check(x.shape[1])
        return torch.einsum("c,bchw->bhw", self.weights.to(x), x).unsqueeze(1)

    def AT(self, y: Tensor) -> Tensor:
        check_image(y, "y")
        if y.shape[1] != 1:
            raise ValueError(f"colorize observations have 1 channel, got {y.shape[1]}")
        return self.weights.to(y).reshape(1, -1, 1, 1) * y

    def A_pinv(self, y: Tensor) -> Tensor:
        return self.AT(y) / self.weights.dot(self.weights).item()

    # SVD
    def x_shape_of(self, y_shape: Shape) -> Shape:
        return (*y_shape[:-3], self.weights.numel(), *y_shape[-2:])

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        c, h, w = image_shape(x_shape)
        self._check(c)
        return torch.full((h * w,), self.weights.norm().item(), dtype=dtype, device=device)

    def VT(self, x: Tensor) -> Tensor:
        self._check(x.shape[1])
        coef = torch.einsum("ck,bchw->bkhw", self._Q.to(x), x)
        return torch.cat([coef[:, 0].flatten(1), coef[:, 1:].flatten(1)], dim=1)

    def V(self, z: Tensor, x_shape: Shape) -> Tensor:
        c, h, w = image_shape(x_shape)
        self._check(c)
        coef = z.reshape(z.shape[0], c, h, w)
        return torch.einsum("ck,bkhw->bchw", self._Q.to(z), coef)

    def UT(self, y: Tensor) -> Tensor:
        return y.flatten(1)

    def U(self, w: Tensor, x_shape: Shape) -> Tensor:
        c, h, wd = image_shape(x_shape)
        return w.reshape(w.shape[0], 1, h, wd)
