"""PSNR and time of DiffPIR against the relative tolerance of its damped CG data step
(`restore.solvers.problem.DATA_TOL`), on the faces validation split with the motion blur task.

    python -m lab.cg_tol [--images 4] [--steps 20] [--tols 1e-6,1e-4,1e-3]
"""
from __future__ import annotations

import argparse

import torch

from restore.solvers import problem as problem_module

from restore.benchmarks.datasets import load_images
from restore.benchmarks.methods import parse_method, run_diffusion
from restore.benchmarks.metrics import psnr
from restore.benchmarks.tasks import make_case


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--tols", default="1e-6,1e-4,1e-3")
    a = ap.parse_args()
    torch.set_num_threads(1)
    from restore.priors import load_prior

    default = problem_module.DATA_TOL
    prior = load_prior("faces")
    imgs = load_images("faces", a.data, "val", "motion", a.images, 0)
    print("| tol | PSNR (dB) | s / image |\n|---|---|---|")
    try:
        for tol in (float(v) for v in a.tols.split(",")):
            problem_module.DATA_TOL = tol
            ps, ts = [], []
            for i, (iid, x) in enumerate(imgs):
                p = make_case("motion", x, 0.025, seed=0, image_id=iid, index=i)
                r = run_diffusion(prior, p, parse_method(f"diffpir:{a.steps}"), seed=0)
                ps.append(psnr(p.x, r["sample"]))
                ts.append(r["seconds"])
            print(f"| {tol:g} | {sum(ps) / len(ps):.2f} | {sum(ts) / len(ts):.2f} |", flush=True)
    finally:  # the solver's own tolerance back, even after an error
        problem_module.DATA_TOL = default


if __name__ == "__main__":
    main()
