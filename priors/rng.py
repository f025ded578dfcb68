"""Random draws through an explicit torch.Generator only (library code never seeds globals)."""
from __future__ import annotations

import hashlib

import torch
from torch import Tensor

__all__ = ["randn", "key_generator"]


def randn(shape, generator: torch.Generator | None, *, device=None, dtype=torch.float32) -> Tensor:
    """N(0, I) drawn on the generator's device, then moved: the same seed gives the same numbers
    whether the model runs on CPU or CUDA (when the generator lives on the CPU)."""
    gdev = generator.device if generator is not None else device
    z = torch.randn(tuple(shape), generator=generator, device=gdev, dtype=dtype)
    return z.to(device) if device is not None else z


def key_generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded from a tuple of integers (e.g. run seed and global sample index):
    the draws for one training sample do not depend on batch size, process count or resumption."""
    h = hashlib.blake2b(repr(tuple(int(k) for k in keys)).encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(h, "little") & ((1 << 63) - 1))
