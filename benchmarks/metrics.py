"""Scores and costs of one restoration.

- PSNR and SSIM: scikit-image (`peak_signal_noise_ratio`, `structural_similarity`) on float64 images
  on [0, 1] with data_range = 1.0, RGB as (H, W, 3) with channel_axis=-1 (SSIM: the default 7 x 7
  uniform window, averaged over channels), gray as (H, W). Estimates are clamped to [0, 1] and not
  quantised to 8 bits.
- Super-resolution also on the luma: Y = (65.481 R + 128.553 G + 24.966 B + 16) / 255 (ITU-R BT.601,
  as the SR literature), with `border` pixels cropped on every side (the scale).
- An RGB estimate of a gray image is scored by its channel mean (`restore.images.from_prior_channels`,
  the API's own rule; the benchmark's diffusion rows already come back gray).
- Paired intervals: `interval(d)`, the mean of per-image differences d with its two-sided 95 %
  Student t interval (mean +- t_{0.975, n-1} sd / sqrt(n)); the t quantiles are tabulated
  (`T_975`, df 1-30, 40, 60, 120; between two rows the smaller df, i.e. the wider interval).
- Peak memory: `PeakRSS`, the peak resident set size of the process above its value at entry
  (after glibc's malloc_trim has returned freed memory to the system), sampled every 2 ms by a
  thread from /proc/self/statm (CPU; on CUDA the peak allocated by torch).
"""
from __future__ import annotations

import math
import os
import threading
import time

import numpy as np
import torch
from torch import Tensor

from restore.images import from_prior_channels

__all__ = ["psnr", "ssim", "psnr_y", "ssim_y", "PeakRSS", "scores", "interval", "T_975"]

# two-sided 95 % quantiles of Student's t by degrees of freedom (math.inf: the normal's 1.960)
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093,
         20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048,
         29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980, math.inf: 1.960}


def interval(d) -> tuple[float, float, float]:
    """(mean, lower, upper): the paired 95 % t interval of the mean of the differences d (one per
    image); lower = upper = nan for fewer than 2 values, mean = nan for none. NaNs are an error."""
    a = np.asarray([float(v) for v in d], dtype=float)
    if np.isnan(a).any():
        raise ValueError("interval: a difference is NaN")
    if not len(a):
        return math.nan, math.nan, math.nan
    m = float(a.mean())
    if len(a) < 2:
        return m, math.nan, math.nan
    df = len(a) - 1
    t = T_975[max(k for k in T_975 if k <= df)]
    half = t * float(a.std(ddof=1)) / math.sqrt(len(a))
    return m, m - half, m + half


def _np(t: Tensor) -> np.ndarray:
    """(1, C, H, W) or (C, H, W) -> (H, W, C) float64 clamped to [0, 1]; gray -> (H, W)."""
    t = t[0] if t.ndim == 4 else t
    a = t.detach().double().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
    return a[..., 0] if a.shape[-1] == 1 else a


def psnr(x: Tensor, est: Tensor) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(_np(x), _np(est), data_range=1.0))


def ssim(x: Tensor, est: Tensor) -> float:
    from skimage.metrics import structural_similarity

    a, b = _np(x), _np(est)
    return float(structural_similarity(a, b, data_range=1.0, channel_axis=-1 if a.ndim == 3 else None))


def _luma(a: np.ndarray, border: int) -> np.ndarray:
    y = a if a.ndim == 2 else (65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2] + 16) / 255
    return y[border:y.shape[0] - border, border:y.shape[1] - border] if border else y


def psnr_y(x: Tensor, est: Tensor, border: int = 0) -> float:
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(_luma(_np(x), border), _luma(_np(est), border), data_range=1.0))


def ssim_y(x: Tensor, est: Tensor, border: int = 0) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(_luma(_np(x), border), _luma(_np(est), border), data_range=1.0))


def scores(x: Tensor, est: Tensor, y_border: int | None = None) -> dict:
    """psnr, ssim (and psnr_y, ssim_y with that border when y_border is not None)."""
    est = from_prior_channels(est, x.shape[-3], est.shape[-3])  # an RGB estimate of a gray image: its mean
    out = {"psnr": psnr(x, est), "ssim": ssim(x, est)}
    if y_border is not None:
        out.update(psnr_y=psnr_y(x, est, y_border), ssim_y=ssim_y(x, est, y_border))
    return out


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # not Linux: the high-water mark (KiB on Linux, bytes on macOS)
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _trim() -> None:
    """Give memory freed earlier back to the system (glibc malloc_trim), so that the RSS at entry
    is low and the peak above it is the run's working memory, not the allocator's leftovers."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakRSS:
    """Context manager: `.mb` = peak RSS above the RSS at entry, in MB (10^6 bytes), sampled every
    `interval` s; on CUDA, torch's peak allocated memory instead."""

    def __init__(self, device="cpu", interval: float = 0.002):
        self.device, self.interval, self.mb = torch.device(device), interval, 0.0

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base = torch.cuda.memory_allocated(self.device)
            return self
        _trim()
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.mb = (torch.cuda.max_memory_allocated(self.device) - self.base) / 1e6
            return False
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())
        self.mb = max(0, self.peak - self.base) / 1e6
        return False
