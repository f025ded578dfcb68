"""Shakes found with low confidence (`restore.operators.blind.LOW_CONFIDENCE_SHARE`): the rows of
`lab.blind_select estimate` whose estimate the default keeps as a camera shake
(`found_shake`) but whose confidence is under MIN_CONFIDENCE, each restored with its estimate by
`restore.deblur` and scored, against the input, at shares of the way from the photo.

    python -m lab.blind_share FOLDER --estimates ROWS.jsonl [--images N | --photos P] --kernels K \\
        [--shares 0.1,0.2,...] -o rows.jsonl
    python -m lab.blind_share --rows rows.jsonl [rows.jsonl ...]

The observations are remade as `lab.blind_select` makes them (give the estimate's own FOLDER,
--photos or --images, and --kernels). With --rows: per share, the mean gain over the input, the
worst row, the losses, and the share the rule picks (the largest whose worst row loses at most
0.3 dB).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

SHARES = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0)


def measure(a) -> None:
    import restore
    import restore.operators.blind as B

    from .blind_kernels import psnr
    from .blind_select import _load, _observations, choose

    rows = {(r["image"], r["kernel"]): r for r in _load(a.estimates)}
    rule = (B.MIN_CONFIDENCE, B.MAX_RESIDUAL_RATIO, B.MIN_SPREAD)
    shake = (B.MAX_SHAKE_RATIO, *B.SHAKE_TAPS, 0.0)  # the shake stage at any confidence
    low = [k for k, r in rows.items() if r["confidence"] < B.MIN_CONFIDENCE and
           choose(r, rule, B.FREE_FORM_MARGIN, B.MIN_FIT_SIMILARITY, rescue=False, shake=shake)[0] == "free-form"]
    a.only = ",".join(f"{s}:{k}" for s, k in low)
    prior = restore.load_prior("natural")
    shares = [float(v) for v in a.shares.split(",")]
    with open(a.out, "w") as fh:
        for stem, name, _, truth, y in _observations(a) if low else []:
            r = rows[(stem, name)]
            u8 = np.round(y * 255).astype(np.uint8)
            out = restore.deblur(u8, torch.tensor(r["kernel_array"], dtype=torch.float64), prior=prior, seed=0,
                                 sigma_y=0.01).astype(np.float64) / 255
            yy = u8.astype(np.float64) / 255
            rec = dict(image=stem, kernel=name, confidence=round(r["confidence"], 3), input=psnr(yy, truth),
                       **{f"share {s:g}": psnr(yy + s * (out - yy), truth) for s in shares})
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            print(json.dumps(rec), flush=True)


def summary(paths: list[Path]) -> None:
    recs = [json.loads(line) for p in paths for line in open(p) if line.strip()]
    keys = [k for k in recs[0] if k.startswith("share ")]
    ok = None
    for k in keys:
        d = np.array([r[k] - r["input"] for r in recs])
        print(f"{k}: {len(d)} rows, gain over the input {d.mean():+.2f} dB, worst {d.min():+.2f}, losses {int((d < 0).sum())}")
        if d.min() >= -0.3:
            ok = k
    print("chosen (the largest share whose worst row loses at most 0.3 dB):", ok)


def main(argv=None) -> None:
    from .blind_select import rows_or_observations

    def extra(ap):
        ap.add_argument("--estimates", required=True, help="the rows of `lab.blind_select estimate` (jsonl)")
        ap.add_argument("--shares", default=",".join(f"{s:g}" for s in SHARES))

    rows_or_observations(__doc__.split("\n")[0], argv, summary, measure, extra)


if __name__ == "__main__":
    main()
