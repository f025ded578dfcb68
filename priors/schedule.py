"""Noise schedules of the DDPM forward chain (seed eqs. 8-12) and their respacing.

Time convention: the seed counts t = 1..T. A `Schedule` of K steps stores, for its step
k = 1..K (array position k - 1), the *original* time index `t[k - 1]` in 1..T; the network is
always fed `t - 1` in 0..T-1 (as guided-diffusion and diffusers do), so a respaced schedule
still feeds the original index and pretrained networks work unchanged.

A reverse chain walks a schedule backwards: `for i, t, abar, abar_prev in schedule.steps():` (a
`Step` per position i = K-1 .. 0, the last one with abar_prev = 1: the image).

Also here, as the rules every user of a schedule shares: `time_index` (the check of t against
1..T), `gather` (schedule values broadcast against a batch) and `reverse_variance` (sigma_t^2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

import torch
from torch import Tensor

__all__ = ["Schedule", "Step", "linear_schedule", "cosine_schedule", "make_schedule", "time_index", "gather",
           "reverse_variance"]

_compiling = getattr(torch.compiler, "is_compiling", lambda: False)  # torch >= 2.3


def _f64(x) -> Tensor:
    t = torch.as_tensor(x, dtype=torch.float64).clone()
    t.requires_grad_(False)
    return t


class Step(NamedTuple):
    """One step of a reverse chain, from level i + 1 to level i: position i of the schedule, its
    original time index t (1..T, what the network is told), abar_t = abar[i] and abar_{t-1} =
    abar_prev[i] (1 at i = 0, the step that ends on the image), as Python floats."""

    i: int
    t: int
    abar: float
    abar_prev: float


@dataclass(frozen=True, eq=False)
class Schedule:
    """K steps of a (possibly respaced) schedule; float64 tensors derived from `abar`.

    `abar[k-1]` is abar at step k; `t[k-1]` the original time index (1..T) of step k.
    Everything else (beta, alpha, beta_tilde) is derived here, once.
    """

    abar: Tensor
    t: Tensor
    kind: str = "linear"
    T: int = field(default=0)
    betas: Tensor = field(init=False, repr=False)
    alphas: Tensor = field(init=False, repr=False)
    abar_prev: Tensor = field(init=False, repr=False)
    beta_tilde: Tensor = field(init=False, repr=False)

    def __post_init__(self):
        abar = _f64(self.abar)
        if abar.ndim != 1 or len(abar) == 0:
            raise ValueError("abar must be a non-empty 1-D sequence")
        if not bool(((abar > 0) & (abar < 1)).all()) or not bool((abar[1:] < abar[:-1]).all()):
            raise ValueError("abar must decrease strictly inside (0, 1)")
        t = torch.as_tensor(self.t, dtype=torch.int64).clone()
        if t.shape != abar.shape:
            raise ValueError("t and abar must have the same length")
        abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
        alphas = abar / abar_prev  # Eq. (8) of the seed, inverted: abar_t = prod alpha_s
        betas = 1 - alphas
        # Posterior variance of q(x_{t-1} | x_t, x_0): beta_tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t
        beta_tilde = (1 - abar_prev) / (1 - abar) * betas
        set_ = object.__setattr__
        set_(self, "abar", abar)
        set_(self, "t", t)
        set_(self, "T", int(self.T or int(t.max())))
        set_(self, "betas", betas)
        set_(self, "alphas", alphas)
        set_(self, "abar_prev", abar_prev)
        set_(self, "beta_tilde", beta_tilde)

    def __len__(self) -> int:
        return len(self.abar)

    def step(self, i: int) -> Step:
        """The `Step` at position i (a chain that jumps between levels: time travel)."""
        return Step(i, int(self.t[i]), float(self.abar[i]), float(self.abar_prev[i]))

    def steps(self) -> Iterator[Step]:
        """The steps of a reverse chain over this schedule, from its noisiest (i = K - 1; a warm
        chain's schedule, `upto(t0)`, starts there at t0) down to i = 0 (abar_prev = 1)."""
        for i in reversed(range(len(self))):
            yield self.step(i)

    @classmethod
    def from_betas(cls, betas, kind: str = "custom") -> "Schedule":
        betas = _f64(betas)
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError("betas must lie in (0, 1)")
        return cls(torch.cumprod(1 - betas, 0), torch.arange(1, len(betas) + 1), kind, len(betas))

    def respace(self, steps: int, spacing: str = "uniform") -> "Schedule":
        """A `steps`-long subsequence of this schedule, its betas re-derived from abar.

        `uniform` takes evenly spaced steps, `quadratic` denser steps near t = 1 (DDIM's
        choices). The last step is always the schedule's last, the first always t = 1.
        """
        n = len(self)
        if not 1 <= steps <= n:
            raise ValueError(f"steps must be in 1..{n}, got {steps}")
        if spacing == "uniform":
            pos = torch.linspace(0, n - 1, steps, dtype=torch.float64)
        elif spacing == "quadratic":
            pos = torch.linspace(0, math.sqrt(n - 1), steps, dtype=torch.float64) ** 2
        else:
            raise ValueError(f"unknown spacing {spacing!r}: use 'uniform' or 'quadratic'")
        idx = pos.round().long() if steps > 1 else torch.tensor([n - 1])
        # rounding may repeat an index for dense quadratic spacings: keep them strictly increasing
        for i in range(1, steps):
            if idx[i] <= idx[i - 1]:
                idx[i] = idx[i - 1] + 1
        if int(idx[-1]) > n - 1:
            raise ValueError(f"cannot place {steps} {spacing} steps in {n}")
        return Schedule(self.abar[idx], self.t[idx], self.kind, self.T)

    def upto(self, t0: int) -> "Schedule":
        """The first steps of this schedule, those with t <= t0 (a chain that starts at t0 instead
        of T: a warm start, SDEdit / Come-Closer-Diffuse-Faster); t0 >= T is the whole schedule."""
        t0 = int(t0)
        if t0 < int(self.t[0]):
            raise ValueError(f"t0 must be at least {int(self.t[0])}, got {t0}")
        n = int((self.t <= t0).sum())
        return self if n == len(self) else Schedule(self.abar[:n], self.t[:n], self.kind, self.T)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "T": self.T, "t": self.t.tolist(), "abar": self.abar.tolist()}


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:
    """DDPM's linear betas (Ho et al. 2020), scaled to T steps as improved-DDPM does for T != 1000."""
    scale = 1000 / T
    return Schedule.from_betas(torch.linspace(beta_start * scale, beta_end * scale, T), "linear")


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """Nichol & Dhariwal 2021, eq. 17: abar(t) = cos^2(((t/T + s)/(1 + s)) pi/2), betas capped."""
    f = lambda u: math.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2
    betas = [min(1 - f(i + 1) / f(i), max_beta) for i in range(T)]
    return Schedule.from_betas(betas, "cosine")


