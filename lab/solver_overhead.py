"""Solver overhead: wall time of a solver over NFE x the time of one eps evaluation on the same
batch, size (and tiles), with the data step (the operator's A, AT, A_pinv and SVD pieces) timed
separately.

    python -m lab.solver_overhead [--threads 1] [--steps 20] [--size 64] [--batch 1]
                                                 [--repeats 3] [--tile 0] [--device cpu]

Setting (the issue's): a 64 x 64 RGB image, a UNet of width 32, mults (1, 2, 2, 2) with random
weights (speed does not depend on them), 20 steps, three tasks: inpainting (random mask, half
missing), Gaussian blur (reflect, 9 x 9, std 2: separable, so an SVD) and 4x bicubic
super-resolution. DDNM and RePaint run noiseless (they are noiseless methods), the others with
sigma_y = 0.025; RePaint with its defaults (jump 10, resample 10: 110 NFE for 20 steps).

Columns, all in units of one eps evaluation (`prior.eps` under no_grad, best of `repeats`):
- NFE: network evaluations (callbacks); DPS and PiGDM also take one vector-Jacobian product each.
- total: wall / (NFE t_eps) of the solver with the real network.
- data: the time spent inside the operator's methods (outermost calls only, measured by a
  timing subclass of the operator; the backward of A inside DPS's gradient is not included),
  / (NFE t_eps).
- excl. data: total - data. Targets: <= 1.05 for the gradient-free solvers, <= 2.5 for DPS
  (and PiGDM, which also takes a vector-Jacobian product).
- stub: 1 + (wall - data time) / (NFE t_eps) of the same solver run with a network that costs
  nothing (eps = 0.1 x): the solver's own arithmetic per step, free of the noise of timing the
  network twice (for DPS and PiGDM it leaves out the backward pass through the network).
- target: the verdict, on the stub column for the gradient-free solvers and on excl. data for
  DPS and PiGDM.
Wall times are the best of `repeats` runs. On a shared machine (other jobs on the cores) the
ratios move by a few percent between runs; the stub column is the steadier one.
"""
from __future__ import annotations

import argparse
import platform
import time

import torch
from torch import nn

from restore.operators import Blur, Downsample, Inpainting, add_noise, gaussian_kernel, random_mask
from restore.priors import DDPM, UNet, UNetConfig, linear_schedule
from restore.solvers import METHODS, pose, respaced

GRADIENT = ("dps", "pigdm")
NOISELESS = ("ddnm", "repaint")
TIMED = ("A", "AT", "A_pinv", "VT", "V", "UT", "U", "singulars", "kept")


