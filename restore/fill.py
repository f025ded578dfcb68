"""The region an inpainting fills, marked as image editors mark it: a mask in any colour, the
image's own transparency, rectangles, grown by a number of pixels. A fill region is a bool (H, W)
numpy array, True = fill; `restore.plan.observed_pixels` turns it into the operator's mask.

Masks mark what to FILL: anything not black (a pixel's brightest colour channel at least half
way up: white, a red stroke, ...) is filled, and a mask's transparent pixels mark nothing. With no
mask the image's alpha channel is the mask: every pixel that is not fully opaque is filled, and the
result is opaque (its alpha channel dropped: the filled pixels are meant to be seen).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch
from PIL import Image

from .images import ImageData

__all__ = ["as_fill_mask", "read_mask", "fit_mask", "check_boxes", "grow_fill", "opaque", "fill_region"]


def as_fill_mask(mask, shape) -> np.ndarray:
    """A mask given to the API as a bool (H, W) array, True = fill, checked against the image's
    `shape` (..., H, W). A numpy array or tensor: True / nonzero values above 0.5 (1, 255, ...) in
    any colour channel mark a pixel (HW, HWC numpy; HW, CHW tensors; 2 or 4 channels: the last is
    alpha, and pixels whose alpha is not above 0.5 mark nothing); a PIL image of any mode: not black
    (`restore.operators.masks.image_mask_values`)."""
    from restore.operators.masks import image_mask_values

    if isinstance(mask, Image.Image):
        m = image_mask_values(mask, "mask") >= 0.5
    else:
        if isinstance(mask, torch.Tensor):
            t = mask.detach().cpu().double()
            t = t.reshape(-1, *t.shape[-2:]) if t.ndim > 2 else t
            a = t.permute(1, 2, 0).numpy() if t.ndim == 3 else t.numpy()
        else:
            a = np.asarray(mask)
            if a.dtype.kind not in "biuf":
                raise ValueError(f"mask must hold numbers or booleans, got dtype {a.dtype}")
            a = a.astype(np.float64)
        if a.ndim == 3 and a.shape[-1] == 1:
            a = a[..., 0]
        if a.ndim == 2:
            m = a > 0.5
        elif a.ndim == 3 and a.shape[-1] in (2, 4):
            m = (a[..., :-1].max(-1) > 0.5) & (a[..., -1] > 0.5)
        elif a.ndim == 3 and a.shape[-1] == 3:
            m = a.max(-1) > 0.5
        else:
            raise ValueError(f"mask must be HW or HWC (1-4 channels), got shape {tuple(np.shape(mask))}")
    if tuple(m.shape) != tuple(shape[-2:]):
        raise ValueError(f"mask size {tuple(m.shape)} differs from the image size {tuple(shape[-2:])}")
    return m


def read_mask(path, keeps: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """A mask file as a bool (H, W) array, True = fill: white or any colour marks what to fill
    (`restore.operators.load_mask`), or with `keeps` what to keep (research data sets' masks)."""
    from restore.operators import load_mask

    return load_mask(path, fill_is_white=not keeps, max_pixels=max_pixels)[0, 0].numpy() < 0.5


def fit_mask(fill: np.ndarray, path, size: tuple[int, int], resize: bool = False) -> np.ndarray:
    """A mask file's fill checked against an image of `size` (width, height): resized to it
    (nearest neighbour) where `resize`, else a ValueError naming both sizes."""
    if fill.shape == size[::-1]:
        return fill
    if not resize:
        raise ValueError(f"{path}: mask is {fill.shape[1]}x{fill.shape[0]}, the image {size[0]}x{size[1]}; "
                         "pass --resize-mask to resize it")
    return np.asarray(Image.fromarray(fill).resize(size, Image.NEAREST))


def check_boxes(boxes, h: int, w: int) -> list[tuple[int, int, int, int]]:
    """Rectangles to fill as (x, y, width, height) in pixels, x to the right and y down from the
    top-left corner, each checked to lie inside an image of h x w."""
    out = []
    for box in boxes or ():
        try:
            x, y, bw, bh = (int(v) for v in box)
            ok = all(float(v) == int(v) for v in box)
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise ValueError(f"a box is 4 integers X,Y,W,H (left, top, width, height), got {box!r}")
        if bw < 1 or bh < 1:
            raise ValueError(f"box {x},{y},{bw},{bh}: width and height must be at least 1")
        if x < 0 or y < 0 or x + bw > w or y + bh > h:
            raise ValueError(f"box {x},{y},{bw},{bh} (X,Y,W,H) goes past the {w}x{h} image")
        out.append((x, y, bw, bh))
    return out


def grow_fill(fill: np.ndarray, pixels: int) -> np.ndarray:
    """The fill region grown by `pixels`: every pixel within that Euclidean distance of one to fill."""
    if isinstance(pixels, bool) or int(pixels) != pixels or pixels < 0:
        raise ValueError(f"grow must be a whole number of pixels >= 0, got {pixels}")
    if pixels == 0 or not fill.any():
        return fill
    from scipy import ndimage

    return ndimage.distance_transform_edt(~fill) <= int(pixels)


def opaque(im: ImageData) -> ImageData:
    """The image without its alpha channel (gray stays gray, colour becomes RGB)."""
    if im.alpha is None:
        return im
    gray = im.x.shape[0] == 1
    info = {k: v for k, v in im.info.items() if k != "transparency"}
    return dataclasses.replace(im, alpha=None, info=info, mode=None if im.mode is None else "L" if gray else "RGB",
                               hw_only=im.hw_only or gray)


def fill_region(im: ImageData, mask: np.ndarray | None = None, *, boxes=(), grow: int = 0):
    """(fill, image to restore): the union of `mask` (a bool (H, W) array, True = fill) and `boxes`
    (`check_boxes`), grown by `grow` pixels (`grow_fill`). mask None: the image's transparency marks
    what to fill (every pixel not fully opaque), and the image comes back without its alpha channel.
    ValueError (one line) when nothing is to fill or everything is."""
    h, w = im.x.shape[-2:]
    if mask is not None:
        fill, source = np.array(mask, dtype=bool), "mask"
    elif im.alpha is not None:
        fill, source = im.alpha[0].numpy() < 1, "alpha"
        im = opaque(im)
    elif boxes:
        fill, source = np.zeros((h, w), bool), "boxes"
    else:
        raise ValueError("nothing to fill: give a mask, or a box, or an image whose region to fill is transparent")
    for x, y, bw, bh in check_boxes(boxes, h, w):
        fill[y:y + bh, x:x + bw] = True
    fill = grow_fill(fill, grow)
    if not fill.any():
        raise ValueError("mask is empty: nothing to fill" if source == "mask" else
                         "no pixel is transparent: nothing to fill (give a mask or a box)")
    if fill.all():
        what = {"mask": "mask covers", "alpha": "transparency covers"}.get(source, "boxes cover")
        raise ValueError(f"{what} the whole image{f' once grown by {grow} px' if grow else ''}: nothing is observed")
    return fill, im
