"""Prototype: grain placed in raster order, each patch matched on colour and on the band already
known under it (the observed ring, the patches placed before), as in image quilting (Efros &
Freeman, SIGGRAPH 2001), against restore.grain.add_grain's colour-only match.

    python -m lab.grain_quilt DATA_ROOT [--split val] [--images 8] [--variants base,quilt,...] [--cache DIR]

Per photo, one draw of the photo default's chain (as `lab.grain_settings`), then each variant:
`base` is restore.grain.add_grain (with amp=S its share), `quilt` this file's `quilt_grain`;
prints the mean hole PSNR, its margin over biharmonic, the low-pass margin, the texture ratio
(median, range), SWD x 1e3 and NIQE. Measured and not taken (benchmarks/notes/whole-photo.md,
"Grain: its share, and quilting"): L2 matching on the known band prefers low-energy patches, so
the quilted grain is a weaker grain, no better than add_grain's at the same texture ratio.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from restore.grain import GRAIN_PATCH, GRAIN_RING, GRAIN_STD, _window, band_and_sources, each_hole_box


def quilt_grain(x: Tensor, observed: Tensor, generator: torch.Generator, *, std=GRAIN_STD, patch=GRAIN_PATCH,
                ring=GRAIN_RING, candidates=64, keep=8, blend="var", amp=1.0) -> Tensor:
    return each_hole_box(x, observed.bool(), ring + patch + math.ceil(3 * std), lambda xw, ow, box: _quilt_box(
        xw, ow, box, generator, std, patch, ring, candidates, keep, blend, amp))


def _quilt_box(x, obs, box, generator, std, patch, ring, candidates, keep, blend, amp):
    C, H, W = x.shape
    top, left, bh, bw = box
    hole = ~obs
    at = (slice(None), slice(top, top + bh), slice(left, left + bw))
    xf = x.float()
    parts = band_and_sources(xf, obs, std, patch, ring)
    if parts is None:
        return x[at]
    band, src, describe = parts
    h2 = patch // 2

    offs, win = torch.arange(patch), _window(patch, xf.dtype)
    # known band: observed pixels (weight 1) and what the placed patches put down (their weight)
    known = obs.float().clone()
    est = torch.where(obs, band, torch.zeros_like(band))
    acc = torch.zeros_like(band)  # sum of w p on hole pixels
    wsum = torch.zeros(H, W)
    w2sum = torch.zeros(H, W)
    for i in range(top - h2, top + bh, h2):
        for j in range(left - h2, left + bw, h2):
            ci0, cj0 = min(max(i, 0), H - patch), min(max(j, 0), W - patch)
            pick = torch.randint(len(src), (candidates,), generator=generator)
            si, sj = src[pick, 0], src[pick, 1]
            want = describe(torch.tensor([ci0]), torch.tensor([cj0]))
            have = describe(si, sj)
            ec = ((have - want) ** 2).sum(-1)
            first = ec.argsort()[:keep]
            si, sj = si[first], sj[first]
            rows = si[:, None, None] + offs[None, :, None]
            cols = sj[:, None, None] + offs[None, None, :]
            cand = band[:, rows, cols]  # (C, K, P, P)
            ri, rj = slice(ci0, ci0 + patch), slice(cj0, cj0 + patch)
            kw = known[ri, rj].clamp(max=1)
            if float(kw.sum()) > 0:
                eo = ((cand - est[:, None, ri, rj]) ** 2 * kw).sum((0, 2, 3))
                b = int(eo.argmin())
            else:
                b = 0
            p = cand[:, b]
            # place at the unclipped position (i, j), the part inside the neighbourhood
            ii = torch.arange(i, i + patch)
            jj = torch.arange(j, j + patch)
            vi, vj = (ii >= 0) & (ii < H), (jj >= 0) & (jj < W)
            ii, jj = ii[vi], jj[vj]
            pw = (p * win)[:, vi][:, :, vj]
            ww = win[vi][:, vj]
            acc[:, ii[:, None], jj[None, :]] += pw
            wsum[ii[:, None], jj[None, :]] += ww
            w2sum[ii[:, None], jj[None, :]] += ww ** 2
            sel = hole[ii[:, None], jj[None, :]]
            cur = acc[:, ii[:, None], jj[None, :]] / wsum[ii[:, None], jj[None, :]].clamp(min=1e-6)
            e = est[:, ii[:, None], jj[None, :]]
            est[:, ii[:, None], jj[None, :]] = torch.where(sel, cur, e)
            k = known[ii[:, None], jj[None, :]]
            known[ii[:, None], jj[None, :]] = torch.where(sel, w2sum[ii[:, None], jj[None, :]].clamp(max=1), k)
    grain = acc if blend == "var" else acc / wsum.clamp(min=1e-6)
    grain = amp * grain[at]
    return torch.where(hole[at[1:]], (x[at] + grain.to(x.dtype)).clamp(0, 1), x[at])


def main(argv=None) -> None:
    from PIL import Image
    from skimage.restoration import inpaint_biharmonic

    import restore
    from restore.grain import add_grain

    from .grain_settings import table
    from .whole_photo import fill_mask, photos, scores

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_root", type=Path)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--variants", default="base,quilt",
                    help="comma-separated; base[/KEY=VALUE...]: add_grain (amp=S scales its grain), "
                         "quilt[/KEY=VALUE...]: quilt_grain (candidates, keep, blend=var|avg, amp, std, patch, ring)")
    ap.add_argument("--cache", type=Path, help="a folder keeping each photo's draw between runs")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    prior = None
    res: dict[str, list[dict]] = {}
    for f in photos(a.data_root, a.split)[: a.images]:
        x = np.asarray(Image.open(f).convert("RGB"))
        fill = fill_mask("holes", f.name, *x.shape[:2], None)
        cached = a.cache / f"{a.split}-{f.stem}.npz" if a.cache else None
        if cached and cached.exists():
            draw = np.load(cached)["draw"]
        else:  # one draw of the photo default's chain, no grain (as lab.grain_settings)
            prior = prior or restore.load_prior("natural", precision="bf16")
            draw = restore.inpaint(x, fill, prior=prior, seed=0, workers=1, method="ddrm", steps=7, strength=0.1,
                                   samples=1, look="faithful")
            if cached:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.savez(cached, draw=draw)
        x, start = x.astype(np.float64) / 255, draw.astype(np.float64) / 255
        res.setdefault("biharmonic", []).append(
            scores(x, inpaint_biharmonic(np.where(fill[..., None], 0, x), fill, channel_axis=-1), fill))
        res.setdefault("one draw", []).append(scores(x, start, fill))
        t, ob = torch.from_numpy(start).permute(2, 0, 1), torch.from_numpy(~fill)
        conv = {"candidates": int, "keep": int, "blend": str, "amp": float, "std": float, "patch": int, "ring": int}
        for v in a.variants.split(","):
            kind, *opts = v.split("/")
            kw = {k: conv[k](val) for k, val in (q.split("=") for q in opts)}
            g = torch.Generator().manual_seed(0)
            if kind == "base":
                amp = kw.pop("amp", 1.0)
                o = add_grain(t, ob, g, share=amp, **kw)
            else:
                o = quilt_grain(t, ob, g, **kw)
            res.setdefault(v, []).append(scores(x, o.permute(1, 2, 0).numpy(), fill))
        print(f.name, flush=True)
    table(res)


if __name__ == "__main__":
    main()
