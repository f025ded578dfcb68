"""Cost of one eps evaluation plus its vector-Jacobian product (a DPS / Pi-GDM step) through a tiled
prior, with the tile activations kept or recomputed in the backward pass (`TiledPrior(keep=...)`).

    python -m lab.tile_grad [--prior natural] [--size 128] [--draws 1,4,8] [--threads 1]

For each number of draws (images in the batch) and each of keep = 0 (always recompute) and the
default, prints the tiles per call, the best of 3 timed calls after a warm-up and the peak RSS
above the start of the call (`metrics.PeakRSS`) as a markdown table.
"""
from __future__ import annotations

import argparse
import time

import torch

from restore.priors import load_prior
from restore.priors.tiling import TiledPrior

from restore.benchmarks.metrics import PeakRSS


def measure(prior, size: int, draws: int, keep: int, repeats: int = 3) -> dict:
    tp = TiledPrior(prior, keep=keep, generator=torch.Generator().manual_seed(0))
    x = torch.randn(draws, prior.channels, size, size, generator=torch.Generator().manual_seed(1),
                    device=prior.device, dtype=prior.dtype).requires_grad_(True)
    offset = (tp.core // 2, tp.core // 2)

    def call():
        e = tp.eps(x, 500, offset=offset)
        return torch.autograd.grad(e.pow(2).sum(), x)[0]

    call()  # warm-up
    best, mb = float("inf"), 0.0
    for _ in range(repeats):
        with PeakRSS(prior.device) as mem:
            t0 = time.perf_counter()
            call()
            best = min(best, time.perf_counter() - t0)
        mb = max(mb, mem.mb)
    ny, nx = tp.tiles_for(size, size, offset)
    return {"draws": draws, "tiles": draws * ny * nx, "keep": keep, "seconds": best, "peak_mb": mb}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default="natural")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--draws", default="1,4,8")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    prior = load_prior(a.prior)
    default_keep = TiledPrior(prior).keep
    print(f"prior {a.prior}, {a.size}x{a.size} px, {a.threads} thread(s)\n")
    print("| draws | tiles | keep | eps + VJP (s) | peak MB |\n|---|---|---|---|---|")
    for d in (int(v) for v in a.draws.split(",")):
        for keep in (0, default_keep):
            r = measure(prior, a.size, d, keep)
            print(f"| {r['draws']} | {r['tiles']} | {r['keep']} | {r['seconds']:.2f} | {r['peak_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
