"""The photo's grain: for a fill, the fine texture of the ring around each hole, laid over the
fill's own colour (`add_grain`); for a denoising, a share of the noise it removed (`keep_noise`).

A patch prior's fill of an object-sized hole is smooth, its draws too (benchmarks/RESULTS.md,
"Fills with the photo's grain"): the prior restores colour and shading but not the grass, sand or
stone grain around the hole. `add_grain` synthesises that band by non-parametric sampling from the
surroundings (Efros & Leung, ICCV 1999; patches overlapped and blended as in image quilting,
Efros & Freeman, SIGGRAPH 2001, with a window that keeps the grain's variance):

1. the image is split into its low-pass part (a Gaussian blur of `std` px) and the band b = x -
   low-pass;
2. every hole box is covered by `patch` x `patch` patches on a grid of stride patch/2; each takes
   the band of one fully observed patch within `ring` px of the holes, the best match of the
   fill's low-pass (2 x 2 block means of colour) among `candidates` drawn at random, so grass
   grain goes on grass-coloured fill and none of it on the sky;
3. the patches are overlapped with sqrt-Hann windows (their squares sum to 1 on the grid, so the
   blend of independent patches keeps the band's variance), scaled by `share` and added to the
   fill inside the holes. A share below 1 trades texture for PSNR: the grain is a plausible
   texture, not the one that was there, so its energy counts as error (`GRAIN_SHARE`, chosen on
   val: benchmarks/RESULTS.md).

Only the pixels to fill change; the low-pass part (colour and shading) of the fill is kept up to
the band's own low frequencies. All randomness through `generator`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .starts import hole_regions

__all__ = ["add_grain", "keep_noise", "GRAIN_STD", "GRAIN_PATCH", "GRAIN_RING", "GRAIN_SHARE"]

GRAIN_STD = 4.0  # px: the band-pass split
GRAIN_PATCH = 16  # px: the side of a copied patch (even)
GRAIN_RING = 48  # px: how far from a hole a source patch may lie
GRAIN_SHARE = 0.7  # the share of the ring's grain amplitude laid over the fill
CHUNK = 2048  # patches overlap-added at once


def _blur(x: Tensor, std: float) -> Tensor:
    """x (C, H, W) blurred by a Gaussian of `std` px, the border mirrored."""
    r = max(1, math.ceil(3 * std))
    u = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (u / std) ** 2)
    k = k / k.sum()
    c = x.shape[0]
    p = F.pad(x[None], (r, r, r, r), mode="reflect") if min(x.shape[-2:]) > r else F.pad(x[None], (r,) * 4, mode="replicate")
    p = F.conv2d(p, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(p, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)[0]


def _window(patch: int, dtype) -> Tensor:
    """The 2-D sqrt-Hann window: periodic Hann windows at stride patch/2 sum to 1, so the squares
    of these do, in each direction and on the grid."""
    w = torch.hann_window(patch, periodic=True, dtype=dtype).sqrt()
    return w[:, None] * w[None, :]


def add_grain(x: Tensor, observed: Tensor, generator: torch.Generator, *, std: float = GRAIN_STD,
              patch: int = GRAIN_PATCH, ring: int = GRAIN_RING, share: float = GRAIN_SHARE,
              candidates: int = 32) -> Tensor:
    """x (C, H, W) on [0, 1], a fill of the pixels where `observed` (H, W), True = observed, is
    False, with the band-pass grain of the ring around the holes added there (module docstring).
    Returns a new tensor; x itself where nothing is missing or nothing is observed. Each hole box
    is done in its own neighbourhood (the box and `ring` + `patch` px around it), so the time
    grows with the holes, not with the photo; a box with no fully observed patch within `ring` px
    is left as it is."""
    if patch < 4 or patch % 2:
        raise ValueError(f"patch must be an even number >= 4, got {patch}")
    if not share >= 0:
        raise ValueError(f"share must be >= 0, got {share}")
    obs = observed.bool()
    if bool(obs.all()) or not bool(obs.any()):
        return x
    return each_hole_box(x, obs, ring + patch + math.ceil(3 * std), lambda xw, ow, box: _grain_box(
        xw, ow, box, generator, std, patch, ring, share, candidates))


def each_hole_box(x: Tensor, obs: Tensor, reach: int, fill_box) -> Tensor:
    """A copy of x (C, H, W) whose every hole box (the holes where `obs` (H, W) is False,
    `hole_regions`) is fill_box(xw, ow, box): xw and ow the box's neighbourhood (`reach` px around
    it, clipped to the image) of x and obs, box (top, left, h, w) its place in them."""
    H, W = obs.shape
    out = x.clone()
    for top, left, bh, bw in hole_regions((~obs).cpu().numpy(), 0):
        t0, l0 = max(0, top - reach), max(0, left - reach)
        win = (slice(t0, min(H, top + bh + reach)), slice(l0, min(W, left + bw + reach)))
        out[:, top: top + bh, left: left + bw] = fill_box(x[(slice(None), *win)], obs[win], (top - t0, left - l0, bh, bw))
    return out


def band_and_sources(xf: Tensor, obs: Tensor, std: float, patch: int, ring: int):
    """(band, sources, describe) of a hole box's neighbourhood xf (C, H, W) float: the band above
    a Gaussian of `std` px, the source patches' top-left corners (`ring_sources`), and the match
    descriptor at top-left corners i, j (N,) each: the 2 x 2 block means of the low-pass colour,
    (N, 4C). None where no source patch lies within `ring` px of the holes."""
    low = _blur(xf, std)
    src = ring_sources(obs, patch, ring)
    if not len(src):
        return None
    h2 = patch // 2
    blocks = F.avg_pool2d(low[None], h2, stride=1)[0]

    def describe(i: Tensor, j: Tensor) -> Tensor:
        return torch.cat([blocks[:, i + a, j + b] for a in (0, h2) for b in (0, h2)], 0).T

    return xf - low, src, describe


def ring_sources(obs: Tensor, patch: int, ring: int) -> Tensor:
    """(N, 2): the top-left corners of the fully observed `patch` x `patch` patches of obs (H, W)
    whose centre lies within `ring` px of a hole."""
    H, W = obs.shape
    h2 = patch // 2
    o = obs[None, None].float()  # separable pools: a box's minimum and maximum are the rows' then the columns'
    full = F.avg_pool2d(F.avg_pool2d(o, (patch, 1), stride=1), (1, patch), stride=1)[0, 0] > 1 - 1e-4  # float32 sums
    near = F.max_pool2d(F.max_pool2d(1 - o, (2 * ring + 1, 1), stride=1, padding=(ring, 0)), (1, 2 * ring + 1),
                        stride=1, padding=(0, ring))[0, 0] > 0
    return torch.nonzero(full & near[h2: h2 + H - patch + 1, h2: h2 + W - patch + 1])


def _grain_box(x: Tensor, obs: Tensor, box: tuple, generator, std: float, patch: int, ring: int,
               share: float, candidates: int) -> Tensor:
    """The box (top, left, bh, bw) of x (C, h, w), its neighbourhood, with the grain added to its
    holes (add_grain)."""
    C, H, W = x.shape
    top, left, bh, bw = box
    hole = ~obs
    at = (slice(None), slice(top, top + bh), slice(left, left + bw))
    if H < patch or W < patch:
        return x[at]
    xf = x.float()  # the grain needs no float64: float32 is several times faster on a CPU
    parts = band_and_sources(xf, obs, std, patch, ring)
    if parts is None:
        return x[at]
    band, src, describe = parts
    h2 = patch // 2

    # destinations: a grid of stride h2 from half a patch before the box to half a patch after it,
    # every hole pixel under four windows; corners clipped into the image for the descriptor only
    di, dj = (v.reshape(-1) for v in torch.meshgrid(torch.arange(top - h2, top + bh, h2),
                                                     torch.arange(left - h2, left + bw, h2), indexing="ij"))
    pick = torch.randint(len(src), (len(di), candidates), generator=generator)
    ci, cj = src[pick, 0], src[pick, 1]  # (L, K)
    want = describe(di.clamp(0, H - patch), dj.clamp(0, W - patch))  # (L, 4C)
    have = describe(ci.reshape(-1), cj.reshape(-1)).reshape(len(di), candidates, -1)
    best = ((have - want[:, None]) ** 2).sum(-1).argmin(1)
    si, sj = ci[torch.arange(len(di)), best], cj[torch.arange(len(di)), best]
    # overlap-add the chosen band patches, windowed, on a canvas one patch wider than the box each
    # side, CHUNK patches at a time (a bounded buffer whatever the hole's size)
    offs, win = torch.arange(patch), _window(patch, xf.dtype)
    canvas = torch.zeros(C, bh + 2 * patch, bw + 2 * patch, dtype=xf.dtype)
    for k in range(0, len(di), CHUNK):
        part = slice(k, k + CHUNK)
        rows = (di[part] - (top - patch))[:, None, None] + offs[None, :, None]  # (L, P, 1)
        cols = (dj[part] - (left - patch))[:, None, None] + offs[None, None, :]  # (L, 1, P)
        patches = band[:, si[part, None, None] + offs[None, :, None], sj[part, None, None] + offs[None, None, :]]
        flat = (rows * canvas.shape[-1] + cols).expand(-1, patch, patch).reshape(-1)
        canvas.view(C, -1).index_add_(1, flat, (patches * win).reshape(C, -1))
    grain = share * canvas[:, patch: patch + bh, patch: patch + bw].to(x.dtype)
    return torch.where(hole[at[1:]], (x[at] + grain).clamp(0, 1), x[at])


def keep_noise(mean: Tensor, photo: Tensor, share: float) -> Tensor:
    """A denoising's natural look: the result `mean` (C, H, W) on [0, 1] plus `share` of the
    luminance (Rec. 601; a one-channel image's own) of the noise it removed, photo - mean, in every
    channel: the photo's grain without its colour noise, which film grain lacks (benchmarks/RESULTS.md,
    "Fills with the photo's grain; faithful or natural")."""
    d = photo.to(mean) - mean
    if d.shape[0] == 3:
        d = (0.299 * d[0] + 0.587 * d[1] + 0.114 * d[2]).expand_as(d)
    return (mean + share * d).clamp(0, 1)
