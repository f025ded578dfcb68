"""ADM, the UNet of guided-diffusion (Dhariwal & Nichol 2021), written for this project.

The module tree reproduces guided-diffusion's `UNetModel` state-dict layout (`time_embed.*`,
`input_blocks.*`, `middle_block.*`, `output_blocks.*`, `out.*`), so its published checkpoints
(`ffhq_10m.pt` of DPS/DiffPIR, `256x256_diffusion_uncond.pt`) load without renaming. Attention is
placed by level (level l works at 1/2**l of the input side) rather than by absolute resolution, so
the same weights also run on smaller inputs (e.g. 64x64; a side must be a multiple of
2**(levels - 1)).

The network and its configuration only; reading a checkpoint (`load_adm`, the configuration inferred
from a state dict's keys and shapes) is adm_checkpoint.py.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .unet import timestep_embedding

__all__ = ["ADMConfig", "ADMUNet", "ADM_PRESETS", "attention_levels"]


@dataclass(frozen=True)
class ADMConfig:
    """guided-diffusion's `UNetModel` hyper-parameters (unconditional, 2-D).

    `attn_levels` are level indices (0 = full resolution); guided-diffusion's
    `attention_resolutions` "32,16,8" at image size 256 is levels (3, 4, 5), see `attention_levels`.
    `num_head_channels` > 0 fixes the width of a head (heads = channels // it); otherwise
    `num_heads` heads are used. Neither can be read from a checkpoint's shapes.
    """

    in_channels: int = 3
    model_channels: int = 128
    out_channels: int = 6
    num_res_blocks: int = 1
    channel_mult: tuple[int, ...] = (1, 1, 2, 2, 4, 4)
    attn_levels: tuple[int, ...] = (4,)
    num_heads: int = 4
    num_head_channels: int = 64
    use_scale_shift_norm: bool = True
    resblock_updown: bool = True
    use_new_attention_order: bool = False
    dropout: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "channel_mult", tuple(int(m) for m in self.channel_mult))
        object.__setattr__(self, "attn_levels", tuple(sorted({int(a) for a in self.attn_levels})))
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError("in_channels and out_channels must be positive")
        if self.model_channels < 1 or not self.channel_mult or any(m < 1 for m in self.channel_mult):
            raise ValueError("model_channels and channel_mult must be positive")
        if any(self.model_channels * m % 32 for m in self.channel_mult):
            raise ValueError("every level's width must be a multiple of 32 (GroupNorm with 32 groups)")
        if self.num_res_blocks < 1:
            raise ValueError("num_res_blocks must be >= 1")
        if any(not 0 <= a < len(self.channel_mult) for a in self.attn_levels):
            raise ValueError(f"attn_levels must index levels 0..{len(self.channel_mult) - 1}")
        if self.num_head_channels <= 0 and self.num_heads < 1:
            raise ValueError("need num_head_channels > 0 or num_heads >= 1")

    @property
    def levels(self) -> int:
        return len(self.channel_mult)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** (self.levels - 1)

    @property
    def learn_sigma(self) -> bool:
        return self.out_channels == 2 * self.in_channels

    @property
    def channels(self) -> int:  # what DDPM reads as the image channel count
        return self.in_channels

    def heads(self, ch: int) -> int:
        if self.num_head_channels > 0:
            if ch % self.num_head_channels:
                raise ValueError(f"{ch} channels do not split into heads of {self.num_head_channels}")
            return ch // self.num_head_channels
        if ch % self.num_heads:
            raise ValueError(f"{ch} channels do not split into {self.num_heads} heads")
        return self.num_heads

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channel_mult"], d["attn_levels"] = list(self.channel_mult), list(self.attn_levels)
        return d


def attention_levels(attention_resolutions: str, image_size: int, levels: int) -> tuple[int, ...]:
    """guided-diffusion's `attention_resolutions` ("32,16,8") at `image_size` as level indices."""
    out = []
    for r in str(attention_resolutions).split(","):
        if r.strip():
            ds = image_size // int(r)
            lvl = int(math.log2(ds)) if ds >= 1 else -1
            if ds < 1 or 2**lvl != ds or lvl >= levels:
                raise ValueError(f"attention resolution {r} at image size {image_size} is no level of {levels}")
            out.append(lvl)
    return tuple(sorted(set(out)))


ADM_PRESETS: dict[str, ADMConfig] = {
    # ffhq_10m.pt (DPS, DiffPIR): guided-diffusion flags --num_channels 128 --num_res_blocks 1
    # --attention_resolutions 16 --num_head_channels 64 --learn_sigma --use_scale_shift_norm
    # --resblock_updown, image size 256
    "adm-ffhq256": ADMConfig(model_channels=128, num_res_blocks=1, attn_levels=attention_levels("16", 256, 6)),
    # 256x256_diffusion_uncond.pt (guided-diffusion ImageNet, unconditional)
    "adm-imagenet256": ADMConfig(model_channels=256, num_res_blocks=2,
                                 attn_levels=attention_levels("32,16,8", 256, 6)),
}


class GroupNorm32(nn.GroupNorm):
    """GroupNorm(32, C) computed in float32 whatever the activations' dtype (as guided-diffusion)."""

    def __init__(self, c: int):
        super().__init__(32, c)

    def forward(self, x: Tensor) -> Tensor:
        w = None if self.weight is None else self.weight.float()
        b = None if self.bias is None else self.bias.float()
        return F.group_norm(x.float(), self.num_groups, w, b, self.eps).to(x.dtype)


def _resample(x: Tensor, mode: str | None) -> Tensor:
    if mode == "up":
        return F.interpolate(x, scale_factor=2, mode="nearest")
    if mode == "down":
        return F.avg_pool2d(x, 2, 2)
    return x


class ResBlock(nn.Module):
    """in_layers (norm, SiLU, conv), emb_layers (SiLU, linear), out_layers (norm, SiLU, dropout, conv),
    skip_connection; `updown` resamples between the first norm and conv (guided-diffusion's order)."""

    def __init__(self, cin: int, cout: int, emb: int, cfg: ADMConfig, updown: str | None = None):
        super().__init__()
        self.updown, self.scale_shift = updown, cfg.use_scale_shift_norm
        self.in_layers = nn.Sequential(GroupNorm32(cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb, 2 * cout if self.scale_shift else cout))
        self.out_layers = nn.Sequential(GroupNorm32(cout), nn.SiLU(), nn.Dropout(cfg.dropout),
                                        nn.Conv2d(cout, cout, 3, padding=1))
        self.skip_connection = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)
        nn.init.zeros_(self.out_layers[-1].weight)
        nn.init.zeros_(self.out_layers[-1].bias)

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        if self.updown:
            h = _resample(self.in_layers[1](self.in_layers[0](x)), self.updown)
            h, x = self.in_layers[2](h), _resample(x, self.updown)
        else:
            h = self.in_layers(x)
        e = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[3](self.out_layers[2](self.out_layers[1](h)))
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Self-attention over positions: norm, qkv (1x1 Conv1d to 3C), heads, proj_out.

    Legacy order (QKVAttentionLegacy): the 3C qkv channels are (head, q|k|v, ch); the new order
    (QKVAttention) is (q|k|v, head, ch).
    """

    def __init__(self, c: int, heads: int, new_order: bool = False):
        super().__init__()
        self.heads, self.new_order = heads, new_order
        self.norm = GroupNorm32(c)
        self.qkv = nn.Conv1d(c, 3 * c, 1)
        self.proj_out = nn.Conv1d(c, c, 1)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, *spatial = x.shape
        x = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(x))
        n, ch, L = self.heads, c // self.heads, x.shape[-1]
        if self.new_order:
            q, k, v = (z.reshape(b * n, ch, L) for z in qkv.chunk(3, dim=1))
        else:
            q, k, v = qkv.reshape(b * n, 3 * ch, L).split(ch, dim=1)
        # softmax(q^T k / sqrt(ch)) v, as both QKVAttention variants compute it
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        h = self.proj_out(a.transpose(1, 2).reshape(b, c, L))
        return (x + h).reshape(b, c, *spatial)


class Downsample(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.op = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Block(nn.ModuleList):
    """guided-diffusion's TimestepEmbedSequential: layers in order, ResBlocks also get the embedding."""

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        for layer in self:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        return h


