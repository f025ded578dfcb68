"""Blur kernels (point-spread functions): float64 2-D tensors, non-negative, summing to 1.

The centre of a kernel of size (kh, kw) is the index (kh // 2, kw // 2), also for even sizes.
Sides are at most MAX_KERNEL_SIDE: a camera's PSF spans tens of pixels, and a bigger request
("uniform:100000", a 10^10-element .npy) would only exhaust memory.
"""

from __future__ import annotations

import cmath
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

MAX_KERNEL_SIDE = 1025


def _check_side(size, what: str) -> None:
    if size > MAX_KERNEL_SIDE:
        raise ValueError(f"{what} size {size} is larger than the limit of {MAX_KERNEL_SIDE}")


def check_kernel(k, name: str = "kernel") -> Tensor:
    """Validate a kernel (2-D, finite, non-negative, not all zero) and return it float64, summing to 1."""
    k = torch.as_tensor(np.asarray(k) if not isinstance(k, Tensor) else k)
    if k.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {tuple(k.shape)}")
    if k.numel() == 0:
        raise ValueError(f"{name} is empty")
    if k.dtype == torch.bool or k.is_complex():
        raise ValueError(f"{name} must be real numbers, got {k.dtype}")
    k = k.detach().to(device="cpu", dtype=torch.float64)
    if not torch.isfinite(k).all():
        raise ValueError(f"{name} has NaN or infinite entries")
    if (k < 0).any():
        raise ValueError(f"{name} has negative entries (min {k.min().item():.3g}); a PSF must be non-negative")
    total = k.sum()
    if total <= 0:
        raise ValueError(f"{name} is all zero; a PSF must have a positive sum")
    return k / total


def gaussian_kernel(size: int, std: float) -> Tensor:
    """Gaussian kernel (size, size), exp(-(i^2 + j^2) / (2 std^2)) for offsets i, j from the centre, normalised.

    size must be odd (computed by kornia.filters.get_gaussian_kernel2d in float64).
    """
    from kornia.filters import get_gaussian_kernel2d

    if int(size) != size or size < 1 or size % 2 == 0:
        raise ValueError(f"gaussian kernel size must be a positive odd integer, got {size}")
    _check_side(size, "gaussian kernel")
    if not std > 0:
        raise ValueError(f"gaussian std must be positive, got {std}")
    k = get_gaussian_kernel2d((int(size), int(size)), (float(std), float(std)), dtype=torch.float64)
    return check_kernel(k[0])


def gaussian_of_std(std: float) -> Tensor:
    """The Gaussian kernel of `std` on the 2 ceil(3 std) + 1 grid that `gaussian:STD` gets."""
    return gaussian_kernel(2 * int(math.ceil(3 * std)) + 1, float(std))


def disk_kernel(radius: float, size: int | None = None) -> Tensor:
    """A defocus blur: the uniform disk of `radius` pixels, anti-aliased (4x4 supersampling), sum 1."""
    size = size or 2 * int(math.ceil(radius)) + 1
    c = size // 2
    sub = (torch.arange(size * 4, dtype=torch.float64) + 0.5) / 4 - 0.5 - c
    yy, xx = torch.meshgrid(sub, sub, indexing="ij")
    inside = ((yy ** 2 + xx ** 2) <= radius ** 2).double()
    k = inside.reshape(size, 4, size, 4).mean((1, 3))
    if k.sum() == 0:
        k[c, c] = 1
    return k / k.sum()


def uniform_kernel(size: int) -> Tensor:
    """Box kernel (size, size) with every entry 1 / size^2."""
    if int(size) != size or size < 1:
        raise ValueError(f"uniform kernel size must be a positive integer, got {size}")
    _check_side(size, "uniform kernel")
    return torch.full((int(size), int(size)), 1.0 / size**2, dtype=torch.float64)


