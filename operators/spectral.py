"""Blur from the power spectrum: whether a photo's blur is a disk (defocus) and its radius, or a
smooth lens blur (a Gaussian) and its std.

An out-of-focus lens blurs by a uniform disk, whose transfer function 2 J1(2 pi R f) / (2 pi R f)
has zeros (rings, the first at 0.61 / R cycles per pixel); a Gaussian's has none, and neither has
a camera shake's radial average. The blurred photo's radially averaged power spectrum shows the
rings (Cannon, "Blind deconvolution of spatially invariant image blurs with phase", IEEE TASSP
1976; the parametric side of Goldstein & Fattal, "Blur-kernel estimation from spectral
irregularities", ECCV 2012).

The luminance, extended to a smoothly periodic image (`periodic_pad`), gives P(f) on radial bins
of width 0.0062 from 0.01 cycles per pixel up to a band's f_max; each candidate kernel K (Gaussian
std GAUSSIAN_STDS, disk radius DISK_RADII, steps of 0.25) is scored by the best fit of log P(f) ~
log(A f^-alpha |K(f)|^2 + N) over a grid of A, alpha and N (a natural photo's spectrum falls as a
power of f, noise is flat), by the mean squared log residual. A defocus blur is found where, in one
of DISK_BANDS, the best disk's score is under the band's bound times the best Gaussian's: the
Gaussian family stands for "a smooth blur without rings" against which a disk must stand out. Where
no disk is found, a best Gaussian of std at least LENS_MIN_STD is a lens blur (`find_lens_blur`)
unless a disk comes near it (LENS_GUARD: a defocus blur the disk test misses); a sharp photo's best
Gaussian is the grid's smallest, and a camera shake, averaged over directions, looks like a small one.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from .kernels import disk_kernel, gaussian_of_std
from .padding import periodic_pad

__all__ = ["radial_power", "spectral_fits", "defocus_band", "find_defocus", "find_lens_blur", "DISK_BANDS",
           "DISK_RADII", "GAUSSIAN_STDS", "LENS_GUARD", "LENS_MIN_STD"]

# the disk test in two bands, (f_max, bound): a disk is found where, fitted on the radial bins from
# 0.01 to f_max cycles per pixel, its score is under `bound` times the best Gaussian's. Up to 0.5 the
# first ring of a small disk is seen (0.61 / R: 0.305 for radius 2); above 0.3 a JPEG's quantisation,
# not the blur, shapes the spectrum, so JPEG disks are seen only up to 0.3. On natural/val: up to
# 0.5, disks of radius 4 and 6 score 0.11-0.26 in 8-bit PNGs (0.28-0.66 in JPEGs), radius 2
# 0.18-0.85, every other observation 0.49 and above (a JPEG Gaussian of std 3 the lowest); up to
# 0.3, disks of radius 4 and 6 0.09-0.23 (PNG and JPEG), every other observation 0.44 and above
# (benchmarks/notes/blind.md, "Defocus from the spectrum, wired in" and "JPEG disks: the spectrum
# up to 0.3")
DISK_BANDS = ((0.5, 0.4), (0.3, 0.3))
DISK_RADII = (1.5, 12.0)
GAUSSIAN_STDS = (0.5, 6.0)
# a lens blur is a best Gaussian (up to 0.5) of std >= LENS_MIN_STD where no disk is found: on
# natural/val the sharp photos' best Gaussian has std 0.5-0.75, Levin's shakes' 0.5-1.5, the disks
# the disk test misses 1.0-1.25, Gaussians of std 3 2.5-3.0 (JPEG 1.5-3.0); on CBSD68 a missed disk
# of radius 4 had 2.5 (benchmarks/notes/blind.md, "Lens blur from the spectrum")
LENS_MIN_STD = 1.75
# (f_max, ratio): and where no disk comes near a Gaussian in that band either, the best disk's score
# at least `ratio` times the best Gaussian's. On the 32 natural/val photos x Gaussians of std 2-4
# and disks of radius 2-8, PNG and JPEG (q85), up to 0.3: the disks of radius 4-8 the disk test
# misses score 0.31-0.51, the Gaussians 0.57 and above (PNG 0.70); missed disks of radius 3 up to
# 0.80 (benchmarks/notes/blind.md, "A guard for the lens stage")
LENS_GUARD = (0.3, 0.6)
_STEP = 0.49 / 79  # the bins' width, cycles per pixel
_ALPHAS = np.array([1.6, 2.0, 2.4])
_NOISES = np.array([1e-6, 3e-6, 1e-5, 3e-5])
_AMPS = np.logspace(-6, -2, 25)


def _bins(f_max: float) -> np.ndarray:
    return np.linspace(0.01, f_max, int(round((f_max - 0.01) / _STEP)) + 1)


def _radial(power: np.ndarray, f_max: float) -> np.ndarray:
    bins = _bins(f_max)
    fy = np.fft.fftfreq(power.shape[0])[:, None]
    fx = np.fft.fftfreq(power.shape[1])[None, :]
    idx = np.digitize(np.sqrt(fx ** 2 + fy ** 2), bins).ravel()
    sums = np.bincount(idx, power.ravel(), minlength=len(bins) + 1)
    counts = np.bincount(idx, minlength=len(bins) + 1)
    return sums[1:len(bins)] / np.maximum(counts[1:len(bins)], 1)


def radial_power(lum: Tensor, f_max: float = 0.5) -> np.ndarray:
    """The radially averaged power spectrum of a luminance (H, W) on bins of width 0.0062 from 0.01
    to f_max cycles per pixel (79 bins up to 0.5)."""
    t = periodic_pad(lum.detach().double().cpu()[None, None], 64)[0, 0]
    t = t - t.mean()
    return _radial((torch.fft.fft2(t).abs() ** 2 / t.numel()).numpy(), f_max)


def _transfer(k: Tensor, f_max: float = 0.5, n: int = 256) -> np.ndarray:
    pad = torch.zeros(n, n, dtype=torch.float64)
    c = k.shape[0]
    pad[:c, :c] = k
    pad = pad.roll((-(c // 2), -(c // 2)), (0, 1))
    return _radial((torch.fft.fft2(pad).abs() ** 2).numpy(), f_max)


@lru_cache(maxsize=8)
def _candidates(radii: tuple[float, float], stds: tuple[float, float],
                f_max: float = 0.5) -> tuple[tuple[str, float, np.ndarray], ...]:
    """(family, parameter, |K(f)|^2 on the bins) for every candidate kernel."""
    g = [("gaussian", float(s), _transfer(gaussian_of_std(s), f_max))
         for s in np.arange(stds[0], stds[1] + 0.01, 0.25)]
    d = [("disk", float(r), _transfer(disk_kernel(float(r)), f_max))
         for r in np.arange(radii[0], radii[1] + 0.01, 0.25)]
    return tuple(g + d)


def _scores(p: np.ndarray, transfers: np.ndarray, f_max: float = 0.5) -> np.ndarray:
    """Per candidate (rows of `transfers`), the least mean squared log residual of A f^-alpha |K|^2 + N
    against p over the grid of A, alpha and N."""
    bins = _bins(f_max)
    f = 0.5 * (bins[1:] + bins[:-1])
    base = f[None, :] ** -_ALPHAS[:, None]                                     # (alpha, f)
    model = (_AMPS[:, None, None, None] * base[None, :, None, :] * transfers[None, None, :, :])[:, :, :, None, :] \
        + _NOISES[None, None, None, :, None]                                      # (A, alpha, K, N, f)
    res = ((np.log(model) - np.log(np.maximum(p, 1e-30))) ** 2).mean(-1)
    return res.min(axis=(0, 1, 3))


def spectral_fits(lum: Tensor, radii: tuple[float, float] = DISK_RADII, stds: tuple[float, float] = GAUSSIAN_STDS,
                  f_max: float = 0.5) -> dict[str, tuple[float, float]]:
    """The best Gaussian (std on the grid stds) and the best disk (radius on the grid radii) for the
    spectrum of the luminance lum (H, W) up to f_max cycles per pixel: {"gaussian": (score, std),
    "disk": (score, radius)}, a lower score a better fit."""
    cands = _candidates(tuple(radii), tuple(stds), f_max)
    scores = _scores(radial_power(lum, f_max), np.stack([h for _, _, h in cands]), f_max)
    best: dict[str, tuple[float, float]] = {}
    for (family, param, _), s in zip(cands, scores):
        if family not in best or s < best[family][0]:
            best[family] = (float(s), param)
    return best


def defocus_band(lum: Tensor, radii: tuple[float, float] = DISK_RADII,
                 stds: tuple[float, float] = GAUSSIAN_STDS) -> tuple[float, float] | None:
    """(radius, f_max) of the defocus blur of the luminance lum (H, W), from the band of DISK_BANDS
    where the best disk stands out most against its bound, or None where it stands out in none."""
    found = []
    for f_max, bound in DISK_BANDS:
        fits = spectral_fits(lum, radii, stds, f_max)
        share = fits["disk"][0] / (bound * fits["gaussian"][0])
        if share < 1:
            found.append((share, fits["disk"][1], f_max))
    return min(found)[1:] if found else None


def find_defocus(lum: Tensor, radii: tuple[float, float] = DISK_RADII,
                 stds: tuple[float, float] = GAUSSIAN_STDS) -> float | None:
    """The radius (pixels) of the defocus blur of the luminance lum (H, W), or None where the best
    disk fits its spectrum clearly better than every Gaussian in no band (`defocus_band`)."""
    band = defocus_band(lum, radii, stds)
    return band[0] if band else None


def find_lens_blur(lum: Tensor, min_std: float = LENS_MIN_STD,
                   guard: tuple[float, float] = LENS_GUARD) -> float | None:
    """The std (pixels) of the smooth lens blur of the luminance lum (H, W): its spectrum's best
    Gaussian where that has std >= min_std, no disk stands out (`find_defocus`) and none comes
    near the best Gaussian either (in the band up to guard[0], the best disk's score at least
    guard[1] times the best Gaussian's), else None."""
    std = spectral_fits(lum)["gaussian"][1]
    if std < min_std or find_defocus(lum) is not None:
        return None
    fits = spectral_fits(lum, f_max=guard[0])
    if fits["disk"][0] < guard[1] * fits["gaussian"][0]:
        return None
    return std
