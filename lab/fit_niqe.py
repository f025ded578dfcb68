"""Fit NIQE's pristine model (`restore.benchmarks.perceptual.fit_niqe`, Mittal et al. 2013) on a
folder of clean photos and write it as .npz (mu, cov, patch, n; `niqe(img, np.load(path))`).

    python -m lab.fit_niqe ../shared/data/natural/train -o benchmarks/niqe_natural.npz
        [--images N] [--patch 96] [--sharpness 0.75]

--images: the first N files in name order (0 = all).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    from PIL import Image

    from restore.benchmarks.perceptual import fit_niqe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--images", type=int, default=0)
    ap.add_argument("--patch", type=int, default=96)
    ap.add_argument("--sharpness", type=float, default=0.75)
    a = ap.parse_args(argv)
    files = sorted(p for p in a.folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp"})
    files = files[: a.images] if a.images else files
    t0 = time.perf_counter()
    images = (np.asarray(Image.open(f).convert("RGB"), np.float64) / 255 for f in files)
    model = fit_niqe(images, patch=a.patch, sharpness=a.sharpness)
    np.savez(a.out, **model, images=len(files))
    print(f"{len(files)} images, {model['n']} sharp {a.patch}-px blocks -> {a.out} "
          f"({a.out.stat().st_size} bytes, {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
