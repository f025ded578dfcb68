"""The calibration of `KernelEstimate.usable` (issue 31): which estimates a restoration should use.

Reads `lab.blind_kernels --ungated` rows (no residual gate; with --restore every kernel found was
used, whatever its confidence: psnr_blind is then the PSNR of using it) and scores rules

    usable = family != "none" and confidence >= C and residual_ratio <= R and spread >= S

over a grid of (C, R, S): per rule, the sharp rows (kernel none) it would restore (each must be
left as it is), the blurred rows that lose to their input, and the blurred rows' mean gain over the
input (a row not used keeps its input: gain 0). A sharp row without psnr_blind counts as restored
wrongly whenever the rule accepts it. Prints the rules with no sharp row accepted and no loss,
best mean gain first, and each row's features.

    python -m lab.blind_gate ROWS.csv [ROWS.csv ...] [--top 15]

--apply C R S --gated ROWS.csv -o OUT.csv: the rows `lab.blind_kernels --restore` would have written
with the rule (C, R, S) in place of the gate the --gated rows ran under (residual ratio 1.05,
confidence 0.5), from those rows and the ungated rows (the positional ones) of the same images,
kernels and seeds (the estimate and the restoration are deterministic): a row's ungated twin where
there is one (used: its PSNR; not used: the input's, the identity's error ratio from the gated row),
else the gated row itself where its decision cannot change (rejected with a residual ratio over R,
or no blur named at all;
or used, a Gaussian or disk whose spread follows from its parameter). Any other row is an error.
"""
from __future__ import annotations

import argparse
import csv
import itertools

import numpy as np


def load(paths):
    rows = {}
    for p in paths:
        with open(p) as fh:
            for r in csv.DictReader(fh):
                rows[(r["image"], r["kernel"])] = r  # a later file replaces an earlier row
    return list(rows.values())


def usable(r, c, rr, s, shakes_only=False) -> bool:
    """The rule; shakes_only: the residual ratio bounds free-form kernels only."""
    ratio_ok = float(r["residual_ratio"]) <= rr or (shakes_only and r["family"] != "free-form")
    return r["family"] != "none" and float(r["confidence"]) >= c and ratio_ok and float(r["spread"]) >= s


def score(rows, c, rr, s, f=False):
    sharp = [r for r in rows if r["kernel"] == "none"]
    blur = [r for r in rows if r["kernel"] != "none"]
    accepted_sharp = sum(usable(r, c, rr, s, f) for r in sharp)
    gains = np.array([float(r["psnr_blind"]) - float(r["psnr_input"]) if usable(r, c, rr, s, f) else 0.0
                      for r in blur])
    return accepted_sharp, int((gains < -0.01).sum()), float(gains.mean()), int(sum(usable(r, c, rr, s, f) for r in blur))


CONF = [0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9]
RATIO = [0.98, 1.0, 1.02, 1.04, 1.05, 1.06, 1.07, 1.08, 1.09, 1.1, 1.12, 1.2, 9.0]
SPREAD = [0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0]


def _spread(family: str, param: float) -> float:
    import math

    from restore.operators.kernels import gaussian_of_std
    from restore.operators.blind import disk_kernel, kernel_spread

    if family == "gaussian":
        return kernel_spread(gaussian_of_std(param))
    if family == "disk":
        return kernel_spread(disk_kernel(param))
    raise ValueError(f"a {family} kernel's spread does not follow from its parameter")


