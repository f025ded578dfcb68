"""CGLS: conjugate gradients on the (damped) normal equations, batched per sample."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample inner product, shape (B,)."""
    return (a * b).flatten(1).sum(1)


def _bc(c: Tensor, t: Tensor) -> Tensor:
    """Per-sample scalars (B,) shaped to broadcast against t."""
    return c.view(-1, *([1] * (t.ndim - 1)))


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(num))


def cgls(
    A: Callable[[Tensor], Tensor],
    AT: Callable[[Tensor], Tensor],
    y: Tensor,
    *,
    damping: float = 0.0,
    tol: float = 1e-6,
    max_iter: int = 500,
) -> Tensor:
    """Approximate argmin_x ||A x - y||^2 + damping ||x||^2 by CGLS started at x = 0.

    With damping 0 the iterates stay in the range of AT, so the limit is the minimum-norm
    least-squares solution A^+ y; early stopping regularises. Each sample stops on its own when
    ||AT(y - A x) - damping x|| <= tol ||AT y||; at most max_iter iterations (one A and one AT each).
    """
    r = y
    g = AT(r)
    x = torch.zeros_like(g)
    p = g
    gamma = _dot(g, g)
    stop = tol**2 * gamma
    for _ in range(max_iter):
        active = gamma > stop
        if not bool(active.any()):
            break
        q = A(p)
        alpha = _safe_div(gamma, _dot(q, q) + damping * _dot(p, p))
        alpha = torch.where(active, alpha, torch.zeros_like(alpha))
        x = x + _bc(alpha, p) * p
        r = r - _bc(alpha, q) * q
        g = AT(r) - damping * x
        gamma_new = _dot(g, g)
        beta = _safe_div(gamma_new, gamma)
        p = g + _bc(beta, p) * p
        gamma = torch.where(active, gamma_new, gamma)
    return x
