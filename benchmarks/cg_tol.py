"""PSNR and time of DiffPIR against the relative tolerance of its damped CG data step
(`restore.solvers._chain.DATA_TOL`), on the faces validation split with the motion blur task.

    python -m restore.benchmarks.cg_tol [--images 4] [--steps 20] [--tols 1e-6,1e-4,1e-3]
"""
from __future__ import annotations

import argparse
import functools
import importlib

import torch

from restore.solvers import _chain

from .datasets import load_images
from .methods import parse_method, run_diffusion
from .metrics import psnr
from .tasks import make_problem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--tols", default="1e-6,1e-4,1e-3")
    a = ap.parse_args()
    torch.set_num_threads(1)
    from restore.priors import load_prior

    diffpir_module = importlib.import_module("restore.solvers.diffpir")  # the module, not the function
    prior = load_prior("faces")
    imgs = load_images("faces", a.data, "val", "motion", a.images, 0)
    print("| tol | PSNR (dB) | s / image |\n|---|---|---|")
    try:
        for tol in (float(v) for v in a.tols.split(",")):
            diffpir_module.tikhonov = functools.partial(_chain.tikhonov, tol=tol)
            ps, ts = [], []
            for i, (iid, x) in enumerate(imgs):
                p = make_problem("motion", x, 0.025, seed=0, image_id=iid, index=i)
                r = run_diffusion(prior, p, parse_method(f"diffpir:{a.steps}"), seed=0)
                ps.append(psnr(p.x, r["sample"]))
                ts.append(r["seconds"])
            print(f"| {tol:g} | {sum(ps) / len(ps):.2f} | {sum(ts) / len(ts):.2f} |", flush=True)
    finally:  # the solver's own tolerance back, even after an error
        diffpir_module.tikhonov = _chain.tikhonov


if __name__ == "__main__":
    main()
