"""What the solvers share: the observation in prior space, the respaced chain, time travel, the
regularised least-squares step and the SVD pieces. No solver's own update lives here.

Conventions (every solver): y and sigma_y are on the [0, 1] pixel scale and are mapped once by
`to_prior_space` to y' = 2 y - A(1), sigma' = 2 sigma_y, the observation of x' = 2 x - 1 in [-1, 1];
the chain runs in [-1, 1]; the result is returned as (x' + 1) / 2 WITHOUT clamping (callers, e.g.
`restore.solvers.solve`, clamp). A chain of K steps has levels K (pure noise) .. 0 (the image); the
reverse step from level i + 1 to level i uses position i of the respaced schedule, t = s.t[i].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from restore.operators import cgls, to_prior_space
from restore.operators.base import Operator, pad_zeros
from restore.priors.rng import randn
from restore.priors.schedule import Schedule

DEFAULT_STEPS = 100


@dataclass(frozen=True)
class Observation:
    """y' and sigma' in prior space, with the image shape (B, C, H, W) behind y."""

    y: Tensor
    sigma: float
    x_shape: tuple[int, ...]


def observe(prior, operator: Operator, y: Tensor, sigma_y: float) -> Observation:
    """Validate y and sigma_y and map them to prior space (on the prior's device, y's dtype)."""
    if not isinstance(y, Tensor) or y.ndim != 4 or not y.is_floating_point():
        raise ValueError(f"y must be a floating tensor (B, C, H, W), got {getattr(y, 'shape', type(y).__name__)}")
    sigma_y = float(sigma_y)
    if not sigma_y >= 0:
        raise ValueError(f"sigma_y must be >= 0, got {sigma_y}")
    y = y.to(prior.device)
    y_p, sigma_p = to_prior_space(operator, y, sigma_y)
    return Observation(y_p, float(sigma_p), tuple(operator.AT(y_p).shape))


def chain(prior, steps: int | Schedule) -> Schedule:
    """The chain a solver runs: a `Schedule` the caller made (e.g. `prior.schedule.upto(t0)
    .respace(k)` for a warm start), or `steps` uniformly spaced steps of the prior's whole schedule."""
    if isinstance(steps, Schedule):
        return steps
    if isinstance(steps, bool) or int(steps) != steps:
        raise ValueError(f"steps must be an integer or a Schedule, got {steps!r}")
    return prior.schedule.respace(int(steps))


