"""Where the time of a restoration step goes, per megapixel per network evaluation (s/MP/NFE):
the bare network on as many tiles as the tiled call makes, the tiled eps (`TiledPrior.eps`:
offsets, index maps, padding, gather, network, scatter) and a whole solver step of each command's
default (the operator, DDRM's V / V^T, the draws), on one photo of --size x --size pixels.

    python -m lab.tile_overhead [--size 500] [--threads 1] [--repeats 3]
        [--precision fp32,bf16] [--tasks denoise,sr,inpaint,deblur] [--variants]

Every row is timed --repeats times, the rows interleaved round-robin (so load on the machine
falls on all of them alike) and the fastest run of each kept. A solver step is the marginal cost
(t(--steps-b) - t(--steps-a)) / (NFE_b - NFE_a) of `restore.pipeline.restore_image` with the command's
default method, in this process (workers=1), so the fixed cost (SVD set-up, warm start, conversions) is left out. The ratio
column is each row over the bare network at the same precision. --variants adds bare-network rows
for the levers of issue 21 item 3: channels_last, larger tile batches, and (with bf16) bf16 as it
ran before the network's bfloat16 channels_last copy (autocast on the fp32 weights), the copy
through torch.compile and through OpenVINO where it is installed. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import copy
import os
import platform
import time

import numpy as np
import torch
from torch import Tensor


def _best(fns: dict, repeats: int) -> dict:
    """name -> fastest of `repeats` runs, the functions interleaved (after one warm-up each)."""
    for f in fns.values():
        f()
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def main(argv=None) -> None:
    from lab.large_photo import astronaut
    from restore.defaults import TILED_DEFAULTS
    from restore.pipeline import restore_image
    from restore.priors import load_prior
    from restore.priors.ddpm import with_precision
    from restore.priors.tiling import TiledPrior

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prior", default="natural")
    ap.add_argument("--size", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--precision", default="fp32", help="comma-separated: fp32, bf16 (fp16 on CUDA)")
    ap.add_argument("--tasks", default="denoise,sr,inpaint,deblur", help="solver-step rows ('' for none)")
    ap.add_argument("--steps-a", type=int, default=1)
    ap.add_argument("--steps-b", type=int, default=3)
    ap.add_argument("--variants", action="store_true", help="also channels_last and tile batches 32, 64")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    base = load_prior(a.prior, device=dev)
    base.net.eval()
    size, mp = a.size, a.size * a.size / 1e6
    photo = astronaut(size, size)
    x = torch.randn(1, base.channels, size, size, generator=torch.Generator().manual_seed(0), device=dev)
    t = 500
    precisions = [p for p in a.precision.split(",") if p]
    tasks = [c for c in a.tasks.split(",") if c]
    fns, nfe = {}, {}
    for prec in precisions:
        prior = with_precision(base, prec)
        tp = TiledPrior(prior, generator=torch.Generator().manual_seed(1))
        k, batch = tp.tile, tp.batch
        # the tiled call makes ceil((size + o) / k)^2 tiles: on average over the offsets
        n = round(np.mean([tp.tiles_for(size, size, (o, o))[0] for o in range(tp.core)]) ** 2)
        tiles = torch.randn(max(n, 64), base.channels, k, k, generator=torch.Generator().manual_seed(2)).to(dev)

        def bare(prior=prior, tiles=tiles, n=n, batch=batch, fmt=torch.contiguous_format):
            with torch.no_grad():
                for s in range(0, n, batch):
                    chunk = tiles[s : min(s + batch, n)].contiguous(memory_format=fmt)
                    prior.eps(chunk, torch.full((len(chunk),), t, device=dev))

        def tiled(tp=tp):
            with torch.no_grad():
                tp.eps(x, t)

        fns[f"network alone ({n} tiles of {k}x{k}, batch {batch}), {prec}"] = bare
        nfe[f"network alone ({n} tiles of {k}x{k}, batch {batch}), {prec}"] = 1
        if a.variants:
            for b in (32, 64):
                fns[f"network alone, batch {b}, {prec}"] = lambda b=b, f=bare: f(batch=b)
                nfe[f"network alone, batch {b}, {prec}"] = 1
            if prec == "bf16":  # bf16 as it ran before the bf16 copy: the fp32 network under autocast
                from restore.priors.ddpm import inference_precision

                def autocast(tiles=tiles, n=n, batch=batch):
                    with torch.no_grad(), inference_precision(dev, "bf16"):
                        for s in range(0, n, batch):
                            chunk = tiles[s : min(s + batch, n)]
                            base.net(chunk, torch.full((len(chunk),), t - 1, device=dev))

                fns["network alone, autocast on the fp32 weights (bf16 before the copy), bf16"] = autocast
                nfe["network alone, autocast on the fp32 weights (bf16 before the copy), bf16"] = 1
                for label, fast in _compiled(prior._bf16_net(), tiles[:batch], t - 1, dev).items():
                    def run_fast(fast=fast, tiles=tiles, n=n, batch=batch):
                        with torch.no_grad():
                            for s in range(0, n, batch):
                                chunk = tiles[s : min(s + batch, n)]
                                fast(chunk, torch.full((len(chunk),), t - 1, device=dev))

                    fns[f"network alone, {label}, bf16"] = run_fast
                    nfe[f"network alone, {label}, bf16"] = 1
        fns[f"tiled eps, {prec}"] = tiled
        nfe[f"tiled eps, {prec}"] = 1
        if prec == precisions[0]:  # the tiling's own work: the same call with a network that costs nothing
            stub = TiledPrior(_stub(base), generator=torch.Generator().manual_seed(1))

            def tiling_only(stub=stub):
                with torch.no_grad():
                    stub.eps(x, t)

            fns["tiling alone (offsets, index maps, gather, scatter; a no-op network)"] = tiling_only
            nfe["tiling alone (offsets, index maps, gather, scatter; a no-op network)"] = 1
        for cmd in tasks:
            y, task, kw = _observation(cmd, photo)
            count = [0]

            def step(cmd=cmd, y=y, task=task, kw=kw, prior=prior, count=count, steps=None):
                count[0] = 0
                restore_image(y, cmd, task, prior=prior, steps=steps, seed=0, device=a.device, workers=1,
                              callback=lambda info: count.__setitem__(0, count[0] + 1), **kw)
                return count[0]

            n_a, n_b = step(steps=a.steps_a), step(steps=a.steps_b)
            name = f"{cmd}: solver step ({TILED_DEFAULTS[cmd].method}), {prec}"
            fns[name + " a"] = lambda f=step: f(steps=a.steps_a)
            fns[name + " b"] = lambda f=step: f(steps=a.steps_b)
            nfe[name] = n_b - n_a
    if a.variants:  # the network's weights in channels_last for this row only
        key = next(k for k in fns if k.startswith("network alone ("))

        def _cl(f=fns[key]):
            base.net.to(memory_format=torch.channels_last)
            try:
                f(fmt=torch.channels_last)
            finally:
                base.net.to(memory_format=torch.contiguous_format)

        fns["network alone, channels_last, " + precisions[0]] = _cl
        nfe["network alone, channels_last, " + precisions[0]] = 1
    best = _best(fns, a.repeats)
    rows = {}
    for name in nfe:
        if name + " a" in best:
            rows[name] = (best[name + " b"] - best[name + " a"]) / nfe[name] / mp
        else:
            rows[name] = best[name] / mp
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{size}x{size} photo, prior {a.prior}, {a.threads} thread(s), {a.device}, {a.repeats} interleaved repeats "
          f"(fastest kept), load average {load:.1f} on {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| row | s / MP / NFE | ratio to the network alone |\n|---|---|---|")
    for name, v in rows.items():
        prec = name.rsplit(", ", 1)[-1]
        ref = next((rows[k] for k in rows if k.startswith("network alone (") and k.endswith(prec)),
                   next(iter(rows.values())))
        print(f"| {name} | {v:.2f} | {v / ref:.2f}x |")


def _compiled(net, example: Tensor, t: int, dev) -> dict:
    """Other runtimes for the bf16 copy `net`, label -> forward(x, t - 1) on float32 tiles, each
    built and run once here (the build time goes into the label): torch.compile (inductor), and
    OpenVINO where it is installed (not a dependency; its CPU plugin picks bf16 itself)."""
    out = {}
    tt = torch.full((len(example),), t, device=dev)
    t0 = time.perf_counter()
    comp = torch.compile(net)
    try:
        with torch.no_grad():
            comp(example.to(torch.bfloat16).contiguous(memory_format=torch.channels_last), tt)
    except Exception as e:  # no C++ compiler, an unsupported platform: the row is left out, said why
        print(f"torch.compile row left out: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    else:
        out[f"torch.compile of the bf16 copy (first call {time.perf_counter() - t0:.0f} s)"] = (
            lambda x, t, f=comp: f(x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last), t))
    try:
        import openvino as ov
    except ImportError:
        return out
    t0 = time.perf_counter()
    fp32 = copy.deepcopy(net).float().to(memory_format=torch.contiguous_format)
    req = ov.Core().compile_model(ov.convert_model(fp32, example_input=(example, tt)), "CPU",
                                  {"INFERENCE_NUM_THREADS": torch.get_num_threads()}).create_infer_request()
    req.infer({0: example.cpu().numpy(), 1: tt.cpu().numpy()})
    out[f"OpenVINO {ov.__version__} (conversion {time.perf_counter() - t0:.0f} s)"] = (
        lambda x, t, r=req: r.infer({0: x.cpu().numpy(), 1: t.cpu().numpy()}))
    return out


def _stub(prior):
    """A DDPM with the prior's schedule and size whose network costs nothing (x / 2)."""
    from restore.priors import DDPM

    class Half(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t):
            return x * 0.5

    return DDPM(Half().to(prior.device), prior.schedule, image_size=prior.image_size, channels=prior.channels)


def _observation(cmd: str, photo: np.ndarray) -> tuple[np.ndarray, dict, dict]:
    """The degraded photo, the task and the options of restore_image for a command (sigma_y 0.05
    given, so the noise estimate is not timed; inpaint: the whole photo as one region)."""
    from lab.large_photo import observation

    y, kw = observation(cmd if cmd != "sr" else "sr", photo)
    if cmd == "inpaint":
        mask = kw.pop("mask")
        return y, {"observed": torch.from_numpy(~mask)[None].double()}, kw
    if cmd == "sr":
        kw.pop("scale")
        return y, {"scale": 2}, kw
    if cmd == "deblur":
        from restore.operators import gaussian_kernel

        return y, {"kernel": gaussian_kernel(19, 3.0)}, kw
    return y, {}, kw


if __name__ == "__main__":
    main()
