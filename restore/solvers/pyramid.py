"""`coarse_to_fine`: restoration on an image pyramid, coarsest scale first.

A prior sees a window of its training size (a patch prior run by tiles: its tile), so it sees
nothing inside a hole larger than that. On the pyramid of factors f = 2^(L-1), ..., 2, 1
(`restore.operators.scales`: D_f averages f x f blocks) the problem at scale f is the operator's
`coarsened` one (A_f D_f x = y_f), where a hole is f times smaller. The coarsest level runs like
`solve`; each finer level starts from the coarser result upsampled (bilinear), warm-started by a
chain that stops at t0 < T, with that level's observation.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from restore.operators.base import Operator, check_image
from restore.operators.scales import Coarse, block_mean, upsample
from restore.priors.schedule import Schedule

from .solve import solve, summary


def check_levels(levels) -> int:
    """levels as an int, or a ValueError unless it is an integer >= 1."""
    try:
        ok = not isinstance(levels, bool) and int(levels) == levels and int(levels) >= 1
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"levels must be an integer >= 1, got {levels!r}")
    return int(levels)


def pyramid_levels(prior, hw: tuple[int, int], levels: int) -> int:
    """The levels a pyramid of at most `levels` runs on an (H, W) image: each halves the sides
    (rounding up), and none is added below one the prior sees whole (sides <= prior.image_size, a
    patch prior's tile; 1 pixel for a prior without one). 1: the image itself."""
    levels = check_levels(levels)
    window = int(getattr(prior, "image_size", None) or 1)
    (h, w), n = (int(v) for v in hw), 1
    while n < levels and max(h, w) > window:
        h, w, n = -(-h // 2), -(-w // 2), n + 1
    return n


def coarse_to_fine(prior, operator: Operator, y: Tensor, method: str = "ddnm", num_samples: int = 1, *,
                   levels: int, steps: int | Schedule, sigma_y: float, refine: int | Schedule | None = None,
                   generator: torch.Generator | None = None, clamp: bool | None = None,
                   max_batch: int | None = None, callback: Callable | None = None, x_init: Tensor | None = None,
                   **kw) -> dict[str, Tensor]:
    """`solve` on a pyramid of `pyramid_levels(prior, (H, W), levels)` levels; the same result dict.

    prior: a prior, or a function (H, W) -> the prior for an image of that size, called once per
    level (e.g. `lambda hw: for_image(p, hw, ...)`: a patch prior tiled only where a level is
    larger than its tile). One level is `solve(prior, operator, y, ...)` itself, bit for bit.
    steps: the coarsest level's chain, from D_f x_init (x_init: an estimate of the finest image on
    [0, 1]) or from noise, as in `solve`; refine (default: steps): the chain of each finer level,
    from the coarser result upsampled; it should stop at t0 < T (`restore.starts.warm_schedule`),
    or the chain forgets where it started. Each of the `num_samples` draws climbs the pyramid on
    its own (one after the other), so their std includes the coarse levels' variation.
    The operator needs `coarsened` (Inpainting, Denoise) when more than one level runs.
    """
    check_image(y, "y")
    prior_at = (lambda hw: prior) if hasattr(prior, "eps") else prior
    hw = tuple(operator.x_shape_of(tuple(y.shape))[-2:])
    fine = prior_at(hw)
    options = dict(generator=generator, max_batch=max_batch, callback=callback, **kw)
    n = pyramid_levels(fine, hw, levels)
    if n == 1:
        return solve(fine, operator, y, method, num_samples, steps=steps, sigma_y=sigma_y, clamp=clamp,
                     x_init=x_init, **options)
    if int(num_samples) < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    factors = [2**i for i in reversed(range(n))]  # coarsest first
    problems = [operator.coarsened(y, sigma_y, f) if f > 1 else Coarse(operator, y, float(sigma_y)) for f in factors]
    sizes = [tuple(p.operator.x_shape_of(tuple(p.y.shape))[-2:]) for p in problems]
    priors = [prior_at(s) for s in sizes[:-1]] + [fine]
    draws = []
    for _ in range(int(num_samples)):
        x = None if x_init is None else block_mean(x_init, factors[0])
        for i, (p, size, pr) in enumerate(zip(problems, sizes, priors)):
            if i > 0:
                x = upsample(x, 2, size)
            last = i == n - 1
            res = solve(pr, p.operator, p.y, method, 1, steps=refine if i > 0 and refine is not None else steps,
                        sigma_y=p.sigma_y, clamp=clamp if last else True, x_init=x, **options)
            x = res["samples"][0]
        draws.append(x)
    return summary(fine, torch.stack(draws), clamp)
