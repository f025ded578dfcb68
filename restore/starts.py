"""Classical estimates a warm-started chain begins from, and the regions an inpainting restores.

A warm start (SDEdit, Meng et al. ICLR 2022; Come-Closer-Diffuse-Faster, Chung et al. CVPR 2022)
noises a cheap estimate of the image to an intermediate level t0 and runs the reverse chain from
there: the estimate fixes the colours and shading the prior would otherwise have to find from pure
noise, and the chain needs only the steps below t0. Every estimate here is computed on the [0, 1]
scale from the observation y (B, C, h, w) and the operator that made it, by the operator's own
linear algebra (A^+, the Tikhonov step) or a sparse solve; scikit-image's inpainting (biharmonic)
was measured and not used (`classical_estimate`).
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from restore.solvers.problem import DATA_TOL

__all__ = ["NOISE", "check_strength", "classical_estimate", "harmonic_fill", "hole_regions", "is_warm",
           "noise_strength", "warm_chain", "warm_schedule"]

# the Tikhonov weight of the deblurring start, rho = sigma_y^2 / SIGNAL_VAR: the Wiener filter of a
# white signal of this variance (natural images on [0, 1] have a pixel std of about 0.25)
SIGNAL_VAR = 0.06


def classical_estimate(command: str, operator, y: Tensor, sigma_y: float) -> Tensor:
    """An estimate (B, C, H, W) on [0, 1] of the image behind y: harmonic inpainting (inpaint; on
    natural/val's object-sized holes better than scikit-image's biharmonic inside the holes, which
    overshoots the colours around large holes: `python -m lab.whole_photo`, benchmarks/notes/whole-photo.md),
    back-projected bicubic interpolation (sr: bicubic upscaling corrected by A^+ to agree with y),
    Tikhonov/Wiener deconvolution (deblur), the noisy image itself (denoise)."""
    if command == "inpaint":
        observed = (operator.mask > 0.5).expand(y.shape)  # the Inpainting operator's own mask, 1 = observed
        out = []
        for yb, ob in zip(y.double().cpu(), observed.cpu()):
            fill = ~ob.all(0).numpy()
            img = yb.permute(1, 2, 0).numpy()
            out.append(torch.from_numpy(harmonic_fill(img, fill) if fill.any() else img).permute(2, 0, 1))
        x = torch.stack(out).to(y)
    elif command == "sr":
        h, w = operator.x_shape_of(tuple(y.shape))[-2:]
        x = F.interpolate(y, size=(h, w), mode="bicubic", align_corners=False)
        x = x + operator.A_pinv(y - operator.A(x))  # back-projection: A x = y exactly (up to A^+'s rcond)
    elif command == "deblur":
        rho = max(float(sigma_y), 1e-3) ** 2 / SIGNAL_VAR
        x = operator.least_squares(y, rho, tol=DATA_TOL)
    elif command == "denoise":
        x = y
    else:
        raise ValueError(f"no classical estimate for {command!r}")
    return x.clamp(0, 1)


def harmonic_fill(image: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """The harmonic (membrane) inpainting of `image` (H, W, C) where `fill` (H, W) is True: the
    solution of Laplace's equation inside the holes with the observed pixels as boundary values
    (zero normal derivative at the image's border). Each filled value is a weighted mean of the
    boundary's, so unlike the biharmonic fill it never overshoots the colours around a hole."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import spsolve

    fill = np.asarray(fill, bool)
    H, W = fill.shape
    idx = -np.ones((H, W), np.int64)
    ys, xs = np.nonzero(fill)
    n = len(ys)
    idx[ys, xs] = np.arange(n)
    rows, cols, vals = [np.arange(n)], [np.arange(n)], [np.zeros(n)]
    rhs = np.zeros((n, image.shape[-1]))
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < H) & (nx >= 0) & (nx < W)
        vals[0][inside] += 1  # degree: the neighbours inside the image
        k = np.nonzero(inside)[0]
        j = idx[ny[k], nx[k]]
        unknown = j >= 0
        rows.append(k[unknown]), cols.append(j[unknown]), vals.append(-np.ones(int(unknown.sum())))
        rhs[k[~unknown]] += image[ny[k[~unknown]], nx[k[~unknown]]]
    L = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsc()
    out = image.copy()
    out[ys, xs] = spsolve(L, rhs).reshape(n, -1)
    return out


