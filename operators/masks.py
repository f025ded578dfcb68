"""Inpainting masks: loading from files and seeded generators. Every mask is (1, 1, H, W) float64, 1 = observed."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def _to_unit(arr: np.ndarray, source: str) -> np.ndarray:
    """Mask values as float64 in [0, 1]: bool as is, 8-bit / 255, 16-bit / 65535, floats checked."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float64)
    if arr.dtype == np.uint8:
        return arr / 255.0
    if arr.dtype == np.uint16:
        return arr / 65535.0
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"mask {source} must have values in [0, 1] (or be bool/uint8), got [{arr.min()}, {arr.max()}]")
    return arr


def _read(p: Path, max_pixels: int) -> np.ndarray:
    """(H, W) values in [0, 1] from a .npy or an image of any mode (`image_mask_values`); the size
    declared in the file's header is checked against max_pixels before anything is decoded."""
    if p.suffix.lower() == ".npy":
        from .arrayfiles import read_array

        arr = read_array(p, max_elements=max_pixels)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"mask {p} must hold numbers or booleans, got dtype {arr.dtype}")
        arr = arr.squeeze(0) if arr.ndim == 3 and arr.shape[0] == 1 else arr
        arr = arr.squeeze(-1) if arr.ndim == 3 and arr.shape[-1] == 1 else arr
        if arr.ndim != 2:
            raise ValueError(f"mask {p} must be a 2-D array (H, W), got shape {arr.shape}")
        return _to_unit(arr, str(p))
    from restore.io import read_image

    return image_mask_values(read_image(p, max_pixels=max_pixels), str(p))


def image_mask_values(im, source: str = "image") -> np.ndarray:
    """(H, W) values in [0, 1] of a mask given as a PIL image of any mode: a colour pixel's value is
    its brightest channel (a red stroke counts as white), and a transparent one (alpha below half)
    is 0, so that only what is painted marks a pixel."""
    if im.mode == "1":
        im = im.convert("L")
    elif im.mode.startswith("I;16"):
        im = im.convert("I;16")
    elif im.mode not in ("L", "LA", "RGB", "RGBA", "F"):  # palette, CMYK, 32-bit gray, ...: as RGBA
        try:
            im = im.convert("RGBA")
        except ValueError:
            raise ValueError(f"mask {source}: images of mode {im.mode} are not supported") from None
    arr = _to_unit(np.asarray(im), source)
    if arr.ndim == 2:
        return arr
    colour = arr[..., :-1] if im.mode in ("LA", "RGBA") else arr
    value = colour.max(-1)
    if im.mode in ("LA", "RGBA"):
        value = np.where(arr[..., -1] >= 0.5, value, 0.0)
    return value


def load_mask(path: str | Path, *, fill_is_white: bool = True, max_pixels: int | None = None) -> Tensor:
    """Load a mask file as (1, 1, H, W) float64 with 1 = observed.

    Files follow the image-editor convention: white (or any colour: a pixel's brightest channel
    counts) = the region to FILL (missing), black = kept; ``fill_is_white=False`` reads white as
    known (research masks). Images of any mode (transparent pixels count as black) or .npy (bool,
    uint8 or floats in [0, 1]). Grey values are thresholded at 0.5 (>= 0.5 is white), with a
    warning. Files of more than max_pixels pixels (default: restore.io.MAX_PIXELS) are refused.
    """
    from restore.io import MAX_PIXELS

    p = Path(path)
    if not p.exists():
        raise ValueError(f"mask file not found: {p}")
    v = _read(p, MAX_PIXELS if max_pixels is None else int(max_pixels))
    if not np.isin(v, (0.0, 1.0)).all():
        warnings.warn(f"mask {p} has grey values; thresholded at half brightness", stacklevel=2)
    white = v >= 0.5
    observed = ~white if fill_is_white else white
    return torch.from_numpy(observed.astype(np.float64))[None, None]


def _check_size(h: int, w: int) -> None:
    if int(h) != h or int(w) != w or h < 1 or w < 1:
        raise ValueError(f"mask size must be positive integers, got {h}x{w}")


