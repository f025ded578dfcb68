"""Gaussian or disk, told from the photo's power spectrum: a lead for issue 31, not wired in.

    python -m lab.blind_spectrum ../shared/data/natural/val --photos P --kernels levin2,...,gauss3,disk6 \
        [--only gauss3,disk6]

A disk (defocus) has zeros in its transfer function (rings; the first near 0.61 / R cycles per
pixel), a Gaussian none, and the blurred photo's radially averaged power spectrum shows them
(Cannon 1976; the parametric side of Goldstein & Fattal 2012). For each observation (made as
`lab.blind_select` makes them: the same seeds for the same --photos and --kernels) the luminance,
extended to a smoothly periodic image (`periodic_pad`), gives P(f) on 79 radial bins; each
candidate kernel K (Gaussian std 1.5-4.5, disk radius 3-8, steps of 0.25) is scored by the best
fit of log P(f) ~ log(A f^-alpha |K(f)|^2 + N) over a grid of A, alpha and N (mean squared log
residual); one line per observation with each family's best score and parameter.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import restore.operators.blind as B
from lab.blind_select import _observations
from restore.operators import gaussian_kernel
from restore.operators.padding import periodic_pad

BINS = np.linspace(0.01, 0.5, 80)


def _radial(power: np.ndarray) -> np.ndarray:
    fy = np.fft.fftfreq(power.shape[0])[:, None]
    fx = np.fft.fftfreq(power.shape[1])[None, :]
    idx = np.digitize(np.sqrt(fx ** 2 + fy ** 2), BINS)
    return np.array([power[idx == i].mean() for i in range(1, len(BINS))])


def photo_spectrum(y: np.ndarray) -> np.ndarray:
    """The radially averaged power spectrum of the luminance of y (H, W, 3) on [0, 1]."""
    lum = 0.299 * y[..., 0] + 0.587 * y[..., 1] + 0.114 * y[..., 2]
    t = periodic_pad(torch.from_numpy(lum)[None, None], 64)[0, 0].numpy()
    t = t - t.mean()
    return _radial(np.abs(np.fft.fft2(t)) ** 2 / t.size)


def kernel_spectrum(k: np.ndarray, n: int = 256) -> np.ndarray:
    pad = np.zeros((n, n))
    c = k.shape[0]
    pad[:c, :c] = k
    pad = np.roll(pad, (-(c // 2), -(c // 2)), (0, 1))
    return _radial(np.abs(np.fft.fft2(pad)) ** 2)


def fit_score(p: np.ndarray, h: np.ndarray) -> float:
    """The smallest mean squared log residual of A f^-alpha h + N against p over the grid."""
    f = 0.5 * (BINS[1:] + BINS[:-1])
    best = np.inf
    for alpha in (1.6, 2.0, 2.4):
        base = f ** -alpha * h
        for noise in (1e-6, 3e-6, 1e-5, 3e-5):
            for amp in np.logspace(-6, -2, 25):
                best = min(best, float(((np.log(amp * base + noise) - np.log(p)) ** 2).mean()))
    return best


def candidates() -> list[tuple[str, float, np.ndarray]]:
    out = [("gaussian", float(s), gaussian_kernel(2 * int(np.ceil(3 * s)) + 1, float(s)).double().numpy())
           for s in np.arange(1.5, 4.51, 0.25)]
    return out + [("disk", float(r), B.disk_kernel(float(r)).numpy()) for r in np.arange(3.0, 8.01, 0.25)]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--photos", default=None)
    ap.add_argument("--kernels", required=True, help="as for lab.blind_select estimate (the order sets the seeds)")
    ap.add_argument("--only", default=None, help="the kernels to score (default: all)")
    a = ap.parse_args(argv)
    a.only, only = None, a.only  # _observations reads a.only as IMAGE:KERNEL pairs; here it names kernels
    cands = [(fam, p, kernel_spectrum(k)) for fam, p, k in candidates()]
    right = total = 0
    for stem, name, _, _, y in _observations(a):
        if only and name not in only.split(","):
            continue
        p = photo_spectrum(y)
        best: dict = {}
        for fam, param, h in cands:
            s = fit_score(p, h)
            if fam not in best or s < best[fam][0]:
                best[fam] = (s, param)
        pick = min(best, key=lambda fam: best[fam][0])
        total += 1
        right += pick[:4] == name[:4]
        print(stem, name, "->", pick, " ".join(f"{fam} {s:.4f} ({v:g})" for fam, (s, v) in best.items()), flush=True)
    print(f"family right: {right} of {total}")


if __name__ == "__main__":
    main()
