"""All cores for the tiled network: intra-op threads in one process against tiles split across
worker processes (issue 21 item 3), on the bare network of a prior at its tile batch.

    python -m lab.cores [--tiles 256] [--workers 2] [--repeats 3] [--precision fp32] [--compile]

Rows, interleaved round-robin --repeats times (the fastest of each kept): one process at 1
thread; one process at --workers threads; --workers processes at 1 thread each, the tiles split
between them (each worker has loaded the prior and run one warm-up batch before the clock starts;
the time is from the start signal until the last worker is done, so the start-up of the workers,
paid once per photo, is left out in their favour). --compile adds one process at 1 thread with the
network through torch.compile (issue 21 item 3), its first call's compile time printed apart.
Prints a markdown table of seconds and speed-up over one thread.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

import torch


def _work(prior, n: int, batch: int, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    tiles = torch.randn(batch, prior.channels, prior.image_size, prior.image_size, generator=g)
    with torch.no_grad():
        for s in range(0, n, batch):
            m = min(batch, n - s)
            prior.eps(tiles[:m], torch.full((m,), 500))


def _load(name: str, precision: str):
    from restore.priors import load_prior
    from restore.priors.ddpm import with_precision

    p = with_precision(load_prior(name), precision)
    p.net.eval()
    return p


def _worker(name, precision, n, batch, start, done):
    torch.set_num_threads(1)
    prior = _load(name, precision)
    _work(prior, batch, batch)  # warm-up
    while True:
        if start.get() is None:
            return
        _work(prior, n, batch)
        done.put(time.perf_counter())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prior", default="natural")
    ap.add_argument("--tiles", type=int, default=256, help="tiles per NFE (256: a 0.26 MP photo)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--compile", action="store_true", help="also time the network through torch.compile")
    a = ap.parse_args(argv)
    prior = _load(a.prior, a.precision)
    ctx = mp.get_context("spawn")
    starts, done = [ctx.Queue() for _ in range(a.workers)], ctx.Queue()
    share = -(-a.tiles // a.workers)
    procs = [ctx.Process(target=_worker, args=(a.prior, a.precision, share, a.batch, q, done)) for q in starts]
    for p in procs:
        p.start()

    def threads(k):
        torch.set_num_threads(k)
        _work(prior, a.tiles, a.batch)

    def processes():
        t0 = time.perf_counter()
        for q in starts:
            q.put(1)
        ends = [done.get() for _ in procs]
        return max(ends) - t0

    rows = {"1 process, 1 thread": lambda: threads(1),
            f"1 process, {a.workers} threads": lambda: threads(a.workers),
            f"{a.workers} processes, 1 thread each": processes}
    compile_s = None
    if a.compile:
        import copy

        compiled = copy.copy(prior)
        compiled.net = torch.compile(prior.net)
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        _work(compiled, a.batch, a.batch)  # the first call compiles
        compile_s = time.perf_counter() - t0

        def compiled_run():
            torch.set_num_threads(1)
            _work(compiled, a.tiles, a.batch)

        rows["1 process, 1 thread, torch.compile"] = compiled_run
    threads(1)
    threads(a.workers)
    processes()  # warm-up (each worker has already run a batch)
    best = {k: float("inf") for k in rows}
    for _ in range(a.repeats):
        for k, f in rows.items():
            t0 = time.perf_counter()
            r = f()
            best[k] = min(best[k], r if isinstance(r, float) else time.perf_counter() - t0)
    for q in starts:
        q.put(None)
    for p in procs:
        p.join()
    load = os.getloadavg()[0]
    print(f"{a.tiles} tiles of {prior.image_size}x{prior.image_size}, batch {a.batch}, {a.precision}, "
          f"{a.repeats} interleaved repeats (fastest kept), load average {load:.1f} on {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    if compile_s is not None:
        print(f"torch.compile: {compile_s:.1f} s for the first call (once per process)\n")
    print("| configuration | seconds per NFE | speed-up over 1 thread |\n|---|---|---|")
    ref = best["1 process, 1 thread"]
    for k, v in best.items():
        print(f"| {k} | {v:.2f} | {ref / v:.2f}x |")


if __name__ == "__main__":
    main()
