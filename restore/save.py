"""Writing a restored image to a file: the format's limits checked up front, what the input carried
kept (its ICC colour profile, EXIF and XMP), a stated quality for lossy formats, atomically.

EXIF orientation: `restore.io.read_image` turns the pixels upright on reading, so the EXIF written
says orientation 1 (as is), and the pixels and the tag agree in every viewer. EXIF's pixel size
tags are updated to the result's size (super-resolution changes it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from .io import atomic_write

__all__ = ["DEFAULT_QUALITY", "LOSSY", "check_format", "check_quality", "save", "heat_map"]

DEFAULT_QUALITY = 95  # JPEG and WebP: small files with no artefact visible at 100 %
LOSSY = (".jpg", ".jpeg", ".webp")  # formats that change pixels when writing them

_ORIENTATION, _EXIF_IFD, _EXIF_WIDTH, _EXIF_HEIGHT = 0x0112, 0x8769, 0xA002, 0xA003
_XMP_KEY = "XML:com.adobe.xmp"  # PNG's iTXt chunk of XMP


def _format(path: Path) -> str:
    s = path.suffix.lower()
    return "JPEG" if s in (".jpg", ".jpeg") else "TIFF" if s in (".tif", ".tiff") else s[1:].upper()


def check_format(mode: str, path: Path) -> None:
    """ValueError (one line) when `path`'s format cannot hold an image of `mode` without losing its
    alpha or its depth (16-bit, float): such images need a PNG or a TIFF."""
    s, fmt = path.suffix.lower(), _format(path)
    if fmt == "JPEG" and mode in ("RGBA", "LA"):
        raise ValueError(f"{path}: JPEG has no alpha channel; write a PNG")
    deep = "float" if mode == "F" else "16-bit" if mode.startswith("I") else None
    if deep and s not in (".png", ".tif", ".tiff"):
        raise ValueError(f"{path}: {fmt} cannot hold {deep} images; write a PNG or TIFF")


def check_quality(quality) -> int:
    """A JPEG/WebP quality, checked: an integer in 1..100."""
    if isinstance(quality, bool) or int(quality) != quality or not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be an integer in 1..100, got {quality}")
    return int(quality)


def _exif(data: bytes, size: tuple[int, int]) -> Image.Exif:
    exif = Image.Exif()
    exif.load(data)
    exif[_ORIENTATION] = 1  # the pixels were turned upright when read
    ifd = exif.get_ifd(_EXIF_IFD)
    if _EXIF_WIDTH in ifd or _EXIF_HEIGHT in ifd:
        ifd[_EXIF_WIDTH], ifd[_EXIF_HEIGHT] = size
    return exif


def _metadata(info: dict, path: Path, size: tuple[int, int]) -> dict:
    """The save keywords that carry the input's ICC profile, EXIF and XMP into `path`'s format (where
    it holds them: BMP holds none, TIFF no XMP here)."""
    fmt, kw = _format(path), {}
    if info.get("icc_profile"):
        kw["icc_profile"] = info["icc_profile"]
    if info.get("exif") and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        try:
            kw["exif"] = _exif(info["exif"], size)
        except Exception:  # noqa: BLE001 - a camera's malformed EXIF is left out, not a failed restoration
            pass
    xmp = info.get("xmp") or info.get(_XMP_KEY)
    if xmp:
        xmp = xmp.encode() if isinstance(xmp, str) else bytes(xmp)
        if fmt in ("JPEG", "WEBP"):
            kw["xmp"] = xmp
        elif fmt == "PNG":
            chunks = PngImagePlugin.PngInfo()
            chunks.add_itxt(_XMP_KEY, xmp.decode("utf-8", "replace"), zip=False)
            kw["pnginfo"] = chunks
    return kw


def save(im: Image.Image, path: Path, info: dict | None = None, quality: int = DEFAULT_QUALITY) -> None:
    """Write `im` to `path` atomically, in the format its suffix names, with the ICC profile, EXIF
    and XMP of `info` (the input's) and `quality` for JPEG and WebP."""
    path = Path(path)
    check_format(im.mode, path)
    if im.mode == "F" and path.suffix.lower() == ".png":  # float on [0, 1] -> PNG's deepest, 16-bit gray
        im = Image.fromarray(np.round(np.clip(np.asarray(im, dtype=np.float64), 0, 1) * 65535).astype(np.uint16))
    kwargs = _metadata(info or {}, path, im.size)
    if path.suffix.lower() in LOSSY:
        kwargs["quality"] = check_quality(quality)
    fmt = Image.registered_extensions()[path.suffix.lower()]
    atomic_write(path, lambda tmp: im.save(tmp, format=fmt, **kwargs))


def heat_map(std: torch.Tensor) -> Image.Image:
    """A per-pixel standard deviation (C, H, W) as an RGB heat map (the channels' mean, scaled to
    its maximum): a small perceptual ramp black -> purple -> orange -> yellow."""
    s = std.mean(0).numpy()
    v = s / max(float(s.max()), 1e-12)
    stops = np.array([[0, 0, 0], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], float)
    pos = v * (len(stops) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(stops) - 2)
    f = (pos - lo)[..., None]
    rgb = stops[lo] * (1 - f) + stops[lo + 1] * f
    return Image.fromarray(np.round(rgb).astype(np.uint8))
