"""Boundary padding as an index map, its exact adjoint, and 1-D convolution matrices.

A padding of a length-n axis by (before, after) is a map padded[i] = x[idx[i]] (idx[i] = n for a zero).
Its adjoint scatters back: xT[idx[i]] += padded[i] ("folds" the border onto the image).
Modes: "reflect" (mirror without repeating the edge: d c b | a b c d, as torch's "reflect"),
"replicate" (a a a | a b c d), "zeros". `extend_index` is the map itself, for any distance from
the axis and also "wrap"; the tiles of a patch prior (restore.priors.tiling) use it too.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

PAD_MODES = ("reflect", "replicate", "zeros")


def extend_index(n: int, start: int, length: int, mode: str) -> Tensor:
    """Source index of positions start .. start + length - 1 of a length-n axis extended beyond
    both ends by `mode` (n stands for a zero): "reflect" (periodic, so any distance: a length-1
    axis repeats its value), "replicate", "wrap" (the axis as a circle) or "zeros"."""
    i = torch.arange(start, start + length)
    if mode == "reflect":
        if n == 1:
            return torch.zeros_like(i)
        period = 2 * (n - 1)
        i = i % period
        return torch.where(i > n - 1, period - i, i)
    if mode == "replicate":
        return i.clamp(0, n - 1)
    if mode == "wrap":
        return i % n
    if mode == "zeros":
        return torch.where((i < 0) | (i > n - 1), torch.full_like(i, n), i)
    raise ValueError(f"unknown extension {mode!r}")


def pad_index(n: int, before: int, after: int, mode: str) -> Tensor:
    """Source index of each padded position of a length-n axis (n stands for a zero)."""
    if mode not in PAD_MODES:
        raise ValueError(f"padding must be one of {PAD_MODES}, got {mode!r}")
    if mode == "reflect" and max(before, after) > n - 1:
        raise ValueError(f"reflect padding by {max(before, after)} needs an axis longer than that, got {n}")
    return extend_index(n, -before, n + before + after, mode)


def pad(x: Tensor, idx_h: Tensor, idx_w: Tensor) -> Tensor:
    """Pad x (B, C, H, W) along H and W with the index maps of `pad_index`."""
    x = torch.nn.functional.pad(x, (0, 1, 0, 1))  # the zero at index H and W
    x = x.index_select(-2, idx_h.to(x.device))
    return x.index_select(-1, idx_w.to(x.device))


def pad_adjoint(z: Tensor, idx_h: Tensor, idx_w: Tensor, h: int, w: int) -> Tensor:
    """Exact adjoint of `pad`: fold the padded z back onto an (h, w) image."""
    b, c = z.shape[:2]
    t = z.new_zeros(b, c, z.shape[-2], w + 1).index_add_(-1, idx_w.to(z.device), z)
    x = z.new_zeros(b, c, h + 1, w + 1).index_add_(-2, idx_h.to(z.device), t)
    return x[..., :h, :w]


def conv_matrix(taps: Tensor, n: int, centre: int, mode: str) -> Tensor:
    """Matrix M (n x n) of the 1-D convolution y[i] = sum_t taps[t] x[i + centre - t], padded by mode."""
    k = taps.numel()
    before, after = k - 1 - centre, centre
    idx = pad_index(n, before, after, mode)
    flipped = taps.flip(0).to(torch.float64)
    M = torch.zeros(n, n + 1, dtype=torch.float64)
    rows = torch.arange(n)
    for u in range(k):
        M.index_put_((rows, idx[rows + u]), flipped[u].expand(n), accumulate=True)
    return M[:, :n]


def periodic_pad(y: Tensor, pad: int) -> Tensor:
    """y (..., H, W) extended by `pad` pixels at the bottom and right so that it is smoothly
    periodic: each added row (column) blends the last row into the first with a raised cosine."""
    if pad <= 0:
        return y
    w = 0.5 - 0.5 * torch.cos(torch.linspace(0, math.pi, pad + 2, dtype=y.dtype, device=y.device)[1:-1])
    rows = (1 - w)[:, None] * y[..., -1:, :] + w[:, None] * y[..., :1, :]
    y = torch.cat([y, rows], -2)
    cols = (1 - w)[None, :] * y[..., :, -1:] + w[None, :] * y[..., :, :1]
    return torch.cat([y, cols], -1)
