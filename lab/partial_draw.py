"""A natural look for deblur and sr at a bounded PSNR cost: the mean of the default's 2 draws moved
part of the way toward one draw, mean + k (draw - mean), scored on val.

    python -m lab.partial_draw DATA_ROOT --task deblur|sr4 [--sigma 0.01] [--images 8] -o OUT.csv

For posterior draws the error of mean + k (draw - mean) is the mean's plus k^2 times the draws'
spread, so its PSNR cost grows as k^2 while its texture grows as k. Per photo of the split
(`lab.whole_photo`'s photos, observations and scores: deblur with the command line's default
kernel and noise std --sigma, sr4 noiseless 8-bit), the default (DDRM, 2 draws, seed 0) is run
twice, once returning the mean and once the first of the same 2 draws (`look=natural` with 2
samples), and each blend is scored against the photo. One row per photo and k; prints the mean of
each k. The rule of issue 32 for a default: a perceptual gain at no more than 0.1 dB of val PSNR.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lab.whole_photo import degrade, photos, restore_degraded, scores, sr_photo, super_resolve_one

FIELDS = ["image", "task", "k", "psnr", "swd", "texture", "niqe"]
CONFIGS = {"deblur": "ddrm:6:0.2:2", "sr4": "ddrm:6:0.1:2"}


def main(argv=None) -> None:
    import restore

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_root", type=Path)
    ap.add_argument("--task", choices=sorted(CONFIGS), required=True)
    ap.add_argument("--sigma", type=float, default=0.01, help="deblur: the noise std on [0, 1]")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--ks", default="0,0.3,0.5,0.6,0.7,0.8,1")
    ap.add_argument("-o", "--out", type=Path, required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    ks = [float(k) for k in a.ks.split(",")]
    prior = restore.load_prior("natural", precision="bf16")
    spec = CONFIGS[a.task]
    rows = []
    for f in photos(a.data_root, a.split)[: a.images]:
        x = np.asarray(Image.open(f).convert("RGB")).astype(np.float64) / 255
        if a.task == "sr4":
            x = sr_photo(x)
            mean, draw = (super_resolve_one(x, s, prior, workers=1) for s in (spec, spec + ":look=natural"))
        else:
            p = degrade(x, a.task, a.sigma, f.name, a.data_root / "kernels")
            x = p.x[0].permute(1, 2, 0).numpy()
            mean, draw = (restore_degraded(p, s, prior, a.task, workers=1) for s in (spec, spec + ":look=natural"))
        whole = np.ones(x.shape[:2], bool)
        for k in ks:
            s = scores(x, mean + k * (draw - mean), whole)
            rows.append({"image": f.name, "task": a.task, "k": k, "psnr": s["psnr_hole"], "swd": s["swd_hole"],
                         "texture": s["texture_hole"], "niqe": s["niqe"]})
        print(f.name, " ".join(f"{r['k']:g}:{r['psnr']:.2f}/{r['swd']:.1f}" for r in rows[-len(ks):]), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        w.writerows(rows)
    for k in ks:
        r = [row for row in rows if row["k"] == k]
        print(f"k {k:g}: PSNR {np.mean([v['psnr'] for v in r]):.2f}, SWD {np.mean([v['swd'] for v in r]):.1f}, "
              f"texture {np.median([v['texture'] for v in r]):.2f}, NIQE {np.mean([v['niqe'] for v in r]):.2f}")


if __name__ == "__main__":
    main()
