"""Image reading and writing, in one place (training, the command line and benchmarks use it).

Images are float32 tensors (C, H, W) on [0, 1]. Writes go to a temporary file in the target
folder and are renamed into place, so an interrupted run never leaves a half-written image.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

__all__ = ["IMAGE_SUFFIXES", "read_image", "to_tensor", "to_uint8", "write_image", "save_grid", "atomic_write"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
MAX_PIXELS = 64_000_000


def read_image(path, mode: str | None = None, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open, decode fully and honour EXIF orientation; ValueError with one line on any failure.

    The size declared in the header is checked against max_pixels before anything is decoded."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > max_pixels:
                    raise ValueError(f"{path}: {im.width}x{im.height} exceeds the {max_pixels}-pixel limit")
                if im.width == 0 or im.height == 0:
                    raise ValueError(f"{path}: empty image")
                im.load()
                im = ImageOps.exif_transpose(im)
    except ValueError as e:
        if str(e).startswith(f"{path}: "):  # ours, above
            raise
        raise ValueError(f"{path}: cannot read image (ValueError: {e})") from None
    except Exception as e:  # noqa: BLE001 - a decoder of untrusted bytes may raise anything
        raise ValueError(f"{path}: cannot read image ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    return im.convert(mode) if mode else im


def to_tensor(im: Image.Image, channels: int | None = None) -> Tensor:
    """PIL image -> float32 (C, H, W) on [0, 1]; channels=1 or 3 converts (alpha dropped)."""
    if channels == 1:
        im = im.convert("L")
    elif channels == 3 or im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    a = np.asarray(im, dtype=np.float32) / 255.0
    if a.ndim == 2:
        a = a[None]
    else:
        a = a.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(a))


def to_uint8(x: Tensor) -> np.ndarray:
    """(C, H, W) on [0, 1] -> (H, W) or (H, W, 3) uint8, rounding; NaN is an error."""
    if not torch.isfinite(x).all():
        raise ValueError("image contains NaN or inf")
    a = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


def plain_mode() -> int:
    """The permissions a plain open() gives a new file: 0o666 less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temp_beside(path: Path, suffix: str) -> str:
    """An empty temporary file in `path`'s folder (same file system, so a rename is atomic), with
    the permissions a plain open() would give it (mkstemp's are 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, plain_mode())
    return tmp


def atomic_write(path, write_fn) -> Path:
    """Call write_fn(tmp_path) for a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"{path.parent}: output folder does not exist")
    tmp = temp_beside(path, path.suffix or ".tmp")
    try:
        write_fn(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_image(path, x: Tensor, **save_kwargs) -> Path:
    """Write a (C, H, W) [0, 1] tensor as an 8-bit image, atomically; the format follows the suffix."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unknown image format (use one of {', '.join(IMAGE_SUFFIXES)})")
    im = Image.fromarray(to_uint8(x))
    fmt = Image.registered_extensions()[path.suffix.lower()]
    return atomic_write(path, lambda tmp: im.save(tmp, format=fmt, **save_kwargs))


def save_grid(path, images: Tensor, nrow: int | None = None, pad: int = 2) -> Path:
    """A grid of (N, C, H, W) [0, 1] images written as one PNG, white padding."""
    n, c, h, w = images.shape
    nrow = nrow or max(1, int(round(n**0.5)))
    rows = (n + nrow - 1) // nrow
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for k in range(n):
        r, q = divmod(k, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = images[k].float().cpu()
    return write_image(path, grid)
