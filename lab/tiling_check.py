"""A large photo through the real restoration path with a patch prior (restore.denoise, which
evaluates a prior on images larger than its training size by restore.priors.tiling.TiledPrior),
using a tiny random network so that only the tiling, the solver and the memory are measured:
peak resident memory, time, and whether tile boundaries leave seams.

    python -m lab.tiling_check [--width 4000] [--height 3000] [--steps 2] [--tile 64]

prints one JSON object. Seams: for every eps call the tile grid's offset is recorded; a line
between rows r-1 and r is a tile boundary when some call had a core edge there. The gradient
energy of a line is the mean squared difference across it (over columns and channels).
`seam_ratio` = mean energy of boundary lines / mean energy of the other lines, per axis, and
`seam_p` the one-sided permutation p-value: the fraction of 2000 random sets of as many lines
(from all lines) whose mean energy is at least the boundary lines' (small = seams). A positive
control adds alternating steps at the boundary lines of the same result, of a height whose square
is `--control-excess` (default 1%) of the median line energy, and reports the same statistic: it
shows the smallest seam the test is known to see.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from restore.priors import DDPM, UNet, UNetConfig, linear_schedule
from restore.priors.tiling import TiledPrior

from .large_photo import astronaut


def line_energy(x: torch.Tensor, axis: int) -> torch.Tensor:
    """Mean squared difference across each line between index r-1 and r (r = 1..n-1) along axis 1 (rows) or 2."""
    d = x.diff(dim=axis).pow(2)
    return d.mean((0, 2)) if axis == 1 else d.mean((0, 1))


def boundary_lines(n: int, offsets: list[int], core: int) -> torch.Tensor:
    """Mask over r = 1..n-1: True where a tile core edge lay between r-1 and r in some call."""
    r = torch.arange(1, n)
    mask = torch.zeros(n - 1, dtype=torch.bool)
    for o in set(offsets):
        mask |= (r + o) % core == 0
    return mask


def seam_statistic(energy: torch.Tensor, boundary: torch.Tensor, generator: torch.Generator,
                   draws: int = 2000) -> tuple[float, float]:
    """(ratio, one-sided permutation p-value) of the boundary lines' mean energy against the rest."""
    k = int(boundary.sum())
    observed = float(energy[boundary].mean())
    ratio = observed / float(energy[~boundary].mean())
    null = torch.stack([energy[torch.randperm(len(energy), generator=generator)[:k]].mean() for _ in range(draws)])
    return ratio, float((null >= observed).double().mean())


def tiny_prior(tile: int, seed: int = 0) -> DDPM:
    """A random UNet (width 8, levels (1, 2)) trained on nothing: a patch prior of side `tile`."""
    g = torch.Generator().manual_seed(seed)
    net = UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return DDPM(net.eval().requires_grad_(False), linear_schedule(), image_size=tile, channels=3)


def photo(width: int, height: int, sigma: float, seed: int) -> np.ndarray:
    """The astronaut at width x height plus Gaussian noise of std sigma (on [0, 1]), uint8."""
    clean = astronaut(width, height).astype(np.float32)
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(clean.shape, generator=g, dtype=torch.float32).numpy() * (255 * sigma)
    return np.clip(np.round(clean + noise), 0, 255).astype(np.uint8)


def run(width: int, height: int, steps: int, tile: int, sigma: float, control_excess: float, seed: int) -> dict:
    import restore
    from restore.priors.parallel import default_workers

    y = photo(width, height, sigma, seed)
    prior = tiny_prior(tile, seed)
    offsets: list[tuple[int, int]] = []
    real = TiledPrior.offsets

    def recorded(self):
        o = real(self)
        offsets.append(o)
        return o

    TiledPrior.offsets = recorded
    try:
        t0 = time.perf_counter()
        out = restore.denoise(y, prior=prior, steps=steps, sigma_y=sigma, method="ddrm", strength=1.0, samples=1,
                              seed=seed, workers=default_workers("cpu"))  # one chain from noise (the tiling's check,
        # whatever the defaults), its tiles in the command line's worker processes (every core)
        seconds = time.perf_counter() - t0
    finally:
        TiledPrior.offsets = real
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # ru_maxrss is in kB on Linux
    core = tile  # TiledPrior's default overlap is 0: the core is the tile
    x = torch.from_numpy(out.astype(np.float64) / 255).permute(2, 0, 1)
    g = torch.Generator().manual_seed(seed)
    res = {"width": width, "height": height, "megapixels": width * height / 1e6, "steps": steps, "tile": tile,
           "eps_calls": len(offsets), "seconds": round(seconds, 1), "peak_rss_gb": round(peak_gb, 3)}
    for axis, name, idx in ((1, "rows", 0), (2, "cols", 1)):
        bnd = boundary_lines(x.shape[axis], [o[idx] for o in offsets], core)
        e = line_energy(x, axis)
        ratio, p = seam_statistic(e, bnd, g)
        # positive control: alternating up/down steps of height hc at the boundary lines of this result
        hc = float(control_excess * e.median()) ** 0.5
        level = (torch.cat([torch.zeros(1, dtype=torch.long), bnd.long().cumsum(0)]) % 2).double() * hc
        xc = x + (level.view(1, -1, 1) if axis == 1 else level.view(1, 1, -1))
        c_ratio, c_p = seam_statistic(line_energy(xc, axis), bnd, g)
        res[name] = {"boundary_lines": int(bnd.sum()), "seam_ratio": round(ratio, 4), "seam_p": round(p, 4),
                     "control_step_255": round(hc * 255, 3), "control_seam_ratio": round(c_ratio, 4),
                     "control_seam_p": round(c_p, 4)}
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--tile", type=int, default=32, help="the random prior's training size (its tile side)")
    ap.add_argument("--sigma", type=float, default=0.05, help="noise of the photo, on [0, 1]")
    ap.add_argument("--control-excess", type=float, default=0.01,
                    help="positive control: squared step height as a fraction of the median line energy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(json.dumps(run(a.width, a.height, a.steps, a.tile, a.sigma, a.control_excess, a.seed)))


if __name__ == "__main__":
    main()
