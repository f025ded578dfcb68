"""Blur from the power spectrum: whether a photo's blur is a disk (defocus) and its radius, or a
smooth lens blur (a Gaussian) and its std.

An out-of-focus lens blurs by a uniform disk, whose transfer function 2 J1(2 pi R f) / (2 pi R f)
has zeros (rings, the first at 0.61 / R cycles per pixel); a Gaussian's has none, and neither has
a camera shake's radial average. The blurred photo's radially averaged power spectrum shows the
rings (Cannon, "Blind deconvolution of spatially invariant image blurs with phase", IEEE TASSP
1976; the parametric side of Goldstein & Fattal, "Blur-kernel estimation from spectral
irregularities", ECCV 2012).

The luminance, extended to a smoothly periodic image (`periodic_pad`), gives P(f) on 79 radial
bins; each candidate kernel K (Gaussian std 1.5-4.5, disk radius DISK_RADII, steps of 0.25) is
scored by the best fit of log P(f) ~ log(A f^-alpha |K(f)|^2 + N) over a grid of A, alpha and N
(a natural photo's spectrum falls as a power of f, noise is flat), by the mean squared log
residual. A defocus blur is found where the best disk's score is under DISK_SCORE_RATIO times the
best Gaussian's: the Gaussian family stands for "a smooth blur without rings" against which a disk
must stand out. Where no disk stands out, a best Gaussian of std at least LENS_MIN_STD is a lens
blur (`find_lens_blur`); a sharp photo's best Gaussian is the grid's smallest, and a camera shake,
averaged over directions, looks like a small one.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from .kernels import disk_kernel, gaussian_kernel
from .padding import periodic_pad

__all__ = ["radial_power", "spectral_fits", "find_defocus", "find_lens_blur", "DISK_SCORE_RATIO", "DISK_RADII",
           "GAUSSIAN_STDS", "LENS_MIN_STD"]

BINS = np.linspace(0.01, 0.5, 80)
# the disk is found where its score is under DISK_SCORE_RATIO of the best Gaussian's: on natural/val,
# 0.12-0.26 for every disk of radius 4 and 6, 0.75 and above for Gaussians of std 2 and 3, 0.63 and
# above for sharp photos and camera shakes (benchmarks/notes/blind.md, "Defocus from the spectrum")
DISK_SCORE_RATIO = 0.4
DISK_RADII = (1.5, 12.0)
GAUSSIAN_STDS = (0.5, 6.0)
# a lens blur is a best Gaussian of std >= LENS_MIN_STD where no disk stands out: on natural/val the
# sharp photos' best Gaussian has std 0.5-0.75, Levin's shakes' 0.5-1.5, the disks the disk test
# misses 1.0-1.25, Gaussians of std 3 2.5-3.0 (JPEG 1.5-3.0); on CBSD68 a missed disk of radius 4
# had 2.5 (benchmarks/notes/blind.md, "Lens blur from the spectrum")
LENS_MIN_STD = 1.75
_ALPHAS = np.array([1.6, 2.0, 2.4])
_NOISES = np.array([1e-6, 3e-6, 1e-5, 3e-5])
_AMPS = np.logspace(-6, -2, 25)


def _radial(power: np.ndarray) -> np.ndarray:
    fy = np.fft.fftfreq(power.shape[0])[:, None]
    fx = np.fft.fftfreq(power.shape[1])[None, :]
    idx = np.digitize(np.sqrt(fx ** 2 + fy ** 2), BINS).ravel()
    sums = np.bincount(idx, power.ravel(), minlength=len(BINS) + 1)
    counts = np.bincount(idx, minlength=len(BINS) + 1)
    return sums[1:len(BINS)] / np.maximum(counts[1:len(BINS)], 1)


def radial_power(lum: Tensor) -> np.ndarray:
    """The radially averaged power spectrum (79 bins, 0.01-0.5 cycles per pixel) of a luminance (H, W)."""
    t = periodic_pad(lum.detach().double().cpu()[None, None], 64)[0, 0]
    t = t - t.mean()
    return _radial((torch.fft.fft2(t).abs() ** 2 / t.numel()).numpy())


def _transfer(k: Tensor, n: int = 256) -> np.ndarray:
    pad = torch.zeros(n, n, dtype=torch.float64)
    c = k.shape[0]
    pad[:c, :c] = k
    pad = pad.roll((-(c // 2), -(c // 2)), (0, 1))
    return _radial((torch.fft.fft2(pad).abs() ** 2).numpy())


@lru_cache(maxsize=4)
def _candidates(radii: tuple[float, float], stds: tuple[float, float]) -> tuple[tuple[str, float, np.ndarray], ...]:
    """(family, parameter, |K(f)|^2 on the bins) for every candidate kernel."""
    g = [("gaussian", float(s), _transfer(gaussian_kernel(2 * int(np.ceil(3 * s)) + 1, float(s))))
         for s in np.arange(stds[0], stds[1] + 0.01, 0.25)]
    d = [("disk", float(r), _transfer(disk_kernel(float(r)))) for r in np.arange(radii[0], radii[1] + 0.01, 0.25)]
    return tuple(g + d)


def _scores(p: np.ndarray, transfers: np.ndarray) -> np.ndarray:
    """Per candidate (rows of `transfers`), the least mean squared log residual of A f^-alpha |K|^2 + N
    against p over the grid of A, alpha and N."""
    f = 0.5 * (BINS[1:] + BINS[:-1])
    base = f[None, :] ** -_ALPHAS[:, None]                                     # (alpha, f)
    model = (_AMPS[:, None, None, None] * base[None, :, None, :] * transfers[None, None, :, :])[:, :, :, None, :] \
        + _NOISES[None, None, None, :, None]                                      # (A, alpha, K, N, f)
    res = ((np.log(model) - np.log(np.maximum(p, 1e-30))) ** 2).mean(-1)
    return res.min(axis=(0, 1, 3))


def spectral_fits(lum: Tensor, radii: tuple[float, float] = DISK_RADII,
                  stds: tuple[float, float] = GAUSSIAN_STDS) -> dict[str, tuple[float, float]]:
    """The best Gaussian (std on the grid stds) and the best disk (radius on the grid radii) for the
    spectrum of the luminance lum (H, W): {"gaussian": (score, std), "disk": (score, radius)}, a
    lower score a better fit."""
    cands = _candidates(tuple(radii), tuple(stds))
    scores = _scores(radial_power(lum), np.stack([h for _, _, h in cands]))
    best: dict[str, tuple[float, float]] = {}
    for (family, param, _), s in zip(cands, scores):
        if family not in best or s < best[family][0]:
            best[family] = (float(s), param)
    return best


def find_defocus(lum: Tensor, radii: tuple[float, float] = DISK_RADII,
                 stds: tuple[float, float] = GAUSSIAN_STDS) -> float | None:
    """The radius (pixels) of the defocus blur of the luminance lum (H, W), or None where the best
    disk does not fit its spectrum clearly better than every Gaussian (score ratio DISK_SCORE_RATIO)."""
    fits = spectral_fits(lum, radii, stds)
    if fits["disk"][0] < DISK_SCORE_RATIO * fits["gaussian"][0]:
        return fits["disk"][1]
    return None


def find_lens_blur(lum: Tensor, min_std: float = LENS_MIN_STD) -> float | None:
    """The std (pixels) of the smooth lens blur of the luminance lum (H, W): its spectrum's best
    Gaussian where that has std >= min_std and no disk stands out (`find_defocus`), else None."""
    fits = spectral_fits(lum)
    if fits["disk"][0] < DISK_SCORE_RATIO * fits["gaussian"][0] or fits["gaussian"][1] < min_std:
        return None
    return fits["gaussian"][1]