class ADMUNet(nn.Module):
    """eps (and, with learned sigma, the variance interpolation) from (x, t), t in 0..T-1."""

    def __init__(self, config: ADMConfig):
        super().__init__()
        self.config = cfg = config
        mc, emb = config.model_channels, 4 * config.model_channels
        self.time_embed = nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))
        ch = mc * cfg.channel_mult[0]
        self.input_blocks = nn.ModuleList([Block([nn.Conv2d(cfg.in_channels, ch, 3, padding=1)])])
        chans = [ch]
        for lvl, m in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers = [ResBlock(ch, mc * m, emb, cfg)]
                ch = mc * m
                if lvl in cfg.attn_levels:
                    layers.append(AttentionBlock(ch, cfg.heads(ch), cfg.use_new_attention_order))
                self.input_blocks.append(Block(layers))
                chans.append(ch)
            if lvl < cfg.levels - 1:
                down = ResBlock(ch, ch, emb, cfg, "down") if cfg.resblock_updown else Downsample(ch)
                self.input_blocks.append(Block([down]))
                chans.append(ch)
        self.middle_block = Block([ResBlock(ch, ch, emb, cfg),
                                   AttentionBlock(ch, cfg.heads(ch), cfg.use_new_attention_order),
                                   ResBlock(ch, ch, emb, cfg)])
        self.output_blocks = nn.ModuleList()
        for lvl, m in reversed(list(enumerate(cfg.channel_mult))):
            for i in range(cfg.num_res_blocks + 1):
                layers = [ResBlock(ch + chans.pop(), mc * m, emb, cfg)]
                ch = mc * m
                if lvl in cfg.attn_levels:
                    layers.append(AttentionBlock(ch, cfg.heads(ch), cfg.use_new_attention_order))
                if lvl > 0 and i == cfg.num_res_blocks:
                    layers.append(ResBlock(ch, ch, emb, cfg, "up") if cfg.resblock_updown else Upsample(ch))
                self.output_blocks.append(Block(layers))
        self.out = nn.Sequential(GroupNorm32(ch), nn.SiLU(), nn.Conv2d(ch, cfg.out_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """x: (B, C, H, W), sides multiples of 2**(levels - 1); t: time index 0..T-1, (B,) or scalar."""
        m = self.config.multiple
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not a multiple of {m} (2**(levels-1))")
        t = torch.as_tensor(t, device=x.device).reshape(-1).expand(x.shape[0])
        w = self.time_embed[0].weight
        emb = self.time_embed(timestep_embedding(t, self.config.model_channels).to(w.dtype))
        h, hs = x.to(w.dtype), []
        for blk in self.input_blocks:
            h = blk(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for blk in self.output_blocks:
            h = blk(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h).to(x.dtype)
