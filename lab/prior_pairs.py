"""Two priors' PSNR on the same `restore bench` cells, paired per image.

    python -m lab.prior_pairs ROWS_FOLDER PRIOR [--ref shipped]

ROWS_FOLDER: a `restore bench` output (its rows.csv) with rows of both priors (the bench's prior
names). Prints per task and diffusion method the number of images both have, the reference's mean
PSNR and PRIOR - reference with its paired 95 % interval (`restore.benchmarks.metrics.interval`).
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from restore.benchmarks.metrics import interval


def pairs(rows_csv: Path, prior: str, ref: str) -> list[tuple]:
    by: dict = defaultdict(dict)
    with rows_csv.open() as fh:
        for r in csv.DictReader(fh):
            if r["kind"] == "diffusion":
                by[(r["task"], r["method"])].setdefault(r["prior"], {})[r["image"]] = float(r["psnr"])
    out = []
    for (task, method), v in sorted(by.items()):
        if ref in v and prior in v:
            ims = sorted(set(v[ref]) & set(v[prior]))
            m, lo, hi = interval([v[prior][i] - v[ref][i] for i in ims])
            out.append((task, method, len(ims), float(np.mean([v[ref][i] for i in ims])), m, lo, hi))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", type=Path)
    ap.add_argument("prior")
    ap.add_argument("--ref", default="shipped")
    a = ap.parse_args(argv)
    for task, method, n, ref_mean, m, lo, hi in pairs(a.rows / "rows.csv", a.prior, a.ref):
        print(f"{task:8s} {method:28s} {n} images: {a.ref} {ref_mean:.2f}, {a.prior} - {a.ref} {m:+.2f} ({lo:+.2f}, {hi:+.2f})")


if __name__ == "__main__":
    main()
