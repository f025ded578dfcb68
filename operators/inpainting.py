"""Inpainting: keep the observed pixels, zero the missing ones."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import PixelSVD, Shape, SVDOperator, check_image, image_shape
from .scales import Coarse, block_mean, block_pads


class Inpainting(PixelSVD, SVDOperator):
    """y = mask * x (same shape as x, zeros where missing); AT = A_pinv = A.

    ``mask``: 1 = observed, 0 = missing, binary, of shape (H, W), (1 | C, H, W) or (B, 1 | C, H, W)
    (per pixel or per channel, one mask or one per sample); any other shape than the image's raises
    ValueError. SVD: U = V = identity (flattening (C, H, W)) and s = the mask broadcast to the
    image, shape (m,) = (C*H*W,), or (B, m) for a batch of masks; zeros are the missing pixels.
    Coarse scale f (`coarsened`): an Inpainting again, a coarse pixel observed where its whole
    f x f block lies in the image and is observed, y_c = D_f y there, sigma_c = sigma_y / f.
    """

    def __init__(self, mask):
        mask = torch.as_tensor(mask).detach().to(device="cpu", dtype=torch.float64)
        if mask.ndim not in (2, 3, 4):
            raise ValueError(f"mask must be (H, W), (C, H, W) or (B, C, H, W), got shape {tuple(mask.shape)}")
        if not ((mask == 0) | (mask == 1)).all():
            raise ValueError("mask must be binary: 1 = observed, 0 = missing")
        while mask.ndim < 4:
            mask = mask.unsqueeze(0)
        self.mask = mask

    def __repr__(self) -> str:
        return f"Inpainting(mask {tuple(self.mask.shape)}, observed {self.mask.mean().item():.1%})"

    def _mask_for(self, shape: Shape, dtype: torch.dtype, device) -> Tensor:
        """The mask broadcast to an image shape (B, C, H, W) or (C, H, W)."""
        mb, mc, mh, mw = self.mask.shape
        b = shape[0] if len(shape) == 4 else mb
        c, h, w = image_shape(shape)
        if (mh, mw) != (h, w) or mc not in (1, c) or mb not in (1, b):
            raise ValueError(f"mask shape {tuple(self.mask.shape)} does not match image shape {tuple(shape)}")
        return self.mask.to(dtype=dtype, device=device)

    def A(self, x: Tensor) -> Tensor:
        check_image(x)
        return x * self._mask_for(tuple(x.shape), x.dtype, x.device)

    def AT(self, y: Tensor) -> Tensor:
        return self.A(y)

    def A_pinv(self, y: Tensor) -> Tensor:
        return self.A(y)

    def coarsened(self, y: Tensor, sigma_y: float, factor: int) -> Coarse:
        """Exact: on a whole observed block, D_f y = D_f x plus the mean of f^2 independent noises."""
        check_image(y, "y")
        f = int(factor)
        if f < 1:
            raise ValueError(f"factor must be a positive integer, got {factor}")
        self._mask_for(tuple(y.shape), y.dtype, None)  # raises if the mask does not fit
        missing = F.pad(1 - self.mask, block_pads(*y.shape[-2:], f), value=1.0)  # outside the image: unobserved
        known = 1 - F.max_pool2d(missing, f)
        return Coarse(Inpainting(known), block_mean(y, f) * known.to(y), float(sigma_y) / f)

    # SVD (PixelSVD: U = V = identity)
    def x_shape_of(self, y_shape: Shape) -> Shape:
        self._mask_for(tuple(y_shape), torch.float64, None)  # raises if the mask does not fit
        return tuple(y_shape)

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        c, h, w = image_shape(x_shape)
        m = self._mask_for((c, h, w), dtype, device)
        s = m.expand(m.shape[0], c, h, w).flatten(1)
        return s[0] if s.shape[0] == 1 else s