# the strength that starts a chain where the schedule's noise equals the observation's (noise_strength)
NOISE = "noise"


def check_strength(strength) -> float | str:
    """A warm-start strength: a number in (0, 1], or NOISE."""
    if isinstance(strength, str) and strength.strip().lower() == NOISE:
        return NOISE
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise ValueError(f"strength must be a number in (0, 1] or {NOISE!r}, got {strength!r}") from None
    if not 0 < value <= 1:
        raise ValueError(f"strength must be in (0, 1] or {NOISE!r}, got {strength}")
    return value


def is_warm(strength) -> bool:
    """Whether a (checked) strength starts the chain from a classical estimate (below T)."""
    return strength == NOISE or float(strength) < 1


def noise_strength(schedule, sigma_y: float) -> float:
    """The strength t0 / T of the first step t0 whose noise level sqrt((1 - abar) / abar) reaches
    y's own, 2 sigma_y on the prior's [-1, 1] scale (t0 = 1 for noiseless y). Denoising from there
    adds no noise to y: DDRM's eq. (7) starts at x_t0 = sqrt(abar_t0) y (up to the gap to the next
    level), and its one step from t0 returns x0_hat(x_t0), Tweedie's posterior mean of x given y."""
    abar = schedule.abar.double()
    level = ((1 - abar) / abar).sqrt()
    above = torch.nonzero(level >= 2 * float(sigma_y)).reshape(-1)
    t0 = int(schedule.t[above[0]]) if len(above) else schedule.T
    return t0 / schedule.T


def warm_chain(schedule, steps: int, strength, sigma_y: float):
    """`warm_schedule` of a checked strength, NOISE made the number `noise_strength` gives for y's level."""
    return warm_schedule(schedule, steps, noise_strength(schedule, sigma_y) if strength == NOISE else strength)


def warm_schedule(schedule, steps: int, strength: float):
    """The chain of a warm start: `steps` uniformly spaced steps of `schedule` below
    t0 = round(strength T) (fewer when t0 < steps); strength 1 is the whole schedule (a cold start)."""
    strength = float(strength)
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    if not 1 <= int(steps) <= len(schedule):
        raise ValueError(f"steps must be in 1..{len(schedule)}, got {steps}")
    t0 = max(1, round(strength * schedule.T))
    head = schedule.upto(t0)
    return head.respace(min(int(steps), len(head)))


def hole_regions(fill: np.ndarray, margin: int) -> list[tuple[int, int, int, int]]:
    """Boxes (top, left, h, w) that cover every True pixel of `fill` (H, W) with `margin` pixels of
    context on each side (clipped to the image); boxes that overlap or touch are merged, so each
    box is restored once and no two boxes share a pixel."""
    from scipy import ndimage

    fill = np.asarray(fill, bool)
    H, W = fill.shape
    boxes = [[max(0, sl[0].start - margin), max(0, sl[1].start - margin), min(H, sl[0].stop + margin),
              min(W, sl[1].stop + margin)] for sl in ndimage.find_objects(ndimage.label(fill)[0])]

    def touch(a, b) -> bool:
        return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]

    while pair := next(((i, j) for i, j in combinations(range(len(boxes)), 2) if touch(boxes[i], boxes[j])), None):
        a, b = boxes[pair[0]], boxes.pop(pair[1])  # merged until no two boxes overlap or touch
        boxes[pair[0]] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
    return sorted((t, l, b - t, r - l) for t, l, b, r in boxes)
