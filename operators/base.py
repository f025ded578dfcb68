"""Base classes: `Operator` (A, AT, A_pinv), `SVDOperator` (adds a cheap SVD) and `Composed` (second @ first).

SVD convention (that of DDRM's ``H_functions``). For x of shape (B, C, H, W) let n = C*H*W, and let
m be the number of entries of one observation y = A(x) (m <= n). Then A = U diag(s) V^T with

- ``VT(x)`` -> z of shape (B, n): coefficients of x in the orthonormal basis V (columns of an n x n
  orthogonal matrix). The first m entries pair with the singular values, the other n - m span the null
  space of A.
- ``V(z, x_shape)`` -> x of shape (B, *x_shape[-3:]); the inverse of ``VT``.
- ``UT(y)`` -> w of shape (B, m); ``U(w, x_shape)`` -> y; U is m x m orthogonal.
- ``singulars(x_shape)`` -> s of shape (m,), or (B, m) where the operator differs per sample
  (a batch of masks). s >= 0, in the layout above, NOT sorted, and may contain zeros.

so that ``A(x) = U(s * VT(x)[:, :m], x.shape)`` and ``AT(y) = V(cat(s * UT(y), zeros(n - m)), x_shape)``.

The one truncation rule (`Operator.kept`): singular values s <= rcond * max(s) count as zero, in the
pseudo-inverse and in every solver that works in the spectral domain.

Every operator owns its linear algebra: ``x_shape_of`` (the image shape behind an observation),
``A_pinv`` and ``least_squares`` (the regularised least-squares step the solvers take), in closed
form through the SVD where the operator has one and by conjugate gradients (CGLS) otherwise; and
``coarsened``, its problem at a coarser scale of an image pyramid, where it has an exact rule.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .cg import cgls

Shape = tuple[int, ...]


def image_shape(x_shape: Shape) -> tuple[int, int, int]:
    """(C, H, W) from a shape (C, H, W) or (B, C, H, W)."""
    if len(x_shape) not in (3, 4):
        raise ValueError(f"image shape must be (C, H, W) or (B, C, H, W), got {tuple(x_shape)}")
    c, h, w = (int(d) for d in x_shape[-3:])
    return c, h, w


def check_image(x: Tensor, name: str = "x") -> None:
    """Raise ValueError unless x is a 4-D floating tensor (B, C, H, W)."""
    if not isinstance(x, Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a tensor (B, C, H, W), got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor, got {x.dtype}")


class Operator:
    """A noiseless linear forward operator y = A x on images (B, C, H, W).

    Subclasses implement ``A`` and ``AT`` (the exact adjoint). The default ``A_pinv`` is CGLS
    (conjugate gradients on the normal equations) on min ||A x - y||^2 + damping ||x||^2, started at 0,
    stopped when ||AT(y - A x) - damping x|| <= tol ||AT y|| or after max_iter iterations.
    ``second @ first`` is the composition applying first, then second.
    """

    has_svd: bool = False
    rcond: float = 1e-3
    damping: float = 0.0
    tol: float = 1e-6
    max_iter: int = 500

    def A(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def AT(self, y: Tensor) -> Tensor:
        raise NotImplementedError

    def A_pinv(self, y: Tensor) -> Tensor:
        return cgls(self.A, self.AT, y, damping=self.damping, tol=self.tol, max_iter=self.max_iter)

    def __call__(self, x: Tensor) -> Tensor:
        return self.A(x)

    def __matmul__(self, first: Operator) -> Operator:
        if not isinstance(first, Operator):
            return NotImplemented
        return Composed(first, self)

    def x_shape_of(self, y_shape: Shape) -> Shape:
        """The shape of the image behind an observation of shape y_shape (B, ...). This default
        applies AT to zeros; operators that know it override it (a ValueError: y_shape does not fit)."""
        return tuple(self.AT(torch.zeros(tuple(y_shape), dtype=torch.float64)).shape)

    def coarsened(self, y: Tensor, sigma_y: float, factor: int):
        """The problem at the pyramid's coarse scale `factor` (`restore.operators.scales`): a
        `Coarse` (A_c, y_c, sigma_c) with A_c D_f x = y_c for the noiseless y = A x. Only operators
        with an exact rule have one (Inpainting, Denoise); here a ValueError. (Composing A with an
        upsampling would give every operator one, but without an SVD, and not the problem itself.)"""
        raise ValueError(f"{type(self).__name__} has no coarse-scale version: a pyramid needs an "
                         "inpainting or denoising operator (use one level)")

    def least_squares(self, r: Tensor, rho: float, tol: float | None = None) -> Tensor:
        """argmin_d ||A d - r||^2 + rho ||d||^2 = (A^T A + rho I)^{-1} A^T r; rho = 0 gives A_pinv(r).

        Closed form through the SVD when the operator has one (rho > 0 bounds the gain by
        1 / (2 sqrt(rho)), so no truncation is needed), else CGLS damped by rho, to relative
        tolerance tol on the normal residual (default: the operator's tol) in at most max_iter steps.
        """
        rho = float(rho)
        if rho < 0:
            raise ValueError(f"rho must be >= 0, got {rho}")
        if rho == 0:
            return self.A_pinv(r)
        if self.has_svd:
            x_shape = self.x_shape_of(tuple(r.shape))
            w = self.UT(r)
            s = self.singulars(x_shape, dtype=r.dtype, device=r.device).expand_as(w)
            c, h, wd = image_shape(x_shape)
            return self.V(pad_zeros(s / (s * s + rho) * w, c * h * wd), x_shape)
        return cgls(self.A, self.AT, r, damping=rho, tol=self.tol if tol is None else tol, max_iter=self.max_iter)

    # SVD pieces: only operators with a cheap SVD override these.
    def kept(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """Boolean mask, like ``singulars``, of the singular values kept (`kept_of`)."""
        return self.kept_of(self.singulars(x_shape, dtype=dtype, device=device))

    def kept_of(self, s: Tensor) -> Tensor:
        """Which of the singular values s (m,) or (B, m) are kept, s > rcond * max s: the one
        truncation rule, of A_pinv and of the solvers' spectral steps."""
        return s > self.rcond * s.amax(dim=-1, keepdim=True)

    def _no_svd(self) -> NotImplementedError:
        return NotImplementedError(
            f"{type(self).__name__} has no cheap SVD; use a solver that needs only A, AT and A_pinv"
        )

    def VT(self, x: Tensor) -> Tensor:
        raise self._no_svd()

    def V(self, z: Tensor, x_shape: Shape) -> Tensor:
        raise self._no_svd()

    def UT(self, y: Tensor) -> Tensor:
        raise self._no_svd()

    def U(self, w: Tensor, x_shape: Shape) -> Tensor:
        raise self._no_svd()

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        raise self._no_svd()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def pad_zeros(w: Tensor, n: int) -> Tensor:
    """(B, m) -> (B, n): append n - m zeros (DDRM's add_zeros)."""
    return torch.cat([w, w.new_zeros(w.shape[0], n - w.shape[1])], dim=1)


class SVDOperator(Operator):
    """An operator with a cheap SVD (convention in the module docstring).

    ``A_pinv`` is the truncated pseudo-inverse V diag(1/s, s > rcond * max s; else 0) U^T.
    Subclasses implement the SVD pieces and ``x_shape_of(y_shape)`` (the image shape behind y).
    """

    has_svd = True

    def x_shape_of(self, y_shape: Shape) -> Shape:
        raise NotImplementedError

    def A_pinv(self, y: Tensor) -> Tensor:
        x_shape = self.x_shape_of(tuple(y.shape))
        c, h, w = image_shape(x_shape)
        s = self.singulars(x_shape, dtype=y.dtype, device=y.device)
        keep = self.kept_of(s)
        s_inv = torch.where(keep, 1.0 / torch.where(keep, s, torch.ones_like(s)), torch.zeros_like(s))
        return self.V(pad_zeros(s_inv * self.UT(y), c * h * w), x_shape)


class PixelSVD:
    """The SVD of a diagonal operator (masks, the identity): U = V = identity on the flattened
    (C, H, W) image and y of x's shape; the operator gives ``singulars``. Mix in before SVDOperator."""

    def x_shape_of(self, y_shape: Shape) -> Shape:
        return tuple(y_shape)

    def VT(self, x: Tensor) -> Tensor:
        return x.flatten(1)

    def V(self, z: Tensor, x_shape: Shape) -> Tensor:
        return z.reshape(z.shape[0], *image_shape(x_shape))

    def UT(self, y: Tensor) -> Tensor:
        return y.flatten(1)

    def U(self, w: Tensor, x_shape: Shape) -> Tensor:
        return w.reshape(w.shape[0], *image_shape(x_shape))


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

    def x_shape_of(self, y_shape: Shape) -> Shape:
        return self.first.x_shape_of(self.second.x_shape_of(y_shape))
