"""Where each baseline's tuned value falls in its grid (issue 22): every tunable baseline tuned on
the val split of every full-suite cell, exactly as `restore bench` tunes it (the same val images,
crops, seeds and grids), with the value chosen, its val PSNR and whether it sits at an end of the
grid (`baselines.at_edge`: the optimum may lie beyond it) or at a bound by nature.

    python -m lab.grids --data ../shared/data --priors digits,faces,natural -o benchmarks/grids.md

Writes the table (and the count of edges) to -o and prints it. Classical methods only: minutes
on one core (Richardson-Lucy's whole grid is one pass of its largest count).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from restore.benchmarks.baselines import BASELINES, applicable_baseline, at_edge, tune
from restore.benchmarks.bench import SUITES
from restore.benchmarks.datasets import load_images
from restore.benchmarks.metrics import psnr
from restore.benchmarks.tasks import applicable_task, load_levin, make_case


def tune_all(data_root, priors, images: int = 8, echo=print) -> list[dict]:
    s = SUITES["full"]
    levin_path = Path(data_root) / "kernels" / "levin09.npz"
    levin = load_levin(levin_path) if levin_path.is_file() else None
    out = []
    for prior in priors:
        for task in s.tasks:
            for sigma in s.sigmas_for(task):
                vals = load_images(prior, data_root, "val", task, images, s.crop_for(prior, task))
                S = min(vals[0][1].shape[-2:])
                if not applicable_task(task, S, sigma, levin):
                    continue
                probs = [make_case(task, x, sigma, seed=s.seed + 1, image_id=f"val-{iid}", index=i, levin=levin)
                         for i, (iid, x) in enumerate(vals)]
                for b in s.baselines:
                    if not (applicable_baseline(b, task, sigma) and BASELINES[b].param):
                        continue
                    best, sc = tune(b, probs, lambda x, e: psnr(x, e))
                    if not sc:  # noiseless TV inpainting: the hard constraint, nothing to tune
                        continue
                    row = {"prior": prior, "task": task, "sigma_y": f"{sigma:g}", "baseline": b,
                           "param": BASELINES[b].param, "value": best, "psnr": sc[best], "edge": at_edge(b, best) or "",
                           "grid": f"{min(BASELINES[b].grid):g} .. {max(BASELINES[b].grid):g}"}
                    out.append(row)
                    echo(f"{prior} {task} {sigma:g} {b}: {row['param']}={best:g} ({sc[best]:.2f} dB) {row['edge']}")
    return out


def table(rows: list[dict], command: str) -> str:
    edges = [r for r in rows if r["edge"] in ("low", "high")]
    bounds = [r for r in rows if r["edge"] == "bound"]
    lines = ["# Baseline grids: the value tuned on val and where it falls", "", "```", command, "```", "",
             f"{len(rows)} tuned values; {len(edges)} at an open end of their grid; {len(bounds)} at a bound by nature "
             "(backprojection's step 0 or 1, TV inpainting's hard constraint).", "",
             "| prior | task | sigma_y | baseline | parameter | grid | chosen | val PSNR | edge |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['prior']} | {r['task']} | {r['sigma_y']} | {r['baseline']} | {r['param']} | {r['grid']} | "
                     f"{r['value']:g} | {r['psnr']:.2f} | {r['edge']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--priors", default="digits,faces,natural")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("-o", "--out", type=Path, default=None)
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = tune_all(a.data, [p.strip() for p in a.priors.split(",") if p.strip()], a.images)
    cmd = f"python -m lab.grids --data {a.data} --priors {a.priors}" + \
        (f" --images {a.images}" if a.images != 8 else "") + (f" -o {a.out}" if a.out else "")
    md = table(rows, cmd)
    if a.out:
        a.out.write_text(md)
    print(md)


if __name__ == "__main__":
    main()
