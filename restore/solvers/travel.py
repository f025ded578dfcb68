"""Time travel: the resampling schedule of RePaint (Lugmayr et al., CVPR 2022) and DDNM+ (Wang et
al., ICLR 2023, Algorithm 2), and the forward-chain draw that goes back up."""
from __future__ import annotations

import torch
from torch import Tensor

from restore.priors.schedule import Schedule

from .problem import level_abar, normal


def levels(K: int, length: int = 1, repeat: int = 1) -> list[int]:
    """The levels a chain of K steps visits, with resampling jumps.

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


def renoise(schedule: Schedule, x: Tensor, level: int, up: int, generator: torch.Generator | None) -> Tensor:
    """A draw of q(x_up | x_level) for up > level (the forward chain, seed eq. 12, between two levels):
    sqrt(abar_up / abar_level) x + sqrt(1 - abar_up / abar_level) z."""
    ratio = level_abar(schedule, up) / level_abar(schedule, level)
    return ratio**0.5 * x + (1 - ratio) ** 0.5 * normal(x.shape, generator, x)
