"""The problem a solver runs on: y = A x + n posed once for a prior, in the prior's space.

Every solver has the signature
    method(prior, problem, schedule, *, x_init=None, generator=None, callback=None, **its_own) -> Tensor
with `problem` from `pose`, `schedule` the respaced chain the caller made (`prior.schedule.respace(k)`,
or `.upto(t0).respace(k)` for a warm start), `x_init` the estimate a warm start begins from (on
[0, 1], the image's shape; None: pure noise), randomness only from `generator` and
`callback({i, t, x, x0_hat})` once per network evaluation. It returns images on [0, 1] of the
observation's image size, NOT clamped (`solve` clamps when the prior clips).

Conventions. y and sigma_y are on the [0, 1] pixel scale; `pose` maps them once to y' = 2 y - A(1),
sigma' = 2 sigma_y, the observation of x' = 2 x - 1 in [-1, 1], where the chain runs. A chain of K
steps has levels K (noise) .. 0 (the image); the step from level i + 1 to level i uses position i
of the schedule, t = schedule.t[i].

Any image size: the network takes sides that are multiples of `prior.size_multiple` and at least
`prior.min_size` (a patch prior's tile). The chain runs on a latent (Hp, Wp) >= (H, W) rounded up to
those, with the image in its centre, and the operator A_p = A @ Crop(box) (`restore.operators.Padded`):
the padding is unobserved, a null space drawn by the prior alone, and the result is cropped back.
An `Inpainting` is padded as an Inpainting whose mask and y are extended by zeros (missing =
unobserved): the same problem, and RePaint's mask test still holds.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from restore.operators import Inpainting, Padded, to_prior_space
from restore.operators.base import Operator, check_image
from restore.operators.padding import extend_index
from restore.priors.rng import randn
from restore.priors.schedule import Schedule

# Relative tolerance of the conjugate gradients in the solvers' damped least-squares steps (the
# undamped A_pinv keeps the operator's own): `python -m lab.cg_tol` measures it.
DATA_TOL = 1e-3


class Spectral(NamedTuple):
    """The observation in the operator's SVD basis (m components per sample): ``kept``, the
    singular values the truncation rule keeps; ``ybar`` = Sigma^+ U^T y'; ``noise`` = sigma' / s,
    the std of ybar's noise (0 where a singular value is dropped, as ybar is)."""

    kept: Tensor
    ybar: Tensor
    noise: Tensor


def _safe_div(num: Tensor, den: Tensor, keep: Tensor) -> Tensor:
    """num / den where keep, 0 elsewhere (no inf/nan from the dropped entries)."""
    return torch.where(keep, num / torch.where(keep, den, torch.ones_like(den)), torch.zeros_like(num))


def normal(shape, generator: torch.Generator | None, like: Tensor) -> Tensor:
    """N(0, I) through the explicit generator, on like's device and dtype."""
    return randn(shape, generator, device=like.device, dtype=like.dtype)


def level_abar(schedule: Schedule, level: int) -> float:
    """abar of the state at a level: 1 at level 0 (the image), schedule.abar[level - 1] above."""
    return 1.0 if level == 0 else float(schedule.abar[level - 1])


