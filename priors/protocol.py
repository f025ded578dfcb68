"""The one interface the samplers and solvers use of a prior.

Images live in [-1, 1] inside the prior; t is the time index 1..T of `schedule.T` (an int, or one
index per image of the batch). `DDPM` (ddpm.py; also the exact Gaussian prior, gaussian.py, and
the ADM and diffusers networks it wraps) and `TiledPrior` (tiling.py) implement it; anything else
that does can be passed where a prior is expected.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from .schedule import Schedule

__all__ = ["Prior"]


@runtime_checkable
class Prior(Protocol):
    """A noise predictor with its schedule.

    - `schedule`: the full training schedule (respace it for fewer steps).
    - `eps(x_t, t)`: the predicted noise, of x_t's shape.
    - `x0_hat(x_t, t, clip=None)`: the estimate of x0 from eps; clipped to [-1, 1] when `clip`
      (default: the prior's `clip`).
    - `device`, `dtype`: where and in which precision the network runs.
    - `size_multiple`: image sides the network takes are multiples of this.
    - `min_size`: the smallest image side (a patch prior's tile; 1 otherwise).
    """

    schedule: Schedule
    clip: bool

    def eps(self, x_t: Tensor, t) -> Tensor: ...

    def x0_hat(self, x_t: Tensor, t, clip: bool | None = None) -> Tensor: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def size_multiple(self) -> int: ...

    @property
    def min_size(self) -> int: ...
