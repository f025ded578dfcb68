"""Downsampling by an integer scale: antialiased bicubic or block averaging."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Shape, SVDOperator, check_image, image_shape
from .bicubic import bicubic_matrix
from .svd_tools import KroneckerSVD, householder_basis


class Downsample(SVDOperator):
    """y = A x of shape (B, C, H / s, W / s); H and W must be multiples of ``scale`` (else ValueError).

    kind="bicubic": per axis the matrix of `bicubic_matrix` (Keys a = -0.5 stretched by the scale,
    borders renormalised as PIL), y = M_H x M_W^T; SVD by the Kronecker product of the 1-D SVDs.
    kind="block": y = the mean of each s x s block; closed-form SVD (one singular value 1 / s per
    block, V a Householder basis of each block whose first vector is constant).
    A_pinv: the SVD pseudo-inverse truncated at ``rcond`` (default 1e-3) times the largest singular
    value (for "block" nothing is truncated: A_pinv repeats each pixel s x s times).
    """

    def __init__(self, scale: int, kind: str = "bicubic", *, rcond: float = 1e-3):
        if int(scale) != scale or scale < 1:
            raise ValueError(f"scale must be a positive integer, got {scale}")
        if kind not in ("bicubic", "block"):
            raise ValueError(f"kind must be 'bicubic' or 'block', got {kind!r}")
        self.scale, self.kind, self.rcond = int(scale), kind, float(rcond)
        self._svd: dict[tuple[int, int], KroneckerSVD] = {}
        self._Q = householder_basis(torch.ones(self.scale**2))

    def __repr__(self) -> str:
        return f"Downsample({self.scale}, kind={self.kind!r})"

    def _check(self, h: int, w: int) -> None:
        if h % self.scale or w % self.scale:
            raise ValueError(f"image {h}x{w} is not a multiple of the scale {self.scale} in both sides")

    def _mats(self, h: int, w: int, like: Tensor) -> tuple[Tensor, Tensor]:
        self._check(h, w)
        return bicubic_matrix(h, self.scale).to(like), bicubic_matrix(w, self.scale).to(like)

    def A(self, x: Tensor) -> Tensor:
        check_image(x)
        h, w = x.shape[-2:]
        if self.kind == "block":
            self._check(h, w)
            return F.avg_pool2d(x, self.scale)
        M_h, M_w = self._mats(h, w, x)
        return torch.einsum("iH,bcHW,jW->bcij", M_h, x, M_w)

    def AT(self, y: Tensor) -> Tensor:
        check_image(y, "y")
        s = self.scale
        if self.kind == "block":
            return y.repeat_interleave(s, dim=-2).repeat_interleave(s, dim=-1) / s**2
        M_h, M_w = self._mats(y.shape[-2] * s, y.shape[-1] * s, y)
        return torch.einsum("iH,bcij,jW->bcHW", M_h, y, M_w)

    def A_pinv(self, y: Tensor) -> Tensor:
        if self.kind == "block":
            check_image(y, "y")
            return y.repeat_interleave(self.scale, dim=-2).repeat_interleave(self.scale, dim=-1)
        return super().A_pinv(y)

    # SVD
    def x_shape_of(self, y_shape: Shape) -> Shape:
        return (*y_shape[:-2], y_shape[-2] * self.scale, y_shape[-1] * self.scale)

    def _ksvd(self, h: int, w: int) -> KroneckerSVD:
        self._check(h, w)
        if (h, w) not in self._svd:
            self._svd[(h, w)] = KroneckerSVD(bicubic_matrix(h, self.scale), bicubic_matrix(w, self.scale))
        return self._svd[(h, w)]

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        c, h, w = image_shape(x_shape)
        if self.kind == "block":
            self._check(h, w)
            m = c * (h // self.scale) * (w // self.scale)
            return torch.full((m,), 1.0 / self.scale, dtype=dtype, device=device)
        return self._ksvd(h, w).singulars(c, dtype, device)

    def _blocks(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H/s, W/s, s*s)."""
        b, c, h, w = x.shape
        s = self.scale
        return x.reshape(b, c, h // s, s, w // s, s).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h // s, w // s, s * s)

    def VT(self, x: Tensor) -> Tensor:
        if self.kind == "bicubic":
            return self._ksvd(*x.shape[-2:]).VT(x)
        self._check(*x.shape[-2:])
        coef = self._blocks(x) @ self._Q.to(x)
        return torch.cat([coef[..., 0].flatten(1), coef[..., 1:].flatten(1)], dim=1)

    def V(self, z: Tensor, x_shape: Shape) -> Tensor:
        c, h, w = image_shape(x_shape)
        if self.kind == "bicubic":
            return self._ksvd(h, w).V(z, c)
        self._check(h, w)
        b, s = z.shape[0], self.scale
        hs, ws = h // s, w // s
        m = c * hs * ws
        coef = torch.cat([z[:, :m].reshape(b, c, hs, ws, 1), z[:, m:].reshape(b, c, hs, ws, s * s - 1)], dim=-1)
        blocks = coef @ self._Q.to(z).T
        return blocks.reshape(b, c, hs, ws, s, s).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h, w)

    def UT(self, y: Tensor) -> Tensor:
        if self.kind == "block":
            return y.flatten(1)
        s = self.scale
        return self._ksvd(y.shape[-2] * s, y.shape[-1] * s).UT(y)

    def U(self, w: Tensor, x_shape: Shape) -> Tensor:
        c, h, wd = image_shape(x_shape)
        if self.kind == "block":
            self._check(h, wd)
            return w.reshape(w.shape[0], c, h // self.scale, wd // self.scale)
        return self._ksvd(h, wd).U(w, c)
