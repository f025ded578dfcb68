"""`restore demo`: a first run on a sample photo (scikit-image's astronaut), no image of one's own.

Two small crops, so it takes seconds on a CPU: one with a box painted out, filled by
`restore.inpaint`, and one with Gaussian noise added (from a seeded generator), cleaned by
`restore.denoise`. Each step's input and result are written as PNGs into one folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .io import atomic_write

__all__ = ["DEMO_NOISE", "demo_inputs", "run_demo"]

INPAINT_CROP = (288, 224, 128, 128)  # top, left, h, w in the 512x512 astronaut: the name tag on the suit
BOX = (48, 52, 40, 56)  # the box painted out of that crop (the name tag), top, left, h, w
DENOISE_CROP = (40, 150, 128, 128)  # the face
DEMO_NOISE = 0.1  # the added noise's std on [0, 1]


def _crop(a: np.ndarray, box) -> np.ndarray:
    top, left, h, w = box
    return a[top:top + h, left:left + w]


def demo_inputs(seed: int = 0) -> dict[str, np.ndarray]:
    """The demo's inputs (uint8): inpaint_before (the box painted white), inpaint_mask (white =
    fill), denoise_before (noise of std DEMO_NOISE added) and the clean crops they come from."""
    from skimage import data

    photo = data.astronaut()
    clean = _crop(photo, INPAINT_CROP)
    mask = np.zeros(clean.shape[:2], np.uint8)
    top, left, h, w = BOX
    mask[top:top + h, left:left + w] = 255
    before = np.where(mask[..., None] > 0, 255, clean).astype(np.uint8)
    face = _crop(photo, DENOISE_CROP)
    noise = torch.randn(face.shape, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64).numpy()
    noisy = np.clip(np.round(face + DEMO_NOISE * 255 * noise), 0, 255).astype(np.uint8)
    return {"inpaint_clean": clean, "inpaint_before": before, "inpaint_mask": mask, "denoise_clean": face,
            "denoise_before": noisy}


def run_demo(folder="restore-demo", *, prior=None, seed: int = 0, workers: int = 0, overwrite: bool = False,
             echo=print) -> list[Path]:
    """Inpaint and denoise the sample crops with `prior` (a name, path or loaded prior; default the
    shipped natural one) and write inputs and results into `folder` (made if missing); the paths
    written. An existing file there is an error unless `overwrite`, checked before anything runs."""
    from .api import denoise, inpaint
    from .pipeline import load_prior

    folder = Path(folder)
    names = ["inpaint_before", "inpaint_mask", "inpaint_after", "denoise_before", "denoise_after"]
    paths = {n: folder / f"{n}.png" for n in names}
    there = [p for p in paths.values() if p.exists()]
    if there and not overwrite:
        raise ValueError(f"{there[0]} exists; pass --overwrite to replace it")
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    p = load_prior(prior)
    x = demo_inputs(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {"inpaint_before": x["inpaint_before"], "inpaint_mask": x["inpaint_mask"],
           "denoise_before": x["denoise_before"]}
    out["inpaint_after"] = inpaint(x["inpaint_before"], x["inpaint_mask"] > 0, prior=p, seed=seed, workers=workers)
    out["denoise_after"] = denoise(x["denoise_before"], prior=p, seed=seed, workers=workers)
    what = {"inpaint_before": "a crop with a box painted out", "inpaint_mask": "the box to fill (white)",
            "inpaint_after": "the box filled (restore inpaint)",
            "denoise_before": f"a crop with noise of std {DEMO_NOISE} added",
            "denoise_after": "denoised (restore denoise)"}
    for n in names:
        atomic_write(paths[n], lambda tmp, a=out[n]: Image.fromarray(a).save(tmp, format="PNG"))
        echo(f"wrote {paths[n]}: {what[n]}")
    return [paths[n] for n in names]
