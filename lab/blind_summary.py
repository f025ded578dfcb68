"""The tables of benchmarks/RESULTS.md's "Deblurring an unknown blur" from `lab.blind_kernels` rows.

Per group of blurs (camera shakes, Gaussian/disk, none): rows, mean kernel similarity, Levin's
error ratio (mean, shares under 2 and 3), and with --restore rows the blind result over the input
(paired 95 % t interval over the rows, `benchmarks.metrics.interval`), the losses (rows under the
input by more than 0.01 dB), the rows left as they are (no usable blur found) and the true
kernel's result over the blind one. --ref: rows of another estimator on the same images, kernels
and seeds: the paired differences (this - ref) of the error ratio and of the blind PSNR; a true
kernel's PSNR missing here (`lab.blind_kernels --no-true`) is taken from --ref, where the same
observation was restored with the same kernel.

    python -m lab.blind_summary rows.csv [--ref reference-rows.csv] [--families]
"""
from __future__ import annotations

import argparse
import csv

import numpy as np

from benchmarks.metrics import interval


def _read(path):
    with open(path) as fh:
        return {(r["image"], r["kernel"]): r for r in csv.DictReader(fh)}


def _group(kernel: str, families: bool = False) -> str:
    if families and kernel.startswith(("gauss", "disk")):
        return "gaussian" if kernel.startswith("gauss") else "disk"
    return "shakes" if kernel.startswith("levin") else "none" if kernel == "none" else "gaussian/disk"


def _ci(d) -> str:
    m, lo, hi = interval(d)
    return f"{m:+.2f} ({lo:+.2f}, {hi:+.2f})"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rows")
    ap.add_argument("--ref", default=None)
    ap.add_argument("--families", action="store_true", help="Gaussian and disk blurs apart")
    a = ap.parse_args(argv)
    rows, ref = _read(a.rows), (_read(a.ref) if a.ref else {})
    for g in ("shakes", "gaussian", "disk", "gaussian/disk", "none"):
        keys = [k for k in rows if _group(k[1], a.families) == g]
        if not keys:
            continue
        f = lambda col, ks=keys, src=rows: np.array([float(src[k][col]) for k in ks])
        out = [f"{g}: {len(keys)} rows"]
        if g != "none":
            er = f("error_ratio")
            out.append(f"similarity {f('similarity').mean():.2f}; error ratio {er.mean():.2f}, "
                       f"< 2 {np.mean(er < 2):.0%}, < 3 {np.mean(er < 3):.0%}")
            if ref and all(k in ref for k in keys):
                out.append(f"error ratio - ref {_ci(er - f('error_ratio', src=ref))} (ref mean "
                           f"{f('error_ratio', src=ref).mean():.2f}, < 2 {np.mean(f('error_ratio', src=ref) < 2):.0%})")
        if "psnr_blind" in rows[keys[0]]:
            gain = f("psnr_blind") - f("psnr_input")
            kept = sum(rows[k]["family"] == "none" or (float(rows[k]["confidence"]) < 0.5 and
                                                       float(rows[k].get("share") or 1) == 1) for k in keys)
            out.append(f"blind - input {_ci(gain)}, losses {int((gain < -0.01).sum())} "
                       f"{[round(float(v), 2) for v in gain[gain < -0.01]]}, left as they are {kept}")
            true = np.array([float(rows[k].get("psnr_true_kernel") or ref.get(k, {}).get("psnr_true_kernel", "nan"))
                             for k in keys])
            if g != "none" and not np.isnan(true).any():
                out.append(f"true kernel - blind {_ci(true - f('psnr_blind'))}")
            if ref and all(k in ref and "psnr_blind" in ref[k] for k in keys):
                out.append(f"blind - ref's blind {_ci(f('psnr_blind') - f('psnr_blind', src=ref))}")
        print("; ".join(out))


if __name__ == "__main__":
    main()