def make_schedule(kind: str = "linear", T: int = 1000) -> Schedule:
    if kind == "linear":
        return linear_schedule(T)
    if kind == "cosine":
        return cosine_schedule(T)
    raise ValueError(f"unknown schedule {kind!r}: use 'linear' or 'cosine'")


def time_index(t, x: Tensor, T: int) -> Tensor:
    """t (an int, or one index per image of the batch x) as a long tensor (B,) on x's device.
    ValueError when t is outside 1..T or has another count than x's batch."""
    t = torch.as_tensor(t, dtype=torch.long, device=x.device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(x.shape[0])
    if t.numel() != x.shape[0]:
        raise ValueError(f"t has {t.numel()} entries for a batch of {x.shape[0]}")
    # checked eagerly (under torch.compile the data-dependent test would break the graph)
    if not _compiling() and (bool((t < 1).any()) or bool((t > T).any())):
        raise ValueError(f"t must be in 1..{T}")
    return t


def gather(a: Tensor, idx, x: Tensor) -> Tensor:
    """a[idx] (float64 schedule values) as x's dtype/device, broadcastable against x (B, ...)."""
    idx = torch.as_tensor(idx, device=a.device).reshape(-1)
    v = a[idx].to(device=x.device, dtype=x.dtype)
    return v.reshape(-1, *([1] * (x.ndim - 1)))


def reverse_variance(s: Schedule, variance="beta", *, clip_first: bool = False) -> Tensor:
    """sigma_t^2 of seed eq. 16: 'beta' (beta_t), 'beta_tilde' (posterior variance), or a float v
    in [0, 1] interpolating in log space, exp(v log beta_t + (1 - v) log beta_tilde_t).

    beta_tilde_1 = 0; with clip_first it is replaced by beta_tilde_2, as guided-diffusion does
    (needed wherever log sigma_1^2 is taken: the bound, the interpolation)."""
    bt = s.beta_tilde
    if clip_first or not isinstance(variance, str):
        bt = torch.cat([bt[1:2] if len(bt) > 1 else s.betas[:1], bt[1:]])
    if variance == "beta":
        return s.betas
    if variance == "beta_tilde":
        return bt
    if isinstance(variance, str):
        raise ValueError(f"unknown variance {variance!r}: 'beta', 'beta_tilde' or a number in [0, 1]")
    v = float(variance)
    if not 0 <= v <= 1:
        raise ValueError("the variance interpolation must be in [0, 1]")
    return torch.exp(v * s.betas.log() + (1 - v) * bt.log())