@dataclass(frozen=True)
class Problem:
    """y' = A x' + n', n' ~ N(0, sigma'^2 I), on the prior's latent. Made by `pose`.

    operator: A on the latent (B, C, Hp, Wp); y: y' on the prior's device; sigma: sigma';
    x_shape: the latent's shape; box: (top, left, H, W), the image inside the latent.
    """

    operator: Operator
    y: Tensor
    sigma: float
    x_shape: tuple[int, ...]
    box: tuple[int, int, int, int]

    def crop(self, x: Tensor) -> Tensor:
        """The image (B, C, H, W) inside a latent (B, C, Hp, Wp)."""
        top, left, h, w = self.box
        return x[..., top : top + h, left : left + w]

    def image(self, x: Tensor) -> Tensor:
        """A latent state on [-1, 1] as the image on [0, 1], unclamped."""
        return self.crop((x + 1) / 2)

    def emit(self, callback: Callable | None, i: int, t: int, x: Tensor, x0_hat: Tensor) -> None:
        """callback({i, t, x, x0_hat}) with the states cropped to the image (prior space)."""
        if callback is not None:
            callback({"i": i, "t": t, "x": self.crop(x), "x0_hat": self.crop(x0_hat)})

    def latent(self, x_init: Tensor) -> Tensor:
        """A warm start's estimate of the image (on [0, 1], the image's shape) on the latent, in
        prior space (2 x - 1); mirrored into the padding, whose pixels are unobserved, so that is
        only where their chain starts."""
        top, left, h, w = self.box
        if not isinstance(x_init, Tensor) or tuple(x_init.shape) != (*self.x_shape[:2], h, w):
            raise ValueError(f"x_init must have the image shape {(*self.x_shape[:2], h, w)}, "
                             f"got {tuple(getattr(x_init, 'shape', ()))}")
        hp, wp = self.x_shape[-2:]
        if (hp, wp) != (h, w):
            rows = extend_index(h, -top, hp, "reflect").to(x_init.device)
            cols = extend_index(w, -left, wp, "reflect").to(x_init.device)
            x_init = x_init.index_select(-2, rows).index_select(-1, cols)
        return 2 * x_init.to(device=self.y.device, dtype=self.y.dtype) - 1

    def start(self, schedule: Schedule, generator: torch.Generator | None, x_init: Tensor | None = None) -> Tensor:
        """The chain's first state, at its top level K: x_K ~ N(0, I) (a cold start), or, given an
        estimate x_init, a draw of the forward chain q(x_K | x0 = 2 x_init - 1) = N(sqrt(abar_K) x0,
        (1 - abar_K) I) (seed eq. 12; a warm start). A cold start draws only the noise."""
        if x_init is None:
            return normal(self.x_shape, generator, self.y)
        abar = level_abar(schedule, len(schedule))
        return abar**0.5 * self.latent(x_init) + (1 - abar) ** 0.5 * normal(self.x_shape, generator, self.y)

    def spectral(self) -> Spectral:
        """y' in the operator's SVD basis (`Spectral`); the operator must have a cheap SVD."""
        s = self.operator.singulars(self.x_shape, dtype=self.y.dtype, device=self.y.device)
        kept = self.operator.kept_of(s)
        ut = self.operator.UT(self.y)
        s, kept = s.expand_as(ut), kept.expand_as(ut)
        return Spectral(kept, _safe_div(ut, s, kept), _safe_div(torch.full_like(ut, self.sigma), s, kept))

    def least_squares(self, r: Tensor, rho: float) -> Tensor:
        """argmin_d ||A d - r||^2 + rho ||d||^2 (the operator's, CG to DATA_TOL when it has no SVD)."""
        return self.operator.least_squares(r, rho, tol=DATA_TOL)


def padded_size(prior, h: int, w: int) -> tuple[int, int]:
    """(Hp, Wp): the smallest sides >= (h, w) and >= prior.min_size that are multiples of
    prior.size_multiple."""
    m, lo = int(prior.size_multiple), int(prior.min_size)

    def up(n: int) -> int:
        n = max(int(n), lo)
        return -(-n // m) * m

    return up(h), up(w)


def pose(prior, operator: Operator, y: Tensor, sigma_y: float) -> Problem:
    """The problem y = A x + n (y (B, ...) and sigma_y on [0, 1]) for `prior`: checked once,
    padded to a size the prior takes (module docstring), mapped to prior space, on its device."""
    check_image(y, "y")
    sigma_y = float(sigma_y)
    if not sigma_y >= 0:
        raise ValueError(f"sigma_y must be >= 0, got {sigma_y}")
    b, c, h, w = operator.x_shape_of(tuple(y.shape))
    hp, wp = padded_size(prior, h, w)
    top, left = (hp - h) // 2, (wp - w) // 2
    if (hp, wp) != (h, w):
        if isinstance(operator, Inpainting):  # exact and still an Inpainting: unobserved = mask 0
            pads = (left, wp - w - left, top, hp - h - top)
            operator = copy.copy(operator)
            operator.mask = F.pad(operator.mask, pads)
            y = F.pad(y, pads)
        else:
            operator = Padded(operator, (top, left, h, w), (hp, wp))
    y_p, sigma_p = to_prior_space(operator, y.to(prior.device), sigma_y)
    return Problem(operator, y_p, float(sigma_p), (b, c, hp, wp), (top, left, h, w))
