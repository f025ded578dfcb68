"""The tables of the classical anchors (issue 32) from whole_photo rows: per configuration its mean
PSNR (in the holes for holes, of the whole photo otherwise), the paired 95 % t interval of
REFERENCE - configuration over the photos both hold (`metrics.interval`; REFERENCE: restore's
default), and seconds per megapixel.

    python -m lab.anchors_table benchmarks/whole-photo/anchors-denoise-0.05-test/rows.csv --reference ddrm:1:noise:4 \
        [--only ddrm:1:noise:4,bm3d@1] [--over benchmarks/whole-photo/v2-denoise-0.05-test/rows.csv]

--over ROWS: the configurations in ROWS replace those of the same name (the default rerun with
another prior beside the anchors' rows, which are not rerun).
"""
from __future__ import annotations

import argparse
import csv

from restore.benchmarks.metrics import interval


def _rows(path) -> dict:
    by: dict = {}
    for r in csv.DictReader(open(path, newline="")):
        by.setdefault(r["config"], {})[r["image"]] = r
    return by


def table(path, reference: str, only: list[str] | None = None, over=None) -> str:
    """The markdown table of the rows in `path` (`only`: these configurations, in this order;
    `over`: a rows file whose configurations replace those of the same name)."""
    by = {**_rows(path), **(_rows(over) if over else {})}
    if reference not in by:
        raise SystemExit(f"{path}: no rows of {reference!r}")
    ref = by[reference]
    out = [f"| config | photos | PSNR | {reference} - config (95 % CI) | s / MP |", "|---|---|---|---|---|"]
    for cfg in only or list(by):
        if cfg not in by:
            raise SystemExit(f"{path}: no rows of {cfg!r}")
        rs = by[cfg]
        imgs = sorted(set(rs) & set(ref))
        mean = sum(float(rs[i]["psnr_hole"]) for i in imgs) / len(imgs)
        m, lo, hi = interval([float(ref[i]["psnr_hole"]) - float(rs[i]["psnr_hole"]) for i in imgs])
        margin = "" if cfg == reference else f"{m:+.2f} ({lo:+.2f}, {hi:+.2f})"
        smp = sum(float(rs[i]["seconds"]) for i in imgs) / sum(float(rs[i]["megapixels"]) for i in imgs)
        out.append(f"| {cfg} | {len(imgs)} | {mean:.2f} | {margin} | {smp:.1f} |")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rows", nargs="+")
    ap.add_argument("--reference", required=True, help="the configuration the margins are taken from")
    ap.add_argument("--only", default=None, help="comma-separated configurations to show, in this order [all]")
    ap.add_argument("--over", default=None, help="rows whose configurations replace those of the same name")
    a = ap.parse_args(argv)
    for path in a.rows:
        print(f"{path}\n\n{table(path, a.reference, a.only.split(',') if a.only else None, a.over)}\n")


if __name__ == "__main__":
    main()
