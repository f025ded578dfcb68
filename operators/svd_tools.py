"""Building blocks for cheap SVDs: a Householder basis and the Kronecker SVD of separable operators."""

from __future__ import annotations

import torch
from torch import Tensor


def householder_basis(u: Tensor) -> Tensor:
    """Orthogonal matrix Q (k x k, float64) whose first column is the unit vector u / |u|."""
    u = u.to(torch.float64).flatten()
    u = u / u.norm()
    e1 = torch.zeros_like(u)
    e1[0] = 1.0
    v = e1 - u
    if v.norm() < 1e-12:
        return torch.eye(u.numel(), dtype=torch.float64)
    return torch.eye(u.numel(), dtype=torch.float64) - 2.0 * torch.outer(v, v) / v.dot(v)


class KroneckerSVD:
    """SVD of the separable map X -> M_h X M_w^T applied per channel (M_h: h x H, M_w: w x W, h <= H, w <= W).

    The SVDs of M_h and M_w (torch.linalg.svd, float64) give A = U diag(s) V^T with
    s = outer(s_h, s_w). Layout of z = VT(x) per sample: the (C, h, w) block of kept coefficients
    first (pairing with s repeated per channel), then the (C, h, W - w) block, then (C, H - h, W).
    """

    def __init__(self, M_h: Tensor, M_w: Tensor):
        self.U_h, self.s_h, Vh_h = torch.linalg.svd(M_h.to(torch.float64))
        self.U_w, self.s_w, Vh_w = torch.linalg.svd(M_w.to(torch.float64))
        self.V_h, self.V_w = Vh_h.T, Vh_w.T
        self.h, self.H = M_h.shape
        self.w, self.W = M_w.shape

    def singulars(self, c: int, dtype: torch.dtype, device) -> Tensor:
        return torch.outer(self.s_h, self.s_w).flatten().repeat(c).to(dtype=dtype, device=device)

    def VT(self, x: Tensor) -> Tensor:
        V_h, V_w = self.V_h.to(x), self.V_w.to(x)
        Z = torch.einsum("Hi,bcHW,Wj->bcij", V_h, x, V_w)
        h, w = self.h, self.w
        parts = [Z[..., :h, :w], Z[..., :h, w:], Z[..., h:, :]]
        return torch.cat([p.flatten(1) for p in parts], dim=1)

    def V(self, z: Tensor, c: int) -> Tensor:
        b, h, w, H, W = z.shape[0], self.h, self.w, self.H, self.W
        n1, n2 = c * h * w, c * h * (W - w)
        Z = torch.cat(
            [
                torch.cat([z[:, :n1].reshape(b, c, h, w), z[:, n1 : n1 + n2].reshape(b, c, h, W - w)], dim=-1),
                z[:, n1 + n2 :].reshape(b, c, H - h, W),
            ],
            dim=-2,
        )
        return torch.einsum("Hi,bcij,Wj->bcHW", self.V_h.to(z), Z, self.V_w.to(z))

    def UT(self, y: Tensor) -> Tensor:
        return torch.einsum("ia,bcij,jd->bcad", self.U_h.to(y), y, self.U_w.to(y)).flatten(1)

    def U(self, w: Tensor, c: int) -> Tensor:
        W = w.reshape(w.shape[0], c, self.h, self.w)
        return torch.einsum("ia,bcad,jd->bcij", self.U_h.to(w), W, self.U_w.to(w))