def timed(operator):
    """A copy of `operator` (same class, via a subclass, so isinstance checks hold) whose outermost
    calls of the methods in TIMED add their wall time to `._timing_seconds`."""
    cls = type(operator)
    state = {"depth": 0}

    def wrap(name):
        fn = getattr(cls, name)

        def method(self, *a, **k):
            if state["depth"]:
                return fn(self, *a, **k)
            state["depth"] += 1
            sync(self._timing_device)
            t0 = time.perf_counter()
            try:
                return fn(self, *a, **k)
            finally:
                sync(self._timing_device)
                self._timing_seconds += time.perf_counter() - t0
                state["depth"] -= 1

        return method

    sub = type(f"Timed{cls.__name__}", (cls,), {n: wrap(n) for n in TIMED if hasattr(cls, n)})
    op = object.__new__(sub)
    op.__dict__.update(operator.__dict__)
    op._timing_seconds, op._timing_device = 0.0, torch.device("cpu")
    return op


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class Stub(nn.Module):
    """eps = 0.1 x: a network that costs nothing (differentiable, for DPS and PiGDM)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.w = nn.Parameter(torch.tensor(0.1))

    def forward(self, x, t):
        return self.w * x


def tasks(size: int, generator: torch.Generator) -> dict:
    return {
        "inpaint": Inpainting(random_mask(size, size, 0.5, generator=generator)),
        "blur": Blur(gaussian_kernel(9, 2.0), "reflect"),
        "sr4": Downsample(4, "bicubic"),
    }


def eps_seconds(prior, x: torch.Tensor, repeats: int, tiled: bool = False) -> float:
    """Best of `repeats` (at least 3) eps evaluations; tiled: the mean of 10 or more (the number of
    tiles depends on the random offset of each call)."""
    times = []
    with torch.no_grad():
        prior.eps(x, 500)  # warm-up
        for _ in range(max(repeats, 10 if tiled else 3)):
            sync(x.device)
            t0 = time.perf_counter()
            prior.eps(x, 500)
            sync(x.device)
            times.append(time.perf_counter() - t0)
    return sum(times) / len(times) if tiled else min(times)


def run_solver(prior, method, op, y, sigma_y, steps, repeats, device):
    """(best wall s, data s of that run, NFE)."""
    best = (float("inf"), 0.0, 0)
    for r in range(repeats):
        top = timed(op)
        top._timing_device = device
        calls = []
        sync(device)
        t0 = time.perf_counter()
        METHODS[method](prior, pose(prior, top, y, sigma_y), respaced(prior, steps), generator=torch.Generator(device).manual_seed(r),
                        callback=lambda d: calls.append(d["i"]))
        sync(device)
        wall = time.perf_counter() - t0
        if wall < best[0]:
            best = (wall, top._timing_seconds, len(calls))
    return best


def table(threads: int, steps: int, size: int, batch: int, repeats: int, tile: int = 0, device: str = "cpu") -> str:
    torch.set_num_threads(threads)
    dev = torch.device(device)
    cfg = UNetConfig(channels=3, width=32, mults=(1, 2, 2, 2))
    torch.manual_seed(0)
    net = UNet(cfg).to(dev).eval()
    prior = DDPM(net, linear_schedule(), image_size=size)
    stub = DDPM(Stub(cfg).to(dev), linear_schedule(), image_size=size)
    if tile:
        from restore.priors.tiling import TiledPrior

        prior = TiledPrior(prior, tile=tile, batch=16, generator=torch.Generator().manual_seed(0))
        stub = TiledPrior(stub, tile=tile, batch=16, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, size, size, generator=g).to(dev)
    t_eps = eps_seconds(prior, x * 2 - 1, repeats, bool(tile))
    head = (f"torch {torch.__version__}, {threads} thread(s), {platform.processor() or platform.machine()}, "
            f"{device}, fp32; UNet width 32 mults (1, 2, 2, 2), {net.config.num_res_blocks} res blocks, "
            f"random weights; {batch} x 3 x {size} x {size}" + (f", tiles {tile} (batch 16)" if tile else "")
            + f"; {steps} steps; one eps evaluation {1000 * t_eps:.1f} ms ({'mean' if tile else 'best'} of "
            f"{max(repeats, 10 if tile else 3)})\n")
    rows = [head, "| solver | task | sigma_y | NFE | wall s | total | data | excl. data | stub | target |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for task, op in tasks(size, g).items():
        for method in METHODS:
            if method == "repaint" and task != "inpaint":
                continue
            sigma_y = 0.0 if method in NOISELESS else 0.025
            y = add_noise(op.A(x), sigma_y, torch.Generator().manual_seed(1))
            run_solver(stub, method, op, y, sigma_y, steps, 1, dev)  # warm-up (operator caches)
            wall, data, nfe = run_solver(prior, method, op, y, sigma_y, steps, repeats, dev)
            swall, sdata, _ = run_solver(stub, method, op, y, sigma_y, steps, repeats, dev)
            unit = nfe * t_eps
            total, dshare = wall / unit, data / unit
            stub_ratio = 1 + (swall - sdata) / unit
            # verdict: gradient-free solvers on the stub column (their own arithmetic, steady), DPS and
            # PiGDM on the measured one (their backward pass through the network is part of the cost)
            target, value = (2.5, total - dshare) if method in GRADIENT else (1.05, stub_ratio)
            ok = "ok" if value <= target else "over"
            rows.append(f"| {method} | {task} | {sigma_y} | {nfe} | {wall:.2f} | {total:.3f} | {dshare:.3f} | "
                        f"{total - dshare:.3f} | {stub_ratio:.3f} | <= {target}: {ok} |")
    return "\n".join(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tile", type=int, default=0, help="evaluate eps by tiles of this size (TiledPrior); 0: whole")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    print(table(a.threads, a.steps, a.size, a.batch, a.repeats, a.tile, a.device))


if __name__ == "__main__":
    main()
