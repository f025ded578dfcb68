"""How much of the removed noise the natural look of `restore denoise` keeps, chosen on val.

    python -m lab.denoise_grain DATA_ROOT --sigma 0.025 [--images 8] [--keeps 0,0.1,...] -o OUT.csv
    python -m lab.denoise_grain --rows OUT.csv   # the summary of rows written before

For each of the first N photos of the split, the observation, the faithful result (the command
line's default, `ddrm:1:noise:4`) and the scores are `lab.whole_photo`'s (`degrade`,
`restore_degraded`, `scores`: the same noise and measures as its denoising rows); then every blend
mean + keep (y - mean) (`restore.plan.Plan.keep_noise`) is scored against the photo; with
`--grain luminance` the kept noise is the luminance of y - mean in every channel (no colour,
`restore.grain.keep_noise`). One row per photo and keep; prints the mean of each keep and its paired
difference from keep 0 (the faithful mean) with 95 % intervals. The rule (benchmarks/RESULTS.md, "Fills with the
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


def blend(mean: np.ndarray, y: np.ndarray, keep: float, grain: str) -> np.ndarray:
    """mean + keep (y - mean), or with grain "luminance" the library's blend (`keep_noise`)."""
    if grain == "rgb":
        return mean + keep * (y - mean)
    from restore.grain import keep_noise

    t = lambda a: torch.from_numpy(a).permute(2, 0, 1)  # noqa: E731
    return keep_noise(t(mean), t(y), keep).permute(1, 2, 0).numpy()


def summary(rows: list[dict]) -> None:
    """Per grain and keep: the means, and the paired differences from keep 0 with 95 % intervals."""
    from restore.benchmarks.metrics import interval

    col = lambda rs, c: np.array([float(r[c]) for r in sorted(rs, key=lambda r: r["image"])])  # noqa: E731
    ci = lambda d: "%+.2f (%+.2f, %+.2f)" % interval(d)  # noqa: E731
    for grain in dict.fromkeys(r["grain"] for r in rows):
        rs = [r for r in rows if r["grain"] == grain]
        base = [r for r in rs if float(r["keep"]) == 0]
        for k in dict.fromkeys(float(r["keep"]) for r in rs):
            r = [v for v in rs if float(v["keep"]) == k]
            print(f"{grain} keep {k:g}: PSNR {col(r, 'psnr').mean():.2f} ({ci(col(r, 'psnr') - col(base, 'psnr'))}), "
                  f"SWD {col(r, 'swd').mean():.2f} ({ci(col(r, 'swd') - col(base, 'swd'))}), texture "
                  f"{np.median(col(r, 'texture')):.2f}, NIQE {col(r, 'niqe').mean():.2f} "
                  f"({ci(col(r, 'niqe') - col(base, 'niqe'))})")


def main(argv=None) -> None:
    import restore

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_root", type=Path, nargs="?")
    ap.add_argument("--rows", type=Path, default=None, help="summarise these rows instead of making them")
    ap.add_argument("--sigma", type=float)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--keeps", default="0,0.1,0.15,0.2,0.25,0.3")
    ap.add_argument("--grain", default="rgb", help="rgb (the noise removed, as it was), luminance (its luminance "
                                                 "in every channel: no colour) or both, comma-separated")
    ap.add_argument("-o", "--out", type=Path)
    a = ap.parse_args(argv)
    if a.rows:
        return summary(list(csv.DictReader(a.rows.open())))
    if a.data_root is None or a.sigma is None or a.out is None:
        ap.error("DATA_ROOT, --sigma and -o are needed to make rows")
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
            for k in keeps:
                s = scores(x, blend(mean, y, k, grain), fill)
                rows.append({"image": f.name, "sigma": a.sigma, "keep": k, "grain": grain, "psnr": s["psnr_hole"],
                             "swd": s["swd_hole"], "texture": s["texture_hole"], "niqe": s["niqe"]})
            print(f.name, grain, " ".join(f"{r['keep']:g}:{r['psnr']:.2f}/{r['swd']:.2f}" for r in rows[-len(keeps):]),
                  flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        w.writeheader()
        w.writerows(rows)
    summary(rows)


if __name__ == "__main__":
    main()
