"""Images in and out of a restoration, in the kind the caller gave (numpy, PIL, torch).

Numpy arrays are HW or HWC, uint8, uint16, bool or float on [0, 1]; PIL images of any mode; torch
tensors (C, H, W) on [0, 1]. Inside, an image is (C, H, W) float64 on [0, 1] (`ImageData`); gray
stays gray, an alpha channel is carried through unchanged, 16-bit stays 16-bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

__all__ = ["ImageData", "load_image", "give_back", "give_back_std", "result_mode", "to_prior_channels",
           "from_prior_channels"]


@dataclass
class ImageData:
    """An image as (C, H, W) float64 on [0, 1] plus what is needed to give it back in its own kind."""

    x: Tensor
    alpha: Tensor | None
    kind: str  # numpy | pil | torch
    dtype: Any
    mode: str | None
    info: dict
    hw_only: bool = False


def _from_numpy(a: np.ndarray) -> tuple[Tensor, Any, bool]:
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"image array must be HW or HWC with 1-4 channels, got shape {a.shape}")
    if a.size == 0:
        raise ValueError("image is empty")
    if a.dtype == np.uint8:
        f = a.astype(np.float64) / 255
    elif a.dtype == np.uint16:
        f = a.astype(np.float64) / 65535
    elif a.dtype == np.bool_:
        f = a.astype(np.float64)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("image contains NaN or inf")
        f = a.astype(np.float64)
        if f.min() < -1e-6 or f.max() > 1 + 1e-6:
            raise ValueError("float images must lie on [0, 1]")
    else:
        raise ValueError(f"unsupported image dtype {a.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(f))
    return (t[None] if a.ndim == 2 else t.permute(2, 0, 1)), a.dtype, a.ndim == 2


def result_mode(mode: str, info: dict) -> str:
    """The PIL mode a restored image of `mode` comes back in: L, LA, RGB, RGBA and F (32-bit float)
    are kept, 16-bit and 32-bit integer gray become I;16, anything else (palette, CMYK, ...) RGBA
    when it has alpha or a transparent colour, else RGB."""
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        return "I;16"
    if mode in ("L", "LA", "RGB", "RGBA", "F"):
        return mode
    return "RGBA" if "A" in mode or "transparency" in info else "RGB"


def load_image(image) -> ImageData:
    """The image decoded and checked (an `ImageData` passes through: a file is decoded once)."""
    if isinstance(image, ImageData):
        return image
    if isinstance(image, Image.Image):
        mode, info = image.mode, dict(image.info)
        target = result_mode(mode, info)
        if target == "I;16":
            a = np.asarray(image).astype(np.uint16) if mode != "I" else np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
        elif target == mode:  # F: 32-bit float (TIFF), on [0, 1], checked
            a = np.asarray(image)
        else:
            a = np.asarray(image.convert(target))
        x, dtype, hw = _from_numpy(a)
        kind = "pil"
    elif isinstance(image, Tensor):
        if image.ndim != 3 or not image.is_floating_point():
            raise ValueError(f"tensor images must be float (C, H, W) on [0, 1], got {tuple(image.shape)} {image.dtype}")
        x, dtype, hw, mode, info, kind = image.detach().double().cpu(), image.dtype, False, None, {}, "torch"
        if not torch.isfinite(x).all() or x.min() < -1e-6 or x.max() > 1 + 1e-6:
            raise ValueError("tensor image must be finite and on [0, 1]")
    elif isinstance(image, np.ndarray):
        x, dtype, hw = _from_numpy(image)
        mode, info, kind = None, {}, "numpy"
    else:
        raise ValueError(f"unsupported image type {type(image).__name__}: use a numpy array, PIL image or tensor")
    alpha = None
    if x.shape[0] in (2, 4):
        x, alpha = x[:-1], x[-1:]
    return ImageData(x.clamp(0, 1), alpha, kind, dtype, mode, info, hw)


def give_back(im: ImageData, x: Tensor):
    x = x.detach().double().cpu().clamp(0, 1)
    if im.alpha is not None:
        alpha = im.alpha
        if alpha.shape[-2:] != x.shape[-2:]:  # super-resolution: resize the alpha too
            alpha = torch.nn.functional.interpolate(alpha[None], size=x.shape[-2:], mode="bicubic")[0].clamp(0, 1)
        x = torch.cat([x, alpha])
    if im.kind == "torch":
        return x.to(im.dtype)
    a = x.permute(1, 2, 0).numpy()
    if im.hw_only:
        a = a[..., 0]
    if im.dtype == np.uint8:
        a = np.round(a * 255).astype(np.uint8)
    elif im.dtype == np.uint16:
        a = np.round(a * 65535).astype(np.uint16)
    elif im.dtype == np.bool_:
        a = a > 0.5
    else:
        a = a.astype(im.dtype)
    if im.kind == "numpy":
        return a
    if im.dtype == np.uint16:
        out = Image.fromarray(a if a.ndim == 2 else a[..., 0])  # PIL holds 16-bit gray only
    else:
        out = Image.fromarray(a)
    for key in ("icc_profile", "exif", "xmp"):  # what describes the picture (colour space, camera, date)
        if key in im.info:
            out.info[key] = im.info[key]
    return out


def give_back_std(im: ImageData, std: Tensor):
    """A per-pixel standard deviation (C, H, W) in the image's own kind: a float32 numpy array laid
    out as the image (HW or HWC, without an alpha channel), a PIL image of mode F (the channels'
    mean), or a float32 tensor (C, H, W)."""
    std = std.detach().float().cpu()
    if im.kind == "torch":
        return std
    if im.kind == "pil":
        return Image.fromarray(np.ascontiguousarray(std.mean(0).numpy()))  # float32: mode F
    a = std.permute(1, 2, 0).numpy()
    return np.ascontiguousarray(a[..., 0] if im.hw_only else a)


def to_prior_channels(y: Tensor, prior_channels: int) -> Tensor:
    """Observations (B, C, H, W) as a prior of `prior_channels` channels sees them: a gray image
    with an RGB prior is restored as RGB (its channel repeated); an RGB image with a gray prior is
    restored channel by channel (each image's channels become 3 items of the batch, (3 B, 1, H, W))."""
    b, c = y.shape[:2]
    if prior_channels == 3 and c == 1:
        return y.expand(b, 3, *y.shape[-2:])
    if prior_channels == 1 and c == 3:
        return y.reshape(b * 3, 1, *y.shape[-2:])
    return y


def from_prior_channels(x: Tensor, channels: int, prior_channels: int) -> Tensor:
    """A result of `to_prior_channels` back to the images' `channels` (B, channels, H, W): RGB
    averaged to gray, or each image's 3 gray items of the batch back to its RGB channels."""
    if prior_channels == 3 and channels == 1:
        return x.mean(1, keepdim=True)
    if prior_channels == 1 and channels == 3:
        return x.reshape(-1, 3, *x.shape[-2:])
    return x
