"""Paired comparison of two rows.csv files of the same images (other weights, another run): per
(task, method[, framing]) the mean PSNR difference B - A over the images both hold, with its 95 %
Student t interval (`metrics.interval`). Reads `restore bench` rows (diffusion rows only),
`reframed_faces` rows (the default's) and `whole_photo` rows (every config; PSNR in the holes, or
of the whole photo where there are none; no task column: task "-").

    python -m lab.paired_rows A.csv B.csv
    python -m lab.paired_rows ROWS.csv ROWS.csv --priors shipped,new   # two priors of one bench run
    git show REV:benchmarks/faces/test/rows.csv > /tmp/a.csv   # rows of earlier weights
"""
from __future__ import annotations

import argparse
import csv

from restore.benchmarks.metrics import interval


def psnrs(path, prior: str | None = None) -> dict:
    """{(task, method, framing, image): PSNR} of a rows.csv (only prior's rows of a bench run, when given)."""
    out = {}
    for r in csv.DictReader(open(path, newline="")):
        if prior is not None and r.get("prior") != prior:
            continue
        if "config" in r:  # whole_photo
            out[("-", r["config"], "", r["image"])] = float(r["psnr_hole"])
            continue
        if r["method"] != "default" if "framing" in r else r["kind"] != "diffusion":
            continue
        out[(r["task"], r["method"], r.get("framing", ""), r["image"])] = float(r["psnr"])
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--digits", type=int, default=2, help="decimals of the differences")
    ap.add_argument("--priors", default=None, metavar="A,B",
                    help="`restore bench` rows: A's rows of the first file against B's of the second")
    a = ap.parse_args(argv)
    pa, pb = a.priors.split(",") if a.priors else (None, None)
    ra, rb = psnrs(a.a, pa), psnrs(a.b, pb)
    groups: dict = {}
    for k in sorted(set(ra) & set(rb)):
        groups.setdefault(k[:3], []).append(rb[k] - ra[k])
    print("| task | method | framing | images | B - A (95 % CI) |\n|---|---|---|---|---|")
    for (task, method, framing), d in groups.items():
        m, lo, hi = interval(d)
        k = a.digits
        print(f"| {task} | {method} | {framing} | {len(d)} | {m:+.{k}f} ({lo:+.{k}f}, {hi:+.{k}f}) |")


if __name__ == "__main__":
    main()
