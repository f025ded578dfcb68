"""The `eval` command: a prior's held-out bound in bits/dim and its eps-MSE by bands of t."""
from __future__ import annotations

import json
import math

import torch
import torch.nn.functional as F

from .checkpoint import load_prior
from .data import center_crop, load_images
from .likelihood import bits_per_dim
from .train import resolve_device

__all__ = ["held_out", "evaluate", "format_report"]


def held_out(prior, data, *, subset=None, num: int | None = None, scale: float = 1.0) -> torch.Tensor:
    """The first `num` images of `data` (after `subset`) as central crops at the prior's size, on
    the 8-bit grid of [-1, 1] in float64: what held-out measures of a prior evaluate. scale < 1:
    each whole image is first area-downscaled by `scale` and rounded to 8 bits again (a photo saved
    at a smaller size), so the crop covers 1/scale times more of the scene."""
    images = load_images(data, prior.channels, subset)[:num]
    scale = float(scale)
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    if scale < 1:
        images = [torch.round(F.interpolate(im[None].double(), size=(max(1, round(im.shape[-2] * scale)),
                                                                      max(1, round(im.shape[-1] * scale))),
                                            mode="area")[0]).to(im.dtype) for im in images]
    size = prior.image_size
    small = [tuple(im.shape[-2:]) for im in images if min(im.shape[-2:]) < size]
    if small:
        raise ValueError(f"an evaluation image ({small[0][0]}x{small[0][1]}) is smaller than the prior's size {size}")
    return torch.stack([center_crop(im, size) for im in images]).double() / 127.5 - 1


def evaluate(checkpoint, data, *, subset=None, num=256, strata=50, variance="beta", batch=64, seed=0,
             device="auto", bands: int = 10, net_dtype: torch.dtype = torch.float32, scale: float = 1.0) -> dict:
    """Held-out bound in bits/dim (mean and standard error over images, which includes the
    Monte-Carlo error over t) and the eps-MSE in `bands` equal bands of t.

    The network runs in `net_dtype`; the images, the noise draws and the bound's arithmetic (the
    KL terms, the decoder's discretised likelihood, the sums) are float64 whatever it is (DDPM.eps
    casts the network's input and output). scale: the images' downscaling before the crop (held_out)."""
    prior = load_prior(checkpoint, device=resolve_device(device), dtype=net_dtype)
    x = held_out(prior, data, subset=subset, num=num, scale=scale)
    g = torch.Generator().manual_seed(seed)
    bpd, ts, mse = [], [], []
    for k in range(0, len(x), batch):
        r = bits_per_dim(prior, x[k:k + batch].to(prior.device), strata=strata, variance=variance, generator=g)
        bpd.append(r["bpd"]), ts.append(r["t"].reshape(-1)), mse.append(r["mse"].reshape(-1))
    bpd, ts, mse = torch.cat(bpd), torch.cat(ts), torch.cat(mse)
    T = len(prior.schedule)
    edges = torch.linspace(0, T, bands + 1).round().long()
    band = [{"t": f"{int(a) + 1}-{int(b)}", "eps_mse": float(mse[(ts > a) & (ts <= b)].mean())}
            for a, b in zip(edges[:-1], edges[1:]) if bool(((ts > a) & (ts <= b)).any())]
    se = float(bpd.std() / math.sqrt(len(bpd))) if len(bpd) > 1 else float("nan")
    return {"checkpoint": str(checkpoint), "images": len(bpd), "scale": float(scale), "strata": strata or T, "variance": variance,
            "bits_per_dim": float(bpd.mean()), "bits_per_dim_se": se, "eps_mse": float(mse.mean()),
            "eps_mse_bands": band, "train": prior.meta.get("train", {})}


def format_report(rep: dict, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(rep)
    at = f" downscaled x{rep['scale']:g}," if rep.get("scale", 1.0) != 1.0 else ""
    lines = [f"{rep['checkpoint']}: {rep['images']} images,{at} {rep['strata']} evaluations each, sigma^2 = {rep['variance']}",
             f"bound: {rep['bits_per_dim']:.4f} +- {rep['bits_per_dim_se']:.4f} bits/dim   eps-MSE: {rep['eps_mse']:.5f}",
             "t band      eps-MSE"]
    lines += [f"{b['t']:<11} {b['eps_mse']:.5f}" for b in rep["eps_mse_bands"]]
    return "\n".join(lines)