def box_mask(h: int, w: int, side: int, margin: int = 0, *, generator: torch.Generator) -> Tensor:
    """A missing side x side square at a uniformly random position at least ``margin`` from each edge."""
    _check_size(h, w)
    if side < 1 or margin < 0 or side + 2 * margin > min(h, w):
        raise ValueError(f"a box of side {side} with margin {margin} does not fit a {h}x{w} image")
    top, left = (
        int(torch.randint(margin, n - margin - side + 1, (1,), generator=generator)) for n in (h, w)
    )
    mask = torch.ones(1, 1, h, w, dtype=torch.float64)
    mask[..., top : top + side, left : left + side] = 0
    return mask


def random_mask(h: int, w: int, missing: float = 0.7, *, generator: torch.Generator) -> Tensor:
    """Exactly round(missing * h * w) pixels missing, chosen uniformly at random."""
    _check_size(h, w)
    if not 0.0 <= missing <= 1.0:
        raise ValueError(f"missing must be a fraction in [0, 1], got {missing}")
    n_missing = round(missing * h * w)
    mask = torch.ones(h * w, dtype=torch.float64)
    mask[torch.randperm(h * w, generator=generator)[:n_missing]] = 0
    return mask.reshape(1, 1, h, w)


def stroke_mask(
    h: int,
    w: int,
    *,
    generator: torch.Generator,
    max_strokes: int = 5,
    max_vertices: int = 8,
    max_length: float | None = None,
    max_width: float | None = None,
) -> Tensor:
    """Free-form brush strokes (as the DeepFill v2 / LaMa generators): 1..max_strokes polylines of
    1..max_vertices segments from a random start, each turning by a random angle, segment lengths up
    to ``max_length`` (default min(h, w) / 4) and brush width up to ``max_width`` (default
    min(h, w) / 8); pixels within half the width of a segment are missing."""
    _check_size(h, w)
    size = min(h, w)
    max_length = size / 4 if max_length is None else max_length
    max_width = size / 8 if max_width is None else max_width

    def uniform(lo: float, hi: float) -> float:
        return lo + (hi - lo) * float(torch.rand((), generator=generator, dtype=torch.float64))

    def integer(lo: int, hi: int) -> int:  # lo..hi inclusive
        return int(torch.randint(lo, hi + 1, (1,), generator=generator))

    starts, ends, radii = [], [], []
    for _ in range(integer(1, max_strokes)):
        r, c = uniform(0, h - 1), uniform(0, w - 1)
        width = uniform(max(1.0, max_width / 4), max(1.0, max_width))
        angle = uniform(0, 2 * math.pi)
        for _ in range(integer(1, max_vertices)):
            angle += uniform(-math.pi / 2, math.pi / 2)
            length = uniform(max_length / 4, max_length)
            r2 = min(max(r + length * math.sin(angle), 0.0), h - 1.0)
            c2 = min(max(c + length * math.cos(angle), 0.0), w - 1.0)
            starts.append((r, c))
            ends.append((r2, c2))
            radii.append(width / 2)
            r, c = r2, c2
    p0 = torch.tensor(starts, dtype=torch.float64)[:, :, None, None]  # (S, 2, 1, 1)
    d = torch.tensor(ends, dtype=torch.float64)[:, :, None, None] - p0
    rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    q = torch.stack([rows, cols])[None] - p0  # (S, 2, h, w)
    t = ((q * d).sum(1) / (d * d).sum(1).clamp(min=1e-12)).clamp(0, 1)  # (S, h, w)
    dist = (q - t[:, None] * d).norm(dim=1)
    missing = (dist <= torch.tensor(radii, dtype=torch.float64)[:, None, None]).any(0)
    return (~missing).to(torch.float64).reshape(1, 1, h, w)


def half_mask(h: int, w: int, side: str = "right") -> Tensor:
    """The ``side`` half ("right", "left", "top", "bottom") missing; ceil(w/2) (or ceil(h/2)) pixels wide."""
    _check_size(h, w)
    mask = torch.ones(1, 1, h, w, dtype=torch.float64)
    if side == "right":
        mask[..., :, w // 2 :] = 0
    elif side == "left":
        mask[..., :, : w - w // 2] = 0
    elif side == "bottom":
        mask[..., h // 2 :, :] = 0
    elif side == "top":
        mask[..., : h - h // 2, :] = 0
    else:
        raise ValueError(f"side must be 'right', 'left', 'top' or 'bottom', got {side!r}")
    return mask
