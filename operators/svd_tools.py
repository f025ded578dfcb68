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
    The bases are made unique (`canonical_svd`): solvers draw noise in these coordinates, and the
    signs LAPACK returns (and its basis of the null space) may differ between CPUs.
    """

    def __init__(self, M_h: Tensor, M_w: Tensor):
        self.U_h, self.s_h, self.V_h = canonical_svd(M_h)
        self.U_w, self.s_w, self.V_w = canonical_svd(M_w)
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


def canonical_svd(M: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """M = U diag(s) V[:, :k]^T (M: k x n, k <= n, float64) with V square (n x n), in a form that does
    not depend on LAPACK's choices (so per-draw noise in V's coordinates is the same on every CPU):
    each singular pair's sign so that V's first entry of at least half its largest magnitude is
    positive, and the null-space columns from a Householder QR of the range columns (a fixed
    function of them). Repeated non-zero singular values would still leave a rotation free."""
    U, s, Vh = torch.linalg.svd(M.to(torch.float64))
    k = len(s)
    V = Vh[:k].T
    big = V.abs() >= 0.5 * V.abs().amax(0, keepdim=True)
    first = big.to(torch.int8).argmax(0)  # first index of each column with a large entry
    sign = torch.sign(V[first, torch.arange(k)])
    U, V = U * sign, V * sign
    if V.shape[0] > k:
        V = torch.cat([V, torch.linalg.qr(V, mode="complete").Q[:, k:]], 1)
    return U, s, V
