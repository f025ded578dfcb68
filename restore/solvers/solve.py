"""`solve`: many posterior draws of one batch of observations with any solver, their mean and std."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from restore.operators.base import Operator, check_image
from restore.priors.schedule import Schedule

from .ddnm import ddnm, ddnm_plus
from .ddrm import ddrm
from .diffpir import diffpir
from .dps import dps
from .pigdm import pigdm
from .problem import pose
from .repaint import repaint

METHODS: dict[str, Callable[..., Tensor]] = {
    "ddnm": ddnm, "ddnm_plus": ddnm_plus, "ddrm": ddrm, "dps": dps, "pigdm": pigdm, "diffpir": diffpir,
    "repaint": repaint,
}


def respaced(prior, steps: int | Schedule) -> Schedule:
    """The chain to run: a `Schedule` the caller made, or `steps` uniformly respaced steps of the
    prior's whole schedule."""
    if isinstance(steps, Schedule):
        return steps
    if isinstance(steps, bool) or int(steps) != steps:
        raise ValueError(f"steps must be an integer or a Schedule, got {steps!r}")
    return prior.schedule.respace(int(steps))


def _accepts_batch(operator: Operator, y: Tensor, k: int) -> bool:
    """Whether the operator takes k stacked copies of y's batch (not so for a batch of per-sample masks)."""
    if k == 1:
        return True
    try:
        operator.x_shape_of((k * y.shape[0], *y.shape[1:]))
    except ValueError:
        return False
    return True


def solve(prior, operator: Operator, y: Tensor, method: str = "ddnm", num_samples: int = 1, *,
          steps: int | Schedule, sigma_y: float, generator: torch.Generator | None = None,
          clamp: bool | None = None, max_batch: int | None = None, callback: Callable | None = None,
          x_init: Tensor | None = None, **kw) -> dict[str, Tensor]:
    """Draw `num_samples` restorations of each of the B observations y (B, ...) with `method`.

    Returns dict(samples=(N, B, C, H, W), mean=(B, C, H, W), std=(B, C, H, W)) on [0, 1], on y's
    device (std: unbiased over the N draws, zeros for N = 1). The N draws run as one batch of N * B
    images (y repeated N times, draw-major) when memory allows: at most `max_batch` images per
    call (default: all), B per call if the operator cannot take N stacked copies of y (a batch of
    per-sample masks), and the draws per call are halved after a CUDA out-of-memory error (the
    generator is rewound, so the result does not depend on where that happened).
    steps: a number of uniformly respaced steps, or a `Schedule` the caller made (a warm start:
    `prior.schedule.upto(t0).respace(k)`); x_init (B, C, H, W) on [0, 1]: the estimate a warm
    chain starts from (each draw from its own noising of it).
    clamp: clamp the samples to [0, 1] before the statistics; default (None) clamps only when
    the prior clips its x0 estimates (prior.clip); exact-prior checks use unclamped draws.
    Extra keywords go to the method (see METHODS); sigma_y is required (0 for noiseless y).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    fn = METHODS[method]
    n = int(num_samples)
    if n < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    check_image(y, "y")
    schedule = respaced(prior, steps)
    b = y.shape[0]
    per_call = n if max_batch is None else max(1, min(n, int(max_batch) // b))
    if not _accepts_batch(operator, y, per_call):
        per_call = 1
    out: list[Tensor] = []
    done = 0
    while done < n:
        k = min(per_call, n - done)
        state = generator.get_state() if generator is not None else None
        try:
            problem = pose(prior, operator, y.repeat(k, 1, 1, 1), sigma_y)
            x = fn(prior, problem, schedule, x_init=None if x_init is None else x_init.repeat(k, 1, 1, 1),
                   generator=generator, callback=callback, **kw)
        except torch.cuda.OutOfMemoryError:
            if k == 1:
                raise
            if state is not None:
                generator.set_state(state)
            per_call = max(1, k // 2)
            continue
        out.append(x.to(y.device).reshape(k, b, *x.shape[1:]))
        done += k
    return summary(prior, torch.cat(out, 0), clamp)


def summary(prior, samples: Tensor, clamp: bool | None) -> dict[str, Tensor]:
    """`solve`'s result from its draws (N, B, C, H, W): clamped when clamp (None: when the prior
    clips), their mean and (unbiased) std."""
    if clamp is None:
        clamp = bool(getattr(prior, "clip", True))
    if clamp:
        samples = samples.clamp(0, 1)
    std = samples.std(0) if len(samples) > 1 else torch.zeros_like(samples[0])
    return {"samples": samples, "mean": samples.mean(0), "std": std}
