"""Training data: a folder of images (any sizes) or an .npz of uint8 images, decoded once and kept
in memory as uint8 tensors; crops, rescaling, flips and rotations are done in torch per sample,
from a generator keyed to the sample's global index (so a run's draws do not depend on the batch
split across processes or on resumption)."""
from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from restore.io import IMAGE_SUFFIXES, read_image

__all__ = ["ImageData", "load_images", "center_crop"]


def _parse_subset(subset: str | None, n: int) -> slice:
    if not subset:
        return slice(0, n)
    try:
        a, b = (int(v) if v else None for v in subset.split(":"))
    except ValueError:
        raise ValueError(f"subset must look like START:STOP, got {subset!r}") from None
    return slice(a, b)


def _uint8_chw(file: Path, mode: str) -> Tensor:
    a = np.array(read_image(file, mode))
    return torch.from_numpy(a.reshape(a.shape[0], a.shape[1], -1)).permute(2, 0, 1).contiguous()


def load_images(path, channels: int, subset: str | None = None) -> list[Tensor]:
    """uint8 tensors (C, H, W). `subset` 'START:STOP' selects by position (sorted file names, or
    the array order of an .npz)."""
    path = Path(path)
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                key = "images" if "images" in z.files else z.files[0]
                arr = z[key]
        except (OSError, ValueError, IndexError, EOFError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: cannot read images from .npz: {e}") from None
        if arr.dtype != np.uint8 or arr.ndim not in (3, 4):
            raise ValueError(f"{path}: expected uint8 images (N, H, W) or (N, H, W, C), got {arr.dtype} {arr.shape}")
        arr = arr[_parse_subset(subset, len(arr))]
        t = torch.from_numpy(np.ascontiguousarray(arr))
        t = t[:, None] if t.ndim == 3 else t.permute(0, 3, 1, 2)
        if t.shape[1] != channels:
            t = t.float().mean(1, keepdim=True).round().byte() if channels == 1 else t.expand(-1, 3, -1, -1)
        images = list(t.contiguous())
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[_parse_subset(subset, 10**9)]
        mode = "L" if channels == 1 else "RGB"
        images = [_uint8_chw(f, mode) for f in files]
    else:
        raise ValueError(f"{path}: not a folder of images or an .npz file")
    if not images:
        raise ValueError(f"{path}: no images found")
    return images


def center_crop(x: Tensor, crop: int) -> Tensor:
    """The centred square crop of side min(crop, H, W) of (..., H, W); crop = 0 keeps x."""
    if not crop:
        return x
    h, w = x.shape[-2:]
    s = min(int(crop), h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top:top + s, left:left + s]


class ImageData:
    """Random training views of in-memory images, each a function of (seed, global index)."""

    def __init__(self, images: list[Tensor], size: int, *, scales: float = 1.0, rot90: bool = False, flip: bool = True,
                 zoom_out: float = 1.0, shift: int = 0):
        self.images, self.size, self.rot90, self.flip = images, size, rot90, flip
        small = [tuple(im.shape[-2:]) for im in images if min(im.shape[-2:]) < size]
        if small:
            raise ValueError(f"{len(small)} images are smaller than --size {size}, e.g. {small[0]}")
        self.max_scale = max(1.0, float(scales))
        self.zoom_out, self.shift = float(zoom_out), int(shift)
        if not 1.0 <= self.zoom_out <= 1.5 or not 0 <= self.shift < size // 2:
            raise ValueError(f"zoom-out must be in [1, 1.5] and shift in [0, {size // 2 - 1}], got {zoom_out}, {shift}")

    def __len__(self) -> int:
        return len(self.images)

    def view(self, index: int, g: torch.Generator) -> Tensor:
        """One view on [-1, 1] of image `index`: a square crop of side size * 2**u (u uniform in
        [0, log2 max_scale], capped by the image) resized to `size`, a flip and a rotation."""
        im = self.images[index]
        h, w = im.shape[-2:]
        side = self.size
        if self.max_scale > 1:
            hi = math.log2(min(self.max_scale, min(h, w) / self.size))
            side = int(round(self.size * 2 ** (float(torch.rand((), generator=g)) * max(hi, 0.0))))
        y0 = int(torch.randint(0, h - side + 1, (), generator=g))
        x0 = int(torch.randint(0, w - side + 1, (), generator=g))
        x = im[:, y0:y0 + side, x0:x0 + side].float() / 127.5 - 1
        if side != self.size:
            x = F.interpolate(x[None], size=(self.size, self.size), mode="area")[0]
        if self.flip and bool(torch.rand((), generator=g) < 0.5):
            x = x.flip(-1)
        if self.rot90:
            x = torch.rot90(x, int(torch.randint(0, 4, (), generator=g)), (-2, -1))
        if (self.zoom_out > 1 or self.shift) and bool(torch.rand((), generator=g) < 0.5):
            x = self.reframe(x, g)
        return x

    def reframe(self, x: Tensor, g: torch.Generator) -> Tensor:
        """x (C, s, s) framed differently: zoomed out by a factor uniform in [1, zoom_out] (reflect
        padding, area resize back to s) and moved by (dy, dx) uniform in -shift..shift px (reflect
        at the border). Aligned crops (faces) are otherwise seen in one framing only."""
        s = x.shape[-1]
        pad = int(round(s * (float(torch.rand((), generator=g)) * (self.zoom_out - 1)) / 2))
        dy, dx = (int(v) for v in torch.randint(-self.shift, self.shift + 1, (2,), generator=g))
        if pad:
            x = F.interpolate(F.pad(x[None], (pad,) * 4, mode="reflect"), size=(s, s), mode="area")[0]
        if dy or dx:
            m = self.shift
            x = F.pad(x[None], (m,) * 4, mode="reflect")[0, :, m - dy:m - dy + s, m - dx:m - dx + s]
        return x