def normal(shape, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """N(0, I) through the explicit generator, on like's device and dtype."""
    return randn(shape, generator, device=like.device, dtype=like.dtype)


def start(obs: Observation, s: Schedule, generator: torch.Generator | None, x_init: Tensor | None = None) -> Tensor:
    """The chain's first state, at its top level K: x_K ~ N(0, I) of the image shape (a cold start),
    or, given an estimate x_init of the image (on [0, 1], the image shape), a draw of the forward
    chain q(x_K | x0 = 2 x_init - 1) = N(sqrt(abar_K) x0, (1 - abar_K) I) (seed eq. 12; a warm start).
    Only the cold start is drawn when x_init is None, so a cold chain keeps its draws."""
    if x_init is None:
        return normal(obs.x_shape, generator, obs.y)
    abar = level_abar(s, len(s))
    return abar**0.5 * init_image(obs, x_init) + (1 - abar) ** 0.5 * normal(obs.x_shape, generator, obs.y)


def init_image(obs: Observation, x_init: Tensor) -> Tensor:
    """A warm start's estimate of the image, checked and mapped to prior space: 2 x_init - 1."""
    if not isinstance(x_init, Tensor) or tuple(x_init.shape) != tuple(obs.x_shape):
        raise ValueError(f"x_init must have the image shape {tuple(obs.x_shape)}, got {tuple(getattr(x_init, 'shape', ()))}")
    return 2 * x_init.to(device=obs.y.device, dtype=obs.y.dtype) - 1


def finish(x: Tensor, y: Tensor) -> Tensor:
    """[-1, 1] -> [0, 1], unclamped, on y's device."""
    return ((x + 1) / 2).to(y.device)


def emit(callback: Callable | None, i: int, t: int, x: Tensor, x0: Tensor) -> None:
    if callback is not None:
        callback({"i": i, "t": t, "x": x, "x0_hat": x0})


def level_abar(s: Schedule, level: int) -> float:
    """abar of the state at a level: 1 at level 0 (the image), s.abar[level - 1] above."""
    return 1.0 if level == 0 else float(s.abar[level - 1])


def levels(K: int, length: int = 1, repeat: int = 1) -> list[int]:
    """The levels a chain of K steps visits, with RePaint's resampling jumps (time travel).

    Going down one level at a time from K, on reaching level l in {1, 1 + length, 1 + 2 length, ...}
    with l + length <= K the chain jumps back up to l + length, `repeat - 1` times per such l (each
    jump is followed by the `length` reverse steps down to l again). repeat = 1: no jumps, K..0.
    """
    length, repeat = int(length), int(repeat)
    if length < 1 or repeat < 1:
        raise ValueError(f"jump length and repeat count must be >= 1, got {length}, {repeat}")
    jumps = {l: repeat - 1 for l in range(1, K - length + 1, length)}
    out, level = [K], K
    while level > 0:
        level -= 1
        out.append(level)
        if jumps.get(level, 0) > 0:
            jumps[level] -= 1
            level += length
            out.append(level)
    return out


def renoise(s: Schedule, x: Tensor, low: int, high: int, generator) -> Tensor:
    """A draw of q(x_high | x_low) (forward chain, seed eq. 12 between two levels):
    sqrt(abar_high / abar_low) x + sqrt(1 - abar_high / abar_low) z."""
    ratio = level_abar(s, high) / level_abar(s, low)
    return ratio**0.5 * x + (1 - ratio) ** 0.5 * normal(x.shape, generator, x)


def require_svd(operator: Operator, method: str) -> None:
    if not getattr(operator, "has_svd", False):
        raise ValueError(f"{method} needs an operator with a cheap SVD; {operator!r} has none")


def spectrum(operator: Operator, x_shape, like: Tensor) -> tuple[Tensor, Tensor]:
    """(s, kept): the singular values (m,) or (B, m) and the mask of those A_pinv keeps
    (s > rcond max s); the others count as zero, i.e. as null space, in every solver."""
    s = operator.singulars(x_shape, dtype=like.dtype, device=like.device)
    return s, s > operator.rcond * s.amax(dim=-1, keepdim=True)


def safe_div(num: Tensor, den: Tensor, keep: Tensor) -> Tensor:
    """num / den where keep, 0 elsewhere (no inf/nan from the dropped entries)."""
    return torch.where(keep, num / torch.where(keep, den, torch.ones_like(den)), torch.zeros_like(num))


def y_bar(operator: Operator, obs: Observation) -> tuple[Tensor, Tensor, Tensor]:
    """(s, kept, ybar): ybar = Sigma^+ U^T y' (m entries per sample; 0 where s is dropped)."""
    s, kept = spectrum(operator, obs.x_shape, obs.y)
    ut = operator.UT(obs.y)
    return s, kept, safe_div(ut, s.expand_as(ut), kept.expand_as(ut))


# Relative tolerance of the damped data step's conjugate gradients. `python -m
# restore.benchmarks.cg_tol` (4 faces val images, 15-pixel motion blur, sigma_y = 0.025, DiffPIR 20
# steps, idle machine): 25.93 dB at 1e-6 and 1e-4, 25.97 dB at 1e-3; 4.20 -> 1.73 s per image.
DATA_TOL = 1e-3


def tikhonov(operator: Operator, r: Tensor, rho: float, x_shape, tol: float = DATA_TOL) -> Tensor:
    """(A^T A + rho I)^{-1} A^T r = argmin_d ||A d - r||^2 + rho ||d||^2; rho = 0 gives A^+ r.

    Closed form for every operator with a cheap SVD (masks: elementwise; circular blur: its
    FFT/Hartley SVD; separable blur, downsampling: Kronecker SVDs), conjugate gradients (CGLS,
    relative tolerance tol on the normal residual, the operator's max_iter) otherwise.
    rho = 0 is the operator's own A_pinv (truncated at its rcond); rho > 0 is not truncated.
    """
    rho = float(rho)
    if rho < 0:
        raise ValueError(f"rho must be >= 0, got {rho}")
    if rho == 0:
        return operator.A_pinv(r)
    if getattr(operator, "has_svd", False):
        w = operator.UT(r)
        s = operator.singulars(x_shape, dtype=r.dtype, device=r.device).expand_as(w)
        z = s / (s * s + rho) * w  # no truncation needed: rho > 0 bounds the gain by 1 / (2 sqrt(rho))
        return operator.V(pad_zeros(z, x_shape[-3] * x_shape[-2] * x_shape[-1]), x_shape)
    # damped, so tol need not regularise (unlike the undamped A_pinv, which keeps the operator's tol)
    return cgls(operator.A, operator.AT, r, damping=rho, tol=tol, max_iter=operator.max_iter)
