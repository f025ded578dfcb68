"""Crop: observe a rectangle of the image; `Padded`: an operator applied to a rectangle of a larger image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Composed, Operator, Shape, SVDOperator, check_image, image_shape


class Crop(SVDOperator):
    """y = x[..., top:top+height, left:left+width] for ``box`` = (top, left, height, width) of an
    ``image_size`` = (H, W) image. AT zero-pads back to (H, W); A_pinv = AT (A AT = I).

    SVD: s = ones(C*height*width), U = identity, V^T lists the cropped pixels (C, height, width)
    first, then the others in (C, H, W) order.
    """

    def __init__(self, box: tuple[int, int, int, int], image_size: tuple[int, int]):
        top, left, height, width = (int(v) for v in box)
        H, W = (int(v) for v in image_size)
        if height < 1 or width < 1 or top < 0 or left < 0 or top + height > H or left + width > W:
            raise ValueError(f"crop box (top, left, height, width) = {tuple(box)} is not inside a {H}x{W} image")
        self.box, self.image_size = (top, left, height, width), (H, W)
        inside = torch.zeros(H, W, dtype=torch.bool)
        inside[top : top + height, left : left + width] = True
        self._outside = (~inside).flatten().nonzero().squeeze(1)

    def __repr__(self) -> str:
        return f"Crop(box={self.box}, image_size={self.image_size})"

    def _check(self, h: int, w: int) -> None:
        if (h, w) != self.image_size:
            raise ValueError(f"crop built for {self.image_size[0]}x{self.image_size[1]} images, got {h}x{w}")

    def A(self, x: Tensor) -> Tensor:
        check_image(x)
        self._check(*x.shape[-2:])
        t, l, h, w = self.box
        return x[..., t : t + h, l : l + w]

    def AT(self, y: Tensor) -> Tensor:
        check_image(y, "y")
        t, l, h, w = self.box
        if tuple(y.shape[-2:]) != (h, w):
            raise ValueError(f"crop observations are {h}x{w}, got {tuple(y.shape[-2:])}")
        H, W = self.image_size
        return F.pad(y, (l, W - l - w, t, H - t - h))

    def A_pinv(self, y: Tensor) -> Tensor:
        return self.AT(y)

    # SVD
    def x_shape_of(self, y_shape: Shape) -> Shape:
        return (*y_shape[:-2], *self.image_size)

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        c, h, w = image_shape(x_shape)
        self._check(h, w)
        return torch.ones(c * self.box[2] * self.box[3], dtype=dtype, device=device)

    def VT(self, x: Tensor) -> Tensor:
        rest = x.flatten(2).index_select(2, self._outside.to(x.device))
        return torch.cat([self.A(x).flatten(1), rest.flatten(1)], dim=1)

    def V(self, z: Tensor, x_shape: Shape) -> Tensor:
        c, h, w = image_shape(x_shape)
        self._check(h, w)
        b, m = z.shape[0], c * self.box[2] * self.box[3]
        x = self.AT(z[:, :m].reshape(b, c, self.box[2], self.box[3])).flatten(2)
        x = x.index_copy(2, self._outside.to(z.device), z[:, m:].reshape(b, c, -1))
        return x.reshape(b, c, h, w)

    def UT(self, y: Tensor) -> Tensor:
        return y.flatten(1)

    def U(self, w: Tensor, x_shape: Shape) -> Tensor:
        c, _, _ = image_shape(x_shape)
        return w.reshape(w.shape[0], c, self.box[2], self.box[3])


class Padded(Composed):
    """``operator @ Crop(box, size)``: the operator applied to the crop ``box`` = (top, left, h, w)
    of a latent of ``size`` = (Hp, Wp); y is the operator's (of the (h, w) image). The pixels
    outside the box are unobserved: the null space of A C.

    A cheap SVD when the operator has one: with A = U diag(s) V^T and the crop C (C C^T = I),
    A C = U diag(s) [V^T C; E^T] where E lists the pixels outside the box, i.e. V_p^T x =
    (V^T (C x), the outside pixels in (C, Hp*Wp) order): same singular values, same U.
    A_pinv(y) = C^T A^+ y (exact: (A C)^+ = C^T A^+). rcond, damping, tol and max_iter are the operator's.
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

    def A_pinv(self, y: Tensor) -> Tensor:
        return self.crop.AT(self.operator.A_pinv(y))

    # SVD
    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        return self.operator.singulars(self._inner(x_shape), dtype=dtype, device=device)

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
