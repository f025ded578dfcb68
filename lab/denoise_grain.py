"""How much of the removed noise the natural look of `restore denoise` keeps, chosen on val.

    python -m lab.denoise_grain DATA_ROOT --sigma 0.025 [--images 8] [--keeps 0,0.1,...] -o OUT.csv

For each of the first N natural/val photos: the noisy photo as a user's file (Gaussian noise of
std sigma, 8 bits), the command line's faithful result (`restore.denoise`, the posterior mean of
its default), then every blend mean + keep (y - mean) (`restore.plan.Plan.keep_noise`), scored
against the photo: PSNR, the sliced Wasserstein distance of Laplacian-pyramid patches (x 1e3) and
the texture ratio (`restore.benchmarks.perceptual`). One row per photo and keep; prints the mean
of each keep. The rule (benchmarks/RESULTS.md, "Fills with the photo's grain; faithful or
natural"): the keep of the lowest mean SWD over the val photos of both noise levels.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from restore.benchmarks.metrics import psnr
from restore.benchmarks.perceptual import sliced_wasserstein, texture_ratio
from restore.io import read_image

FIELDS = ["image", "sigma", "keep", "psnr", "swd", "texture"]


def main(argv=None) -> None:
    import restore

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_root", type=Path)
    ap.add_argument("--sigma", type=float, required=True)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--keeps", default="0,0.1,0.15,0.2,0.25,0.3")
    ap.add_argument("-o", "--out", type=Path, required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    folder = a.data_root / "natural" / ("val" if a.split == "val" else "test/CBSD68")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))[: a.images]
    keeps = [float(k) for k in a.keeps.split(",")]
    prior = restore.load_prior("natural", precision="bf16")
    rows = []
    for i, f in enumerate(files):
        x = torch.from_numpy(np.array(read_image(f, "RGB"))).permute(2, 0, 1).double() / 255
        g = torch.Generator().manual_seed(1000 + i)
        y = ((x + a.sigma * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1) * 255).round() / 255
        mean = torch.as_tensor(restore.denoise(y.float(), prior=prior, sigma_y=a.sigma, workers=1)).double()
        for k in keeps:
            est = (mean + k * (y - mean)).clamp(0, 1)
            rows.append({"image": f.name, "sigma": a.sigma, "keep": k, "psnr": psnr(x[None], est[None]),
                         "swd": 1e3 * sliced_wasserstein(est, x), "texture": texture_ratio(est, x)})
        print(f.name, " ".join(f"{r['keep']:g}:{r['psnr']:.2f}/{r['swd']:.2f}" for r in rows[-len(keeps):]), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        w.writerows(rows)
    for k in keeps:
        r = [row for row in rows if row["keep"] == k]
        print(f"keep {k:g}: PSNR {np.mean([v['psnr'] for v in r]):.2f}, SWD {np.mean([v['swd'] for v in r]):.2f}, "
              f"texture {np.median([v['texture'] for v in r]):.2f}")


if __name__ == "__main__":
    main()
