"""Restoration PSNR of priors (training checkpoints) on whole photos: the four photo defaults.

    python -m lab.restoration_curve DATA_ROOT -o OUT PRIOR [PRIOR ...] [--images 8] [--split val]

For each PRIOR (anything `load_prior` takes; the first is the reference) and each task, runs
`lab.whole_photo` with the command line's by-tiles default (restore/defaults.py TILED_DEFAULTS:
denoise at noise 0.025, Gaussian deblurring gaussian:3.0 at noise 0.025, SR x4, two object-sized
holes) in bf16, one thread, in this process; rows go to OUT/<prior>/<task>/rows.csv (a rerun
skips what is there). Prints one line per prior: its training step, images seen and hours (from
the checkpoint), the mean PSNR of each task (holes: inside the holes) and the paired 95 %
interval of its margin over the reference.
"""
from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

from lab import whole_photo
from restore.benchmarks.metrics import interval
from restore.defaults import TILED_DEFAULTS

TASKS = {"denoise": "denoise", "deblur": "deblur", "sr4": "sr", "holes": "inpaint"}


def config(command: str) -> str:
    d = TILED_DEFAULTS[command]
    return f"{d.method}:{d.steps}:{d.strength}:{d.samples}"


def label(prior: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", prior.strip("/"))[-60:]


def psnrs(out: Path, task: str) -> dict[str, float]:
    rows = csv.DictReader((out / "rows.csv").open())
    return {r["image"]: float(r["psnr_hole"]) for r in rows if r["config"] == config(TASKS[task])}


def train_state(prior: str) -> dict:
    from restore.priors import load_prior

    return dict(load_prior(prior).meta.get("train", {}))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_root")
    ap.add_argument("priors", nargs="+")
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--tasks", default=",".join(TASKS))
    a = ap.parse_args(argv)
    tasks = a.tasks.split(",")
    for prior in a.priors:
        for task in tasks:
            out = a.out / label(prior) / task
            whole_photo.main([a.data_root, "--split", a.split, "--task", task, "--sigma", "0.025", "-o", str(out),
                              "--images", str(a.images), "--configs", config(TASKS[task]), "--prior", prior,
                              "--threads", "1", "--workers", "1", "--precision", "bf16", "--base", config(TASKS[task])])
    ref = {t: psnrs(a.out / label(a.priors[0]) / t, t) for t in tasks}
    print("| prior | step | images seen | hours | " + " | ".join(f"{t} PSNR (margin)" for t in tasks) + " |")
    print("|---|---|---|---|" + "---|" * len(tasks))
    for prior in a.priors:
        st = train_state(prior)
        cells = []
        for t in tasks:
            mine = psnrs(a.out / label(prior) / t, t)
            common = sorted(set(mine) & set(ref[t]))
            m, lo, hi = interval([mine[i] - ref[t][i] for i in common])
            cells.append(f"{sum(mine.values()) / len(mine):.2f} ({m:+.2f}, {lo:+.2f}..{hi:+.2f})")
        hours = float(st.get("seconds", 0)) / 3600
        print(f"| {prior} | {st.get('step', '')} | {st.get('images_seen', '')} | {hours:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
