"""Any image size: the latent image is padded to a size the prior's network takes, and the padding
is UNOBSERVED (not filled with reflected noise).

A UNet takes sides that are multiples of ``prior.net.config.multiple`` (2**(levels - 1)); a patch
prior (`restore.priors.tiling.TiledPrior`, attribute ``tile``) also needs at least its patch size.
For an observation y of an image of size (H, W) (the image behind y: ``operator.AT(y)``) the
solvers run on a latent of size (Hp, Wp) >= (H, W), rounded up to the multiple, with the image in
its centre (top = (Hp - H) // 2, left = (Wp - W) // 2), and the operator

    A_p = operator @ Crop((top, left, H, W), (Hp, Wp))     (`Padded`, y unchanged)

so the padding is a null space of A_p, drawn by the prior alone. The result is cropped back to
(H, W). A_p has a cheap SVD whenever the operator has one: with A = U diag(s) V^T and the crop C
(C C^T = I), A C = U diag(s) [V^T C; E^T] where E lists the padding pixels (an orthonormal
complement of the crop's range), i.e. V_p^T x = (V^T (C x), the padding pixels): same singular
values, same U. Its pseudo-inverse is exact as well: (A C)^+ = C^T A^+, so A_pinv, CGLS and the
Tikhonov step keep the operator's own accuracy. An `Inpainting` is padded instead as an Inpainting
whose mask is extended by zeros (missing = unobserved) and y by zeros, which is the same problem
and keeps RePaint's mask test.

`padded` is the one entry: every solver in `restore.solvers` is wrapped by it (`pads`), so
`solve` and direct calls pad the same way; a problem that needs no padding runs unchanged.
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from restore.operators import Composed, Crop, Inpainting
from restore.operators.base import Operator, Shape, image_shape
from restore.priors.tiling import tile_index

__all__ = ["Padded", "padded_size", "pad_problem", "pads"]


def _multiple(prior) -> int:
    cfg = getattr(getattr(prior, "net", None), "config", None)
    m = getattr(cfg, "multiple", 1)
    return max(1, int(m() if callable(m) else m))


def _min_side(prior) -> int:
    """At least the patch size of a patch prior (attribute ``tile``), else 1."""
    tile = getattr(prior, "tile", None)
    return int(tile) if tile is not None else 1


def padded_size(prior, h: int, w: int) -> tuple[int, int]:
    """(Hp, Wp): the smallest sides >= (h, w) (and >= a patch prior's tile) that are multiples of
    the prior network's ``config.multiple`` (1 when the network has no config)."""
    m, lo = _multiple(prior), _min_side(prior)

    def up(n: int) -> int:
        n = max(int(n), lo)
        return -(-n // m) * m

    return up(h), up(w)


class Padded(Composed):
    """``operator @ Crop(box, size)``: the operator applied to the crop ``box`` = (top, left, h, w)
    of a latent of ``size`` = (Hp, Wp). y is the operator's (of the (h, w) image).

    A cheap SVD when the operator has one (module docstring): VT(x) = (operator.VT(crop(x)), the
    padding pixels in (C, Hp*Wp) order), singular values and U those of the operator at (h, w).
    A_pinv(y) = crop^T operator.A_pinv(y) (exact: (A C)^+ = C^T A^+). rcond, damping, tol and
    max_iter are the operator's.
    """

    def __init__(self, operator: Operator, box: tuple[int, int, int, int], size: tuple[int, int]):
        crop = Crop(box, size)
        super().__init__(crop, operator, damping=getattr(operator, "damping", 0.0),
                         tol=getattr(operator, "tol", 1e-6), max_iter=getattr(operator, "max_iter", 500))
        self.operator, self.crop = operator, crop
        self.has_svd = bool(getattr(operator, "has_svd", False))
        self.rcond = getattr(operator, "rcond", Operator.rcond)

    def __repr__(self) -> str:
        return f"Padded({self.operator!r} @ {self.crop!r})"

    def _inner(self, x_shape: Shape) -> Shape:
        c, _, _ = image_shape(x_shape)
        return (*x_shape[:-3], c, self.crop.box[2], self.crop.box[3])

    def crop_image(self, x: Tensor) -> Tensor:
        return self.crop.A(x)

    def A_pinv(self, y: Tensor) -> Tensor:
        return self.crop.AT(self.operator.A_pinv(y))

    # SVD
    def x_shape_of(self, y_shape: Shape) -> Shape:
        inner = self.operator.x_shape_of(y_shape)
        return (*inner[:-2], *self.crop.image_size)

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return self.operator.singulars(self._inner(x_shape), dtype=dtype, device=device)

    def kept(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        s = self.singulars(x_shape, dtype=dtype, device=device)
        return s > self.rcond * s.amax(dim=-1, keepdim=True)

    def VT(self, x: Tensor) -> Tensor:
        inner = self.operator.VT(self.crop.A(x))
        outside = x.flatten(2).index_select(2, self.crop._outside.to(x.device)).flatten(1)
        return torch.cat([inner, outside], 1)

    def V(self, z: Tensor, x_shape: Shape) -> Tensor:
        c, _, _ = image_shape(x_shape)
        n = c * self.crop.box[2] * self.crop.box[3]
        inner = self.operator.V(z[:, :n], self._inner(x_shape))
        return self.crop.V(torch.cat([inner.flatten(1), z[:, n:]], 1), x_shape)

    def UT(self, y: Tensor) -> Tensor:
        return self.operator.UT(y)

    def U(self, w: Tensor, x_shape: Shape) -> Tensor:
        return self.operator.U(w, self._inner(x_shape))


@dataclass(frozen=True)
class PaddedProblem:
    """The problem a solver runs on: ``operator`` and ``y`` on the padded latent, and ``crop``,
    mapping a padded image (B, C, Hp, Wp) back to (B, C, H, W). ``box`` = (top, left, H, W) in (Hp, Wp)."""

    operator: Operator
    y: Tensor
    box: tuple[int, int, int, int]
    size: tuple[int, int]

    @property
    def changed(self) -> bool:
        return self.size != tuple(self.box[2:])

    def crop(self, x: Tensor) -> Tensor:
        t, l, h, w = self.box
        return x[..., t : t + h, l : l + w]

    def pad_image(self, x: Tensor | None) -> Tensor | None:
        """An image (B, C, H, W) (a warm start's estimate) on the padded latent, mirrored into the
        padding (its pixels are unobserved, so this is only where their chain starts); None stays None."""
        if x is None or x.ndim != 4 or tuple(x.shape[-2:]) != tuple(self.box[2:]):
            return x  # the solver's own check reports a wrong shape
        top, left, h, w = self.box
        hp, wp = self.size
        rows = tile_index(h, -top, hp, "reflect").to(x.device)
        cols = tile_index(w, -left, wp, "reflect").to(x.device)
        return x.index_select(-2, rows).index_select(-1, cols)


def pad_problem(prior, operator: Operator, y: Tensor) -> PaddedProblem:
    """The padded problem for a prior (module docstring). The image size is that of operator.AT(y)."""
    if not isinstance(y, Tensor) or y.ndim != 4:
        raise ValueError(f"y must be a tensor (B, C, H, W), got {getattr(y, 'shape', type(y).__name__)}")
    h, w = (int(v) for v in operator.AT(y).shape[-2:])
    hp, wp = padded_size(prior, h, w)
    box = ((hp - h) // 2, (wp - w) // 2, h, w)
    if (hp, wp) == (h, w):
        return PaddedProblem(operator, y, box, (h, w))
    top, left = box[:2]
    pads = (left, wp - w - left, top, hp - h - top)
    if isinstance(operator, Inpainting):  # exact and still an Inpainting (RePaint): unobserved = mask 0
        op = copy.copy(operator)
        op.mask = F.pad(operator.mask, pads)
        return PaddedProblem(op, F.pad(y, pads), box, (hp, wp))
    return PaddedProblem(Padded(operator, box, (hp, wp)), y, box, (hp, wp))


def pads(solver: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Wrap a solver `solver(prior, operator, y, *, ..., callback=None, **kw)` so that it runs on
    the padded problem of `pad_problem` and returns images of the observation's image size.
    The callback's x and x0_hat are cropped to that size too. No padding needed: a plain call."""

    @functools.wraps(solver)
    def run(prior, operator: Operator, y: Tensor, *args, callback: Callable | None = None,
            x_init: Tensor | None = None, **kw) -> Tensor:
        if not isinstance(y, Tensor) or y.ndim != 4:  # the solver's own validation and message
            return solver(prior, operator, y, *args, callback=callback, x_init=x_init, **kw)
        p = pad_problem(prior, operator, y)
        if not p.changed:
            return solver(prior, operator, y, *args, callback=callback, x_init=x_init, **kw)
        def cropped(d):
            callback({**d, "x": p.crop(d["x"]), "x0_hat": p.crop(d["x0_hat"])})
        cb = cropped if callback is not None else None
        return p.crop(solver(prior, p.operator, p.y, *args, callback=cb, x_init=p.pad_image(x_init), **kw))

    return run
