"""Composition of operators: apply first, then second."""

from __future__ import annotations

from torch import Tensor

from .base import Operator


class Composed(Operator):
    """A = second.A o first.A (also written ``second @ first``); AT = first.AT o second.AT.

    No cheap SVD. A_pinv is CGLS on ||A x - y||^2 + damping ||x||^2 (default damping 0: the
    minimum-norm least-squares solution, up to tol = 1e-6 on the normal residual relative to
    ||AT y||, at most max_iter = 500 iterations).
    """

    def __init__(self, first: Operator, second: Operator, *, damping: float = 0.0, tol: float = 1e-6,
                 max_iter: int = 500):
        if not isinstance(first, Operator) or not isinstance(second, Operator):
            raise ValueError("Composed needs two operators")
        self.first, self.second = first, second
        self.damping, self.tol, self.max_iter = float(damping), float(tol), int(max_iter)

    def __repr__(self) -> str:
        return f"{self.second!r} @ {self.first!r}"

    def A(self, x: Tensor) -> Tensor:
        return self.second.A(self.first.A(x))

    def AT(self, y: Tensor) -> Tensor:
        return self.first.AT(self.second.AT(y))
