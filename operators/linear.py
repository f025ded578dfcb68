"""A user's own linear map, with the adjoint from autograd."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from .base import Operator, Shape, image_shape


class LinearOperator(Operator):
    """y = forward_fn(x) for a differentiable LINEAR map of images (B, C, H, W) with C, H, W = ``x_shape``.

    AT(y) is the vector-Jacobian product of forward_fn at 0 (torch.autograd.grad): the exact adjoint
    when forward_fn is linear (not checked). A_pinv is CGLS on ||A x - y||^2 + damping ||x||^2
    (default damping 0: the minimum-norm least-squares solution, up to tol = 1e-6 on the normal
    residual relative to ||AT y||, at most max_iter = 500 iterations). No cheap SVD.
    """

    def __init__(self, forward_fn: Callable[[Tensor], Tensor], x_shape: Shape, *, damping: float = 0.0,
                 tol: float = 1e-6, max_iter: int = 500):
        self.forward_fn = forward_fn
        self.x_shape = image_shape(x_shape)
        self.damping, self.tol, self.max_iter = float(damping), float(tol), int(max_iter)

    def __repr__(self) -> str:
        return f"LinearOperator({getattr(self.forward_fn, '__name__', 'fn')}, x_shape={self.x_shape})"

    def A(self, x: Tensor) -> Tensor:
        return self.forward_fn(x)

    def AT(self, y: Tensor) -> Tensor:
        x0 = torch.zeros((y.shape[0], *self.x_shape), dtype=y.dtype, device=y.device, requires_grad=True)
        with torch.enable_grad():
            out = self.forward_fn(x0)
            if out.shape != y.shape:
                raise ValueError(f"y has shape {tuple(y.shape)}, forward_fn gives {tuple(out.shape)}")
            (g,) = torch.autograd.grad(out, x0, grad_outputs=y, create_graph=y.requires_grad, allow_unused=True)
        return torch.zeros_like(x0, requires_grad=False) if g is None else g