def apply(rule, gated_path, ungated, out):
    c, rr, s = rule
    twins = {(r["image"], r["kernel"]): r for r in ungated}
    with open(gated_path) as fh:
        gated = list(csv.DictReader(fh))
    rows = []
    for g in gated:
        key = (g["image"], g["kernel"])
        if key in twins:
            u = dict(twins[key])
            found = u["family"] != "none" and float(u["residual_ratio"]) <= rr and float(u["spread"]) >= s
            if not found:  # `estimate_kernel` returns no blur: the identity
                if g["family"] != "none" and g["kernel"] != "none":
                    raise ValueError(f"{key}: a blur before, none now: the identity's error ratio is not in the rows")
                u.update(family="none", parameter=0.0, psnr_blind=g["psnr_input"], similarity=g["similarity"],
                         error_ratio=g["error_ratio"], seconds_blind_restore="")
            elif float(u["confidence"]) < c:  # a blur found without confidence: the photo as it is
                u.update(psnr_blind=g["psnr_input"], seconds_blind_restore="")
            row = u
        elif g["family"] == "none" and (float(g["residual_ratio"]) > rr or float(g["residual_ratio"]) == 1.0):
            # over the ratio bound, or named "none" by `describe_kernel` (spread under 0.5 < S; ratio 1)
            row = dict(g, spread="")
        elif g["family"] in ("gaussian", "disk") and float(g["confidence"]) >= 0.5:
            row = dict(g, spread=round(_spread(g["family"], float(g["parameter"])), 3))
            if not usable(row, c, rr, s):
                if g["kernel"] != "none":
                    raise ValueError(f"{key}: used before, not now, and no ungated twin")
                row.update(family="none", parameter=0.0, psnr_blind=g["psnr_input"], seconds_blind_restore="")  # a sharp photo: left as it is
        else:
            raise ValueError(f"{key}: its decision under the rule needs its ungated twin")
        rows.append({k: row.get(k, "") for k in g} | {"spread": row.get("spread", "")})
    with open(out, "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    print(f"{len(rows)} rows, {sum(k in twins for k in ((r['image'], r['kernel']) for r in gated))} from ungated twins -> {out}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rows", nargs="+")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--apply", nargs=3, type=float, metavar=("C", "R", "S"), default=None)
    ap.add_argument("--gated", default=None)
    ap.add_argument("-o", "--out", default=None)
    a = ap.parse_args(argv)
    rows = load(a.rows)
    if a.apply:
        return apply(a.apply, a.gated, rows, a.out)
    sharp = [r for r in rows if r["kernel"] == "none"]
    blur = [r for r in rows if r["kernel"] != "none"]
    print(f"{len(sharp)} sharp rows, {len(blur)} blurred rows")
    for r in sorted(rows, key=lambda r: (r["kernel"] != "none", float(r["residual_ratio"]))):
        g = (f"{float(r['psnr_blind']) - float(r['psnr_input']):+.2f}" if r.get("psnr_blind") not in (None, "")
             else "")
        print(f"  {r['image']:>7} {r['kernel']:>7} {r['family']:>9} {float(r['parameter']):5.2f} conf "
              f"{float(r['confidence']):.3f} ratio {float(r['residual_ratio']):.3f} spread {float(r['spread']):.2f} "
              f"ER {r['error_ratio']:>6} gain-if-used {g}")
    for f in (False, True):
        res = [(c, rr, s, *score(rows, c, rr, s, f)) for c, rr, s in itertools.product(CONF, RATIO, SPREAD)]
        ok = sorted([x for x in res if x[3] == 0 and x[4] == 0], key=lambda x: -x[5])
        print(f"rules{' (the ratio bounds free-form kernels only)' if f else ''} with no sharp row restored and no "
              f"loss (confidence >=, ratio <=, spread >=: mean gain, rows used):")
        for c, rr, s, _, _, m, n in ok[: a.top]:
            print(f"  C {c:.2f} R {rr:.2f} S {s:.2f}: {m:+.3f} dB, {n}/{len(blur)} used")
        best = max(res, key=lambda x: x[5])
        print(f"  best mean gain of any rule: C {best[0]} R {best[1]} S {best[2]}: {best[5]:+.3f} dB, "
              f"{best[3]} sharp restored, {best[4]} losses")
    for label, rule in (("the gate before (C 0.5, R 1.05, S 0)", (0.5, 1.05, 0.0, False)),):
        n_s, n_l, m, n = score(rows, *rule)
        print(f"{label}: {n_s} sharp restored, {n_l} losses, mean gain {m:+.3f} dB, {n}/{len(blur)} used")


if __name__ == "__main__":
    main()
