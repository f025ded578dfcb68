"""The noise estimate the command line uses when --sigma-y is not given (`restore.operators.estimate_noise`,
patch PCA) against scikit-image's wavelet estimate, and what the estimate costs the denoising default.

    python -m lab.noise_estimate DATA_ROOT [--images 8] [--sigmas 0.01,0.025,0.05]
        [--psnr-sigma 0.025]

For the first natural/val photos with noise of each std added (`whole_photo.degrade`, saved as 8
bits): the range of each estimate over the photos. Then, at --psnr-sigma, the mean PSNR of
`restore.denoise` (one estimate: --samples 1, fp32, one tile process) told the true level and
left to estimate it with each estimator.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    import torch
    from PIL import Image
    from skimage.restoration import estimate_sigma

    import restore
    from restore.operators import estimate_noise
    from restore.priors import load_prior

    from .whole_photo import degrade, photos, scores

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_root", type=Path)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--sigmas", default="0.01,0.025,0.05")
    ap.add_argument("--psnr-sigma", type=float, default=0.025)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    files = photos(a.data_root, "val")[: a.images]
    clean = [np.asarray(Image.open(f).convert("RGB"), np.float64) / 255 for f in files]

    def wavelet(y):
        return float(estimate_sigma(y.permute(1, 2, 0).numpy(), channel_axis=-1, average_sigmas=True))

    estimators = {"patch PCA": estimate_noise, "scikit-image wavelet": wavelet}
    print(f"| noise std | {' | '.join(estimators)} |\n|---|" + "---|" * len(estimators))
    for sigma in (float(v) for v in a.sigmas.split(",")):
        ys = [degrade(x, "denoise", sigma, f.name).y[0].double() for x, f in zip(clean, files)]
        cells = [f"{min(e(y) for y in ys):.4f}-{max(e(y) for y in ys):.4f}" for e in estimators.values()]
        print(f"| {sigma:g} | {' | '.join(cells)} |", flush=True)

    prior = load_prior("natural")
    psnr = {"true level": [], **{k: [] for k in estimators}}
    for x, f in zip(clean, files):
        y = degrade(x, "denoise", a.psnr_sigma, f.name).y[0].double()
        u8 = np.round(y.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        levels = {"true level": a.psnr_sigma, **{k: e(y) for k, e in estimators.items()}}
        for k, s in levels.items():
            est = restore.denoise(u8, sigma_y=s, prior=prior, samples=1, workers=1, precision="fp32")
            psnr[k].append(scores(x, est.astype(np.float64) / 255, np.ones(x.shape[:2], bool))["psnr_whole"])
    print(f"\nrestore.denoise (one estimate), sigma {a.psnr_sigma:g}, {len(files)} photos: mean PSNR "
          + ", ".join(f"{k} {np.mean(v):.2f} dB" for k, v in psnr.items()))


if __name__ == "__main__":
    main()
