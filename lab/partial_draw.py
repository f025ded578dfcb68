"""A natural look for deblur and sr at a bounded PSNR cost: the mean of the default's 2 draws moved
part of the way toward one draw, mean + k (draw - mean), scored on val.

    python -m lab.partial_draw DATA_ROOT --task deblur|sr4 [--sigma 0.01] [--images 8] -o OUT
    python -m lab.plane OUT [ANCHOR_ROWS] -o OUT/plane.png --ref CONFIG:k=0   # paired intervals

For posterior draws the error of mean + k (draw - mean) is the mean's plus k^2 times the draws'
spread, so its PSNR cost grows as k^2 while its texture grows as k. Per photo of the split
(`lab.whole_photo`'s photos, observations and scores: deblur with the command line's default
kernel and noise std --sigma, sr4 noiseless 8-bit), the default (DDRM, 2 draws, seed 0) is run
twice, once returning the mean and once the first of the same 2 draws (`look=natural` with 2
samples), and each blend is scored against the photo. One row per photo and k in `lab.whole_photo`'s
format (OUT/rows.csv, configuration `CONFIG:k=K`, the seconds of both runs on every k's row), so
`lab.plane` gives the paired intervals against the mean (k=0) or an anchor's rows. The rule of
issue 32 for a default: a perceptual gain at no more than 0.1 dB of val PSNR.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lab.whole_photo import degrade, photos, restore_degraded, scores, sr_photo, super_resolve_one

FIELDS = ["image", "config", "psnr_hole", "swd_hole", "texture_hole", "niqe", "seconds", "megapixels"]
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
        t0 = time.perf_counter()
        if a.task == "sr4":
            x = sr_photo(x)
            mean, draw = (super_resolve_one(x, s, prior, workers=1) for s in (spec, spec + ":look=natural"))
        else:
            p = degrade(x, a.task, a.sigma, f.name, a.data_root / "kernels")
            x = p.x[0].permute(1, 2, 0).numpy()
            mean, draw = (restore_degraded(p, s, prior, a.task, workers=1) for s in (spec, spec + ":look=natural"))
        secs, whole = time.perf_counter() - t0, np.ones(x.shape[:2], bool)
        for k in ks:
            s = scores(x, mean + k * (draw - mean), whole)
            rows.append({"image": f.name, "config": f"{spec}:k={k:g}", **{c: s[c] for c in FIELDS[2:6]},
                         "seconds": secs, "megapixels": x.shape[0] * x.shape[1] / 1e6})
        print(f.name, " ".join(f"{r['config']}: {r['psnr_hole']:.2f}/{r['swd_hole']:.1f}" for r in rows[-len(ks):]),
              flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    with (a.out / "rows.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
