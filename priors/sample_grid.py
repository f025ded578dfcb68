"""The `sample` command: a grid of unconditional draws (DDIM or ancestral) from a prior's checkpoint."""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import load_prior
from .sampling import ancestral_sample, ddim_sample
from .train import resolve_device

__all__ = ["sample_grid", "parse_variance"]


def parse_variance(v):
    if v in ("beta", "beta_tilde"):
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"variance must be beta, beta_tilde or a number in [0, 1], got {v!r}") from None


def sample_grid(checkpoint, out, *, num=16, steps=50, sampler="ddim", eta=0.0, variance="beta", size=None,
                seed=0, device="auto") -> Path:
    from restore.io import MAX_PIXELS, save_grid

    out = Path(out)
    if num < 1:
        raise ValueError("--num must be at least 1")
    prior = load_prior(checkpoint, device=resolve_device(device))
    size = size or prior.image_size
    if size < 1 or size % prior.net.config.multiple:
        raise ValueError(f"--size must be a positive multiple of {prior.net.config.multiple}")
    if num * size * size > MAX_PIXELS:  # drawn as one batch
        raise ValueError(f"{num} samples of {size}x{size} are {num * size * size} pixels, more than the limit of {MAX_PIXELS}")
    if not 1 <= steps <= len(prior.schedule):
        raise ValueError(f"--steps must be in 1..{len(prior.schedule)}")
    g = torch.Generator().manual_seed(seed)
    shape = (num, prior.channels, size, size)
    if sampler == "ddim":
        x = ddim_sample(prior, shape, steps=steps, eta=eta, generator=g)
    else:
        x = ancestral_sample(prior, shape, steps=steps, variance=parse_variance(variance), generator=g)
    return save_grid(out, (x + 1) / 2)
