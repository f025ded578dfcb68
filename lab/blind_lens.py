"""The spectrum's view of every val observation (`restore.operators.spectral`): where the disk
test finds nothing, would the lens stage (`find_lens_blur`) name a Gaussian, and what guard on the
disk-to-Gaussian score ratio keeps it off the disks the disk test misses?

    python -m lab.blind_lens ../shared/data/natural/val --images 32 --kernels gauss2,...,disk8,levin1,...,none \\
        [--jpeg 85] -o rows.csv
    python -m lab.blind_lens --rows rows.csv [rows.csv ...]

Observations are made as `lab.blind_select` makes them (same seeds for the same photos and kernel
order). Per observation: the disk-to-Gaussian score ratio in each band of DISK_BANDS, the best
Gaussian's std (0.5 band), the disk found (if any) and the lens std `find_lens_blur` gives. With
--rows: per blur, the lens stage's candidates and their ratios, and for a guard G the true lens
blurs kept and the other blurs let through.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

FIELDS = ["image", "kernel", "jpeg", "ratio_0.5", "ratio_0.3", "gaussian_std", "disk_found", "lens_std"]


def survey(a) -> None:
    import restore.operators.blind as B
    import restore.operators.spectral as D

    from .blind_select import _observations

    a.only = None
    new = not a.out.exists()
    with a.out.open("a", newline="") as fh:
        w = csv.DictWriter(fh, FIELDS)
        if new:
            w.writeheader()
        for stem, name, _, _, y in _observations(a):
            lum = B._crop(B._luminance(torch.from_numpy(y).permute(2, 0, 1)), 512)
            row = {"image": stem, "kernel": name, "jpeg": a.jpeg or ""}
            for f_max, _ in D.DISK_BANDS:
                fits = D.spectral_fits(lum, f_max=f_max)
                row[f"ratio_{f_max:g}"] = f"{fits['disk'][0] / fits['gaussian'][0]:.4f}"
            row["gaussian_std"] = D.spectral_fits(lum)["gaussian"][1]
            row["disk_found"] = D.find_defocus(lum) or ""
            row["lens_std"] = D.find_lens_blur(lum) or ""
            w.writerow(row)
            fh.flush()
            print(stem, name, row, flush=True)


def summary(paths: list[Path]) -> None:
    rows = [r for p in paths for r in csv.DictReader(p.open())]
    lens = [r for r in rows if r["lens_std"]]
    by = defaultdict(list)
    for r in rows:
        by[(r["kernel"], r["jpeg"])].append(r)
    print("| blur | jpeg | rows | disk found | lens candidates | their ratio 0.5 | their ratio 0.3 | their std |")
    print("|---|---|---|---|---|---|---|---|")
    for (k, j), rs in sorted(by.items()):
        c = [r for r in rs if r["lens_std"]]
        rng = (lambda f: f"{min(float(r[f]) for r in c):.2f}-{max(float(r[f]) for r in c):.2f}" if c else "")
        print(f"| {k} | {j or 'PNG'} | {len(rs)} | {sum(bool(r['disk_found']) for r in rs)} | {len(c)} | "
              f"{rng('ratio_0.5')} | {rng('ratio_0.3')} | {rng('lens_std')} |")
    gauss = [r for r in lens if r["kernel"].startswith("gauss")]
    other = [r for r in lens if not r["kernel"].startswith("gauss")]
    for g in np.arange(0.4, 1.01, 0.05):
        keep = lambda r: min(float(r["ratio_0.5"]), float(r["ratio_0.3"])) >= g  # noqa: E731
        print(f"guard {g:.2f}: Gaussians kept {sum(map(keep, gauss))} of {len(gauss)}, others through "
              f"{sum(map(keep, other))} of {len(other)} "
              f"({', '.join(sorted(set(r['kernel'] + (' jpeg' if r['jpeg'] else '') for r in other if keep(r))))})")


def main(argv=None) -> None:
    from .blind_select import rows_or_observations

    rows_or_observations(__doc__.split("\n")[0], argv, summary, survey)


if __name__ == "__main__":
    main()
