"""Inpainting: keep the observed pixels, zero the missing ones."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import PixelSVD, Shape, SVDOperator, check_image, image_shape


class Inpainting(PixelSVD, SVDOperator):
    """y = mask * x (same shape as x, zeros where missing); AT = A_pinv = A.

    ``mask``: 1 = observed, 0 = missing, binary, of shape (H, W), (1 | C, H, W) or (B, 1 | C, H, W)
    (per pixel or per channel, one mask or one per sample); any other shape than the image's raises
    ValueError. SVD: U = V = identity (flattening (C, H, W)) and s = the mask broadcast to the
    image, shape (m,) = (C*H*W,), or (B, m) for a batch of masks; zeros are the missing pixels.
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

    # SVD (PixelSVD: U = V = identity)
    def x_shape_of(self, y_shape: Shape) -> Shape:
        self._mask_for(tuple(y_shape), torch.float64, None)  # raises if the mask does not fit
        return tuple(y_shape)

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        c, h, w = image_shape(x_shape)
        m = self._mask_for((c, h, w), dtype, device)
        s = m.expand(m.shape[0], c, h, w).flatten(1)
        return s[0] if s.shape[0] == 1 else s
