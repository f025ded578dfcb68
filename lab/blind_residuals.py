"""How well a kernel explains a blurred photo against no blur at all: the calibration of
`restore.operators.blind.MAX_RESIDUAL_RATIO` (issue 31: between the wrong estimates and the
right ones on 3 natural/val photos; the estimator before 2026-12-05. The gate of the current one,
residual ratio and spread, is calibrated by `lab.blind_gate`).

For each photo and kernel (blurred as `lab.blind_kernels` blurs: whole frame, border cut, noise
0.01, 8 bits), the L0 fit residual (`fit_residual`) of the true kernel and of the estimate, each
over the identity's, on the denoised luminance the estimator sees; and the estimate's similarity.

    python -m lab.blind_residuals ../shared/data/natural/val --images 3
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import restore.operators.blind as B
from lab.blind_kernels import blurred, kernels


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--kernels", default="levin1,levin5,gauss1,gauss2,disk4,none")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    ks = kernels(Path(a.data))
    files = sorted(p for p in Path(a.folder).iterdir() if p.suffix.lower() in (".jpg", ".png"))[: a.images]
    for f in files:
        x = np.asarray(Image.open(f).convert("RGB"), dtype=np.float64) / 255
        for j, name in enumerate(a.kernels.split(",")):
            y = torch.from_numpy(blurred(x, ks[name], j)).permute(2, 0, 1)
            yl = B._denoised(B._crop(B._luminance(y), 512), 1.0)
            rd = B.fit_residual(yl, torch.ones(1, 1, dtype=yl.dtype))
            k = torch.from_numpy(ks[name])
            est = B._estimate(yl, 35, 4e-3, 1e-4, 2.0, 10)
            print(f"{f.stem} {name} true/identity {B.fit_residual(yl, k) / rd:.3f} "
                  f"estimate/identity {B.fit_residual(yl, B.describe_kernel(est)[2]) / rd:.3f} "
                  f"similarity {B.kernel_similarity(est, k):.2f}", flush=True)


if __name__ == "__main__":
    main()
