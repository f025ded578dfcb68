"""How much of the removed noise the natural look of `restore denoise` keeps, chosen on val.

    python -m lab.denoise_grain DATA_ROOT --sigma 0.025 [--images 8] [--keeps 0,0.1,...] -o OUT.csv

For each of the first N photos of the split, the observation, the faithful result (the command
line's default, `ddrm:1:noise:4`) and the scores are `lab.whole_photo`'s (`degrade`,
`restore_degraded`, `scores`: the same noise and measures as its denoising rows); then every blend
mean + keep (y - mean) (`restore.plan.Plan.keep_noise`) is scored against the photo; with
`--grain luminance` the kept noise is the luminance of y - mean in every channel (no colour). One row per
photo and keep; prints the mean of each keep. The rule (benchmarks/RESULTS.md, "Fills with the
photo's grain; faithful or natural"): the keep of the lowest mean SWD over the val photos of both
noise levels.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lab.whole_photo import degrade, photos, restore_degraded, scores

FIELDS = ["image", "sigma", "keep", "grain", "psnr", "swd", "texture", "niqe"]


def luminance_only(d: np.ndarray) -> np.ndarray:
    """The luminance (Rec. 601) of d (H, W, 3), in all three channels: grain without colour."""
    return np.repeat((d @ np.array([0.299, 0.587, 0.114]))[..., None], 3, -1)


def main(argv=None) -> None:
    import restore

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_root", type=Path)
    ap.add_argument("--sigma", type=float, required=True)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--keeps", default="0,0.1,0.15,0.2,0.25,0.3")
    ap.add_argument("--grain", default="rgb", help="rgb (the noise removed, as it was), luminance (its luminance "
                                                 "in every channel: no colour) or both, comma-separated")
    ap.add_argument("-o", "--out", type=Path, required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    keeps = [float(k) for k in a.keeps.split(",")]
    prior = restore.load_prior("natural", precision="bf16")
    rows = []
    for f in photos(a.data_root, a.split)[: a.images]:
        x = np.asarray(Image.open(f).convert("RGB")).astype(np.float64) / 255
        p = degrade(x, "denoise", a.sigma, f.name, a.data_root / "kernels")
        y = p.y[0].permute(1, 2, 0).double().numpy()
        mean = restore_degraded(p, "ddrm:1:noise:4", prior, "denoise", workers=1)
        fill = np.ones(x.shape[:2], bool)
        for grain in a.grain.split(","):
            d = y - mean if grain == "rgb" else luminance_only(y - mean)
            for k in keeps:
                s = scores(x, mean + k * d, fill)
                rows.append({"image": f.name, "sigma": a.sigma, "keep": k, "grain": grain, "psnr": s["psnr_hole"],
                             "swd": s["swd_hole"], "texture": s["texture_hole"], "niqe": s["niqe"]})
            print(f.name, grain, " ".join(f"{r['keep']:g}:{r['psnr']:.2f}/{r['swd']:.2f}" for r in rows[-len(keeps):]),
                  flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        w.writerows(rows)
    for grain, k in ((g, k) for g in a.grain.split(",") for k in keeps):
        r = [row for row in rows if row["keep"] == k and row["grain"] == grain]
        print(f"{grain} keep {k:g}: PSNR {np.mean([v['psnr'] for v in r]):.2f}, SWD {np.mean([v['swd'] for v in r]):.2f}, "
              f"texture {np.median([v['texture'] for v in r]):.2f}, NIQE {np.mean([v['niqe'] for v in r]):.2f}")


if __name__ == "__main__":
    main()
