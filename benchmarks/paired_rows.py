"""Paired comparison of two rows.csv files of the same images (other weights, another run): per
(task, method[, framing]) the mean PSNR difference B - A over the images both hold, with its 95 %
Student t interval (`metrics.interval`). Reads `restore bench` rows (diffusion rows only) and
`reframed_faces` rows (the default's).

    python -m restore.benchmarks.paired_rows A.csv B.csv
    git show REV:benchmarks/faces/test/rows.csv > /tmp/a.csv   # rows of earlier weights
"""
from __future__ import annotations

import argparse
import csv

from .metrics import interval


def psnrs(path) -> dict:
    """{(task, method, framing, image): PSNR} of a rows.csv."""
    out = {}
    for r in csv.DictReader(open(path, newline="")):
        if r["method"] != "default" if "framing" in r else r["kind"] != "diffusion":
            continue
        out[(r["task"], r["method"], r.get("framing", ""), r["image"])] = float(r["psnr"])
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    a = ap.parse_args(argv)
    ra, rb = psnrs(a.a), psnrs(a.b)
    groups: dict = {}
    for k in sorted(set(ra) & set(rb)):
        groups.setdefault(k[:3], []).append(rb[k] - ra[k])
    print("| task | method | framing | images | B - A (95 % CI) |\n|---|---|---|---|---|")
    for (task, method, framing), d in groups.items():
        m, lo, hi = interval(d)
        print(f"| {task} | {method} | {framing} | {len(d)} | {m:+.2f} ({lo:+.2f}, {hi:+.2f}) |")


if __name__ == "__main__":
    main()