def _trajectory(steps: int, length: float, intensity: float, generator: torch.Generator) -> list[complex]:
    """Random camera path in the spirit of Boracchi & Foi (2012): ``steps`` points, fixed speed,
    a direction that diffuses (random turn rate), a pull back towards the start, and a few abrupt
    reversals (camera shakes). intensity in [0, 1] scales all three; 0 gives a straight line."""
    u = torch.rand(steps, 2, generator=generator, dtype=torch.float64).tolist()
    g = torch.randn(steps, 2, generator=generator, dtype=torch.float64).tolist()
    p = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
    turn = intensity * 2 * math.pi * p[0] / math.sqrt(steps)  # per-step angular noise
    pull = intensity * 4 * 0.7 * p[1] / steps**2  # total turn from the pull <= 2.8 rad
    shake_prob = intensity * 4 * p[2] / steps  # at most 4 reversals expected
    step = length / (steps - 1)
    v = step * cmath.exp(2j * math.pi * p[3])
    x = 0j
    path = [x]
    for t in range(steps - 1):
        if u[t][0] < shake_prob:
            v = v * cmath.exp(1j * (math.pi + (u[t][1] - 0.5)))
        v = v + turn * step * complex(g[t][0], g[t][1]) - pull * x
        v = v / abs(v) * step if abs(v) > 0 else step
        x = x + v
        path.append(x)
    return path


def motion_kernel(
    size: int = 61, intensity: float = 0.5, *, generator: torch.Generator, steps: int = 2000
) -> Tensor:
    """Motion-blur kernel (size, size) from a random camera trajectory rasterised to the grid.

    The path (length ``size`` pixels before fitting, ``steps`` points) is centred on the kernel
    centre by its mean point, shrunk about it if it leaves the grid, and splatted bilinearly.
    Reproducible from ``generator``; intensity in [0, 1] sets how much the path shakes.
    """
    if int(size) != size or size < 3:
        raise ValueError(f"motion kernel size must be an integer >= 3, got {size}")
    _check_side(size, "motion kernel")
    if not 0.0 <= intensity <= 1.0:
        raise ValueError(f"motion kernel intensity must be in [0, 1], got {intensity}")
    size = int(size)
    path = torch.tensor(_trajectory(steps, float(size), intensity, generator), dtype=torch.complex128)
    pts = torch.stack([path.imag, path.real], dim=1)  # (row, col)
    pts = pts - pts.mean(0)
    c = size // 2
    reach = min(c, size - 1 - c)
    extent = pts.abs().max()
    if extent > reach:
        pts = pts * (reach / extent)
    pts = pts + c
    k = torch.zeros(size + 1, size + 1, dtype=torch.float64)
    base = pts.floor().long().clamp(0, size - 1)
    frac = pts - base
    for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):
        wgt = (frac[:, 0] if dr else 1 - frac[:, 0]) * (frac[:, 1] if dc else 1 - frac[:, 1])
        k.index_put_((base[:, 0] + dr, base[:, 1] + dc), wgt, accumulate=True)
    return check_kernel(k[:size, :size], "motion kernel")


def load_kernel(path: str | Path) -> Tensor:
    """Load a kernel from a grey PNG/JPEG image, a .npy, or a .npz (one array, or ``file.npz:name``).

    Returns float64 (kh, kw), validated and normalised to sum 1 (see `check_kernel`).
    """
    spec = str(path)
    name = None
    head, sep, tail = spec.rpartition(":")
    if sep and head.lower().endswith(".npz"):
        spec, name = head, tail
    p = Path(spec)
    if not p.exists():
        raise ValueError(f"kernel file not found: {p}")
    if p.suffix.lower() in (".npy", ".npz"):
        from .arrayfiles import read_array

        arr = read_array(p, name, max_elements=MAX_KERNEL_SIDE**2)
    else:
        from restore.io import read_image

        im = read_image(p, max_pixels=MAX_KERNEL_SIDE**2)
        if im.mode not in ("1", "L", "I", "F", "I;16", "I;16L", "I;16B"):
            raise ValueError(f"kernel image {p} must be grey (mode L, I or F), got mode {im.mode}")
        arr = np.asarray(im, dtype=np.float64)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"kernel {p} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim == 2:
        _check_side(max(arr.shape), f"kernel {p}")
    return check_kernel(np.asarray(arr, dtype=np.float64) if arr.dtype != np.float64 else arr, f"kernel {p}")


