"""Defocus from the power spectrum (`restore.operators.spectral`) on the blind track's observations:
per observation, the best Gaussian's and the best disk's spectral scores in one band, their ratio, and what
`defocus_estimate` makes of it (the disk found, its halves' confidence, its residual ratio and whether
the gate accepts it, or nothing); then, per blur, the range of the ratio and the disks found.

    python -m lab.blind_spectrum ../shared/data/natural/val --photos P --kernels levin2,...,gauss3,disk6 \\
        [--only gauss3,disk6] [--jpeg 85] [--radii 2 8] [--stds 1 4.5]

Observations are made as `lab.blind_select` makes them (the same seeds for the same --photos and
--kernels); --radii and --stds change the disk and Gaussian grids (default `DISK_RADII`,
`GAUSSIAN_STDS`); --f-max the band whose fits and ratio are printed (the decision uses
`DISK_BANDS`, all of them).
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from unittest import mock

import torch

import restore.operators.blind as B
import restore.operators.spectral as D
from lab.blind_select import _observations, observation_args


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    observation_args(ap, only="the kernels to score (default: all)")
    ap.add_argument("--radii", type=float, nargs=2, default=list(D.DISK_RADII))
    ap.add_argument("--stds", type=float, nargs=2, default=list(D.GAUSSIAN_STDS))
    ap.add_argument("--f-max", type=float, default=0.5, help="the band whose fits and ratio are printed")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    a.only, only = None, a.only  # _observations reads a.only as IMAGE:KERNEL pairs; here it names kernels
    ratios, found = defaultdict(list), defaultdict(int)
    grids = tuple(a.radii), tuple(a.stds)
    with mock.patch.object(B, "defocus_band", lambda lum: D.defocus_band(lum, *grids)), \
            mock.patch.object(B, "spectral_fits", lambda lum, f_max=0.5: D.spectral_fits(lum, *grids, f_max)):
        for stem, name, _, _, y in _observations(a):
            if only and name not in only.split(","):
                continue
            image = torch.from_numpy(y).permute(2, 0, 1)
            lum = B._crop(B._luminance(image), 512)
            fits = D.spectral_fits(lum, *grids, a.f_max)
            ratio = fits["disk"][0] / fits["gaussian"][0]
            est = B.defocus_estimate(image, gate=False)
            ratios[name].append(ratio)
            gated = est is not None and B.found_blur(est.kernel, est.residual_ratio)
            found[name] += gated
            found[name + " ungated"] += est is not None
            what = (f"disk {est.parameter:g} (confidence {est.confidence:.2f}, residual ratio {est.residual_ratio:.3f}"
                    f"{'' if gated else ', refused by the gate'})" if est else "-")
            print(stem, name, f"ratio {ratio:.3f}", " ".join(f"{fam} {s:.4f} ({v:g})" for fam, (s, v) in fits.items()),
                  "->", what, flush=True)
    for name, r in ratios.items():
        print(f"{name}: ratio {min(r):.2f}-{max(r):.2f}, disk found {found[name + ' ungated']} of {len(r)}, "
              f"{found[name]} passing the gate")


if __name__ == "__main__":
    main()
