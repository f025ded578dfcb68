"""The eps-network: a DDPM-style UNet (Ho et al. 2020, appendix B), fully convolutional.

Sinusoidal time embedding, residual blocks with GroupNorm and SiLU, optional self-attention at
chosen levels (level 0 = full resolution), configurable width, depth and channel multipliers,
dropout, 1 or 3 image channels. An input side must be a multiple of 2**(levels - 1).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["UNetConfig", "UNet", "timestep_embedding"]


@dataclass(frozen=True)
class UNetConfig:
    channels: int = 3
    width: int = 64
    mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 2
    attn_levels: tuple[int, ...] = ()
    dropout: float = 0.0
    heads: int = 1
    norm_groups: int | None = None  # GroupNorm groups in every layer; None: _groups' per-count rule

    def __post_init__(self):
        object.__setattr__(self, "mults", tuple(int(m) for m in self.mults))
        object.__setattr__(self, "attn_levels", tuple(int(a) for a in self.attn_levels))
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.width < 8 or self.width % 8:
            raise ValueError(f"width must be a positive multiple of 8 (GroupNorm), got {self.width}")
        if not self.mults or any(m < 1 for m in self.mults) or len(self.mults) > 8:
            raise ValueError(f"mults must be 1 to 8 positive integers, got {self.mults}")
        if not 1 <= self.num_res_blocks <= 8:
            raise ValueError(f"num_res_blocks must be in 1..8, got {self.num_res_blocks}")
        if any(not 0 <= a < len(self.mults) for a in self.attn_levels):
            raise ValueError(f"attn_levels must index levels 0..{len(self.mults) - 1}")
        if not 0 <= self.dropout < 1:
            raise ValueError("dropout must be in [0, 1)")
        if self.width * max(self.mults) > 4096:
            raise ValueError("network too wide (width * max(mults) > 4096)")
        if self.norm_groups is not None and (self.norm_groups < 1 or self.width % self.norm_groups):
            raise ValueError(f"norm_groups must divide the width {self.width}, got {self.norm_groups}")

    @property
    def levels(self) -> int:
        return len(self.mults)

    @property
    def multiple(self) -> int:
        """Image sides must be multiples of this."""
        return 2 ** (self.levels - 1)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mults"], d["attn_levels"] = list(self.mults), list(self.attn_levels)
        if d["norm_groups"] is None:  # files of the default rule stay as they were
            del d["norm_groups"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown UNet config fields: {sorted(unknown)}")
        return cls(**d)


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Transformer sinusoidal embedding of the network time index t (0..T-1), as in DDPM."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def _groups(c: int) -> int:
    """GroupNorm groups for c channels: 32 where c allows, else c // 4 (up to 32) where that divides
    c, else the largest divisor of c up to 32 (e.g. width 48's 144-channel concatenations). Saved
    networks depend on this choice (it is not in the weights): only extend it.

    At width 32 this is one channel per group in the last layers, so the output head's norm removes
    every channel's spatial mean and the network can hardly pass the noise's mean (an image's
    colour) at large t; `UNetConfig.norm_groups` (e.g. 8: 4 to 16 channels a group, as DDPM's 32
    groups at width 128) avoids it."""
    g = 32 if c % 32 == 0 else min(32, c // 4)
    return g if c % g == 0 else max(d for d in range(1, 33) if c % d == 0)


def _norm(c: int, groups: int | None = None) -> nn.GroupNorm:
    return nn.GroupNorm(groups or _groups(c), c)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int, dropout: float, groups: int | None = None):
        super().__init__()
        self.norm1, self.conv1 = _norm(cin, groups), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.norm2, self.conv2 = _norm(cout, groups), nn.Conv2d(cout, cout, 3, padding=1)
        self.dropout = dropout
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = F.silu(self.norm2(h))
        if self.training and self.dropout > 0:
            h = F.dropout(h, self.dropout, training=True)
        return self.skip(x) + self.conv2(h)


class Attention(nn.Module):
    def __init__(self, c: int, heads: int, groups: int | None = None):
        super().__init__()
        if c % heads:
            raise ValueError(f"{c} channels do not split into {heads} heads")
        self.norm, self.heads = _norm(c, groups), heads
        self.qkv, self.out = nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        o = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.out(o.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """eps_theta(x_t, t - 1): same shape in and out."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = cfg = config
        w, emb, g = cfg.width, cfg.width * 4, cfg.norm_groups
        self.time = nn.Sequential(nn.Linear(w, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inp = nn.Conv2d(cfg.channels, w, 3, padding=1)
        self.down, chans, c = nn.ModuleList(), [w], w
        for lvl, m in enumerate(cfg.mults):
            for _ in range(cfg.num_res_blocks):
                blk = nn.ModuleList([ResBlock(c, w * m, emb, cfg.dropout, g)])
                c = w * m
                if lvl in cfg.attn_levels:
                    blk.append(Attention(c, cfg.heads, g))
                self.down.append(blk)
                chans.append(c)
            if lvl < cfg.levels - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(c, c, 3, stride=2, padding=1)]))
                chans.append(c)
        self.mid = nn.ModuleList([ResBlock(c, c, emb, cfg.dropout, g), Attention(c, cfg.heads, g),
                                  ResBlock(c, c, emb, cfg.dropout, g)])
        self.up = nn.ModuleList()
        for lvl, m in reversed(list(enumerate(cfg.mults))):
            for i in range(cfg.num_res_blocks + 1):
                blk = nn.ModuleList([ResBlock(c + chans.pop(), w * m, emb, cfg.dropout, g)])
                c = w * m
                if lvl in cfg.attn_levels:
                    blk.append(Attention(c, cfg.heads, g))
                if lvl > 0 and i == cfg.num_res_blocks:
                    blk.append(nn.Upsample(scale_factor=2, mode="nearest"))
                    blk.append(nn.Conv2d(c, c, 3, padding=1))
                self.up.append(blk)
        self.out = nn.Sequential(_norm(c, g), nn.SiLU(), nn.Conv2d(c, cfg.channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    @staticmethod
    def _run(blk: nn.ModuleList, h: Tensor, emb: Tensor) -> Tensor:
        for layer in blk:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        return h

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """x: (B, C, H, W); t: network time index in 0..T-1, shape (B,) or scalar."""
        m = self.config.multiple
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not a multiple of {m} (2**(levels-1))")
        t = torch.as_tensor(t, device=x.device).reshape(-1).expand(x.shape[0])
        emb = self.time(timestep_embedding(t, self.config.width).to(x.dtype))
        h = self.inp(x)
        hs = [h]
        for blk in self.down:
            h = self._run(blk, h, emb)
            hs.append(h)
        h = self._run(self.mid, h, emb)
        for blk in self.up:
            h = self._run(blk, torch.cat([h, hs.pop()], 1), emb)
        return self.out(h)
