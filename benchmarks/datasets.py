"""The benchmark's images: which files each prior is scored on, cropped, as (C, H, W) float32 on [0, 1].

| data | split test | split val (tuning) |
|---|---|---|
| natural | natural/test/CBSD68 (sr4: natural/test/Set5 then Set14) | natural/val |
| faces | faces/test | faces/val |
| digits | digits/mnist_t10k.npz images 9000-9999 | images 8000-8999 |
| folder:PATH | the images in PATH | the images in PATH/val |

A folder of one's own needs its own tuning images in PATH/val (a `val` subfolder, never the images
that are scored): the baselines are tuned and configurations chosen on val, so without it a run that
tunes (--tune > 0) or scores --split val stops with a one-line error; `--tune 0` scores PATH alone
with the baselines' defaults.

Files are taken in sorted order, the first `n`. `crop` > 0 takes the centred crop of side
min(crop, H, W) (square); crop = 0 keeps the whole image. Gray files stay one channel (Set14's
bridge.png), colour files are RGB.
"""
from __future__ import annotations

from pathlib import Path

from torch import Tensor

from restore.io import IMAGE_SUFFIXES, read_image, to_tensor
from restore.priors.data import center_crop
from restore.priors.data import load_images as load_uint8

__all__ = ["DATA", "load_images"]

DATA = ("natural", "faces", "digits")


def _folder(path: Path) -> list[Path]:
    if not path.is_dir():
        raise ValueError(f"{path}: benchmark data folder not found (see --data)")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"{path}: no images")
    return files


def _files(data: str, root: Path, split: str, task: str) -> list[Path]:
    if data.startswith("folder:"):
        path = Path(data[len("folder:"):])
        if split == "val":
            if not (path / "val").is_dir():
                raise ValueError(f"{path}: no val/ subfolder; put tuning images (not the scored ones) in "
                                 f"{path / 'val'}, or run with --tune 0 on the test split")
            return _folder(path / "val")
        return _folder(path)
    if data == "natural":
        if split == "val":
            return _folder(root / "natural" / "val")
        if task == "sr4":
            return _folder(root / "natural" / "test" / "Set5") + _folder(root / "natural" / "test" / "Set14")
        return _folder(root / "natural" / "test" / "CBSD68")
    if data == "faces":
        return _folder(root / "faces" / split)
    raise ValueError(f"unknown benchmark data {data!r}: use {', '.join(DATA)} or folder:PATH")


def load_images(data: str, root, split: str, task: str, n: int, crop: int = 0) -> list[tuple[str, Tensor]]:
    """[(image id, (C, H, W) float32 on [0, 1])] for `data` (module docstring), the first n."""
    if split not in ("test", "val"):
        raise ValueError(f"split must be test or val, got {split!r}")
    root = Path(root)
    if data == "digits":
        path = root / "digits" / "mnist_t10k.npz"
        if not path.is_file():
            raise ValueError(f"{path}: MNIST file not found (see --data)")
        start = 9000 if split == "test" else 8000
        imgs = load_uint8(path, 1, f"{start}:{start + n}")
        return [(f"mnist{start + i}", center_crop(a.float() / 255, crop)) for i, a in enumerate(imgs)]
    out = []
    for f in _files(data, root, split, task)[:n]:
        out.append((f.stem, center_crop(to_tensor(read_image(f)), crop)))
    return out