def _number(text: str, spec: str, what: str, form: str, integer: bool = False):
    """A field of a kernel spec as a finite number (an int where `integer`), or ValueError naming the spec."""
    v = None
    try:
        v = int(text) if integer else float(text)
    except ValueError:
        try:  # an integer written as 5.0 or 1e3
            f = float(text)
            v = int(f) if integer and math.isfinite(f) and f == int(f) else None
        except (ValueError, OverflowError):
            pass
    if v is None or not math.isfinite(v):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"bad kernel {spec!r}: {what} must be {kind}, got {text!r} ({form})")
    return v


def parse_kernel(spec: str, generator: torch.Generator | None = None) -> Tensor:
    """gaussian:STD[:SIZE] | motion:INTENSITY[:SEED] | uniform:SIZE | a kernel file (PNG, NPY, NPZ[:key]).

    The one parser of kernel specs; every field is checked, with a one-line ValueError naming the
    spec: STD > 0, SIZE a positive odd integer (gaussian; default 2 ceil(3 STD) + 1), INTENSITY on
    [0, 1], SEED an integer, uniform SIZE a positive integer, no side over MAX_KERNEL_SIDE."""
    kind, _, rest = str(spec).partition(":")
    forms = {"gaussian": "gaussian:STD[:SIZE]", "motion": "motion:INTENSITY[:SEED]", "uniform": "uniform:SIZE"}
    if kind not in forms:
        return load_kernel(spec)
    form, parts = forms[kind], rest.split(":") if rest else []
    if len(parts) > (1 if kind == "uniform" else 2) or (kind != "motion" and not parts):
        raise ValueError(f"bad kernel {spec!r}: expected {form}")
    if kind == "gaussian":
        std = _number(parts[0], spec, "STD", form)
        if std <= 0:
            raise ValueError(f"bad kernel {spec!r}: STD must be > 0, got {parts[0]} ({form})")
        if len(parts) > 1:
            size = _number(parts[1], spec, "SIZE", form, integer=True)
        else:
            if 3 * std > MAX_KERNEL_SIDE:
                raise ValueError(f"bad kernel {spec!r}: STD {std:g} needs a kernel larger than the limit of "
                                 f"{MAX_KERNEL_SIDE} pixels")
            size = 2 * int(math.ceil(3 * std)) + 1
        if size < 1 or size % 2 == 0:
            raise ValueError(f"bad kernel {spec!r}: SIZE must be a positive odd integer, got {size} ({form})")
        if size > MAX_KERNEL_SIDE:
            raise ValueError(f"bad kernel {spec!r}: SIZE {size} is larger than the limit of {MAX_KERNEL_SIDE}")
        return gaussian_kernel(size, std)
    if kind == "motion":
        intensity = _number(parts[0], spec, "INTENSITY", form) if parts else 0.5
        if not 0 <= intensity <= 1:
            raise ValueError(f"bad kernel {spec!r}: INTENSITY must be on [0, 1], got {parts[0]} ({form})")
        if len(parts) > 1:
            seed = _number(parts[1], spec, "SEED", form, integer=True)
            try:
                g = torch.Generator().manual_seed(seed)
            except (RuntimeError, ValueError, OverflowError):
                raise ValueError(f"bad kernel {spec!r}: SEED {seed} is out of range") from None
        else:
            g = generator or torch.Generator().manual_seed(0)
        return motion_kernel(61, float(intensity), generator=g)
    size = _number(parts[0], spec, "SIZE", form, integer=True)
    if size < 1:
        raise ValueError(f"bad kernel {spec!r}: SIZE must be a positive integer, got {size} ({form})")
    if size > MAX_KERNEL_SIDE:
        raise ValueError(f"bad kernel {spec!r}: SIZE {size} is larger than the limit of {MAX_KERNEL_SIDE}")
    return uniform_kernel(size)
