"""The benchmark's degradations: task -> operator and degraded observation for an S-pixel image, seeded.

Tasks (issue 7), for an image of side S (the shorter side; the crops are square):
- box: a missing square of side S // 2 at a random position at least S // 8 from every edge.
- random: 70 % of the pixels missing, uniformly at random (the same pixels in every channel).
- gauss: Gaussian blur, std = max(1, 3.0 S / 256), size 2 ceil(3 std) + 1 (S = 128: std 1.5,
  11 x 11; S = 64 and 28: std 1, 7 x 7). At S = 256 the formula gives 19 x 19 taps where the DPS
  configuration uses 61: the taps beyond 3 std hold about 0.3 % of the mass.
- motion: a random camera-shake kernel (`motion_kernel`, intensity 0.5) of size round(61 S / 256),
  made odd, at least 9 (S = 256: 61; 128: 31; 64: 15; 28: 9).
- sr4: bicubic (antialiased) 4x downsampling; the image is first cropped to a multiple of 4.
- denoise: the identity (y = x + noise); only noisy variants are run.
- levin: the real camera-shake kernels of Levin et al. 2009 (kernels/levin09.npz, k1..k8, the
  image with index i gets k(i mod 8 + 1)); skipped when a kernel is larger than half the image.

Blurs use reflect padding (`Blur(k)`, as the solvers see it). Noise: y = A x + sigma_y n with
`add_noise`; sigma_y = 0.025 on [0, 1] (the DPS code's 0.05 on [-1, 1]) or 0 (noiseless).
Every random draw (mask, kernel, noise) comes from a generator seeded by (seed, task, image id).

The observation is then saved as an 8-bit file would be (`quantise`: clipped to [0, 1] and rounded
to k / 255, exactly what writing a PNG and reading it back gives), in every cell, as a user's
files are (issue 22). A "noiseless" cell therefore keeps the quantisation noise (std about
1/255/sqrt(12) = 0.0011 where nothing clips), so the solvers no longer invert exactly the
arithmetic that made y (the "inverse crime"). The solvers and baselines are still told the
task's sigma_y (0 in a noiseless cell): the benchmark measures the configuration a user runs
with the noise level they state, and a user who states 0 for an 8-bit photo gets what this
cell shows.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from restore.operators import (Blur, Denoise, Downsample, Inpainting, add_noise, box_mask, gaussian_kernel,
                               motion_kernel, random_mask)

__all__ = ["TASKS", "SIGMA_Y", "Case", "make_case", "gaussian_geometry", "motion_size", "task_seed",
           "load_levin", "applicable_task", "observation_image", "quantise"]

TASKS = ("box", "random", "gauss", "motion", "sr4", "denoise", "levin")
INPAINTING = ("box", "random")
BLURS = ("gauss", "motion", "levin")
SIGMA_Y = 0.025
RANDOM_MISSING = 0.7
SR_SCALE = 4
MOTION_INTENSITY = 0.5


def quantise(y: Tensor) -> Tensor:
    """y as an 8-bit file stores it: clipped to [0, 1] and rounded to the nearest k / 255."""
    return torch.round(y.clamp(0, 1) * 255) / 255


def gaussian_geometry(S: int) -> tuple[int, float]:
    """(size, std) of the Gaussian blur for an S-pixel image: std = max(1, 3.0 S / 256), size 2 ceil(3 std) + 1."""
    std = max(1.0, 3.0 * S / 256)
    return 2 * math.ceil(3 * std) + 1, std


def motion_size(S: int) -> int:
    """Side of the motion kernel for an S-pixel image: round(61 S / 256), made odd, at least 9."""
    n = int(math.floor(61 * S / 256 + 0.5))
    if n % 2 == 0:
        n += 1
    return max(9, n)


def task_seed(seed: int, task: str, image_id: str) -> int:
    """A stable seed per (seed, task, image): the same draws in every run and process."""
    return (int(seed) * 1_000_003 + zlib.crc32(f"{task}:{image_id}".encode())) % (2**63 - 1)


def load_levin(path) -> list[Tensor]:
    """The 8 Levin et al. kernels k1..k8 of kernels/levin09.npz, float64, in order."""
    with np.load(Path(path), allow_pickle=False) as d:
        return [torch.from_numpy(np.asarray(d[f"k{i}"], dtype=np.float64)) for i in range(1, 9)]


@dataclass
class Case:
    """One degraded image: ground truth x (1, C, H, W), operator, observation y, sigma_y, and the pieces
    the classical baselines need (mask: 1 = observed; kernel; scale)."""

    task: str
    sigma_y: float
    x: Tensor
    operator: object
    y: Tensor
    image_id: str
    mask: Tensor | None = None
    kernel: Tensor | None = None
    scale: int | None = None
    info: dict = field(default_factory=dict)


def applicable_task(task: str, S: int, sigma_y: float, levin: list[Tensor] | None = None) -> bool:
    """Whether a (task, sigma_y) cell is run on S-pixel images: denoising only with noise; the Levin
    track only with its kernels, each at most half the image."""
    if task == "denoise":
        return sigma_y > 0
    if task == "levin":
        return levin is not None and max(max(k.shape) for k in levin) <= S // 2
    if task == "sr4":
        return S >= 2 * SR_SCALE
    return True


def make_case(task: str, x: Tensor, sigma_y: float, *, seed: int, image_id: str, index: int = 0,
                 levin: list[Tensor] | None = None) -> Case:
    """The degraded observation of x ((C, H, W) or (1, C, H, W) on [0, 1]) for `task` (module docstring)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: use one of {', '.join(TASKS)}")
    x = (x[None] if x.ndim == 3 else x).to(torch.float32)
    g = torch.Generator().manual_seed(task_seed(seed, task, image_id))
    h, w = x.shape[-2:]
    S = min(h, w)
    mask = kernel = scale = None
    info: dict = {}
    if task == "box":
        side = S // 2
        mask = box_mask(h, w, side, S // 8, generator=g)
        op = Inpainting(mask.to(x.dtype))
        info = {"side": side}
    elif task == "random":
        mask = random_mask(h, w, RANDOM_MISSING, generator=g)
        op = Inpainting(mask.to(x.dtype))
        info = {"missing": RANDOM_MISSING}
    elif task == "gauss":
        size, std = gaussian_geometry(S)
        kernel = gaussian_kernel(size, std)
        op = Blur(kernel)
        info = {"size": size, "std": std}
    elif task == "motion":
        kernel = motion_kernel(motion_size(S), MOTION_INTENSITY, generator=g)
        op = Blur(kernel)
        info = {"size": kernel.shape[0], "intensity": MOTION_INTENSITY}
    elif task == "levin":
        if levin is None:
            raise ValueError("the levin task needs the kernels of kernels/levin09.npz")
        kernel = levin[index % len(levin)]
        op = Blur(kernel)
        info = {"kernel": f"k{index % len(levin) + 1}", "size": kernel.shape[0]}
    elif task == "sr4":
        scale = SR_SCALE
        h4, w4 = h - h % scale, w - w % scale
        top, left = (h - h4) // 2, (w - w4) // 2
        x = x[..., top:top + h4, left:left + w4]
        op = Downsample(scale, "bicubic")
        info = {"scale": scale}
    else:  # denoise
        op = Denoise()
    y = quantise(add_noise(op.A(x), float(sigma_y), g))
    return Case(task, float(sigma_y), x, op, y, image_id, mask, kernel, scale, info)


def observation_image(p: Case) -> Tensor:
    """The observation as a picture of x's size (1, C, H, W) on [0, 1]: missing pixels grey,
    a low-resolution image enlarged by pixel repetition."""
    y = p.y.clamp(0, 1)
    if p.task in INPAINTING:
        m = p.mask.to(y.dtype)
        return y * m + 0.5 * (1 - m)
    if p.task == "sr4":
        return y.repeat_interleave(p.scale, -2).repeat_interleave(p.scale, -1)
    return y
