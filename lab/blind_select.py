"""The parametric alternative of `estimate_kernel` on whole photos: what a selection rule does, scored
without estimating twice.

`estimate` runs the estimate once per photo and blur (observations as `lab.blind_kernels` makes
them: the same seeds for the same --kernels list) and writes one JSON line per row with everything
the rule decides from (`restore.operators.blind._estimate_parts`): the confidence, the named
estimate and its residual ratio, and for a free-form estimate its Gaussian and disk fits
(`parametric_fits`, whatever their similarity) with their residual ratios; for the named estimate,
each fit and the identity also Levin's error ratio through the fixed deconvolution
(`lab.blind_kernels.tikhonov`). `--param edges 0 --param per_scale 0 --param parametric 0` is
main's estimator (before 2026-12-05).

`apply` turns those rows into `lab.blind_kernels`-style rows (for `lab.blind_summary`) under a rule:
the estimate or a parametric fit (`choose_kernel`: fits of similarity >= F, margin M), kept where
its spread >= S, its ratio <= R and the confidence >= C (`--main`: main's rule, ratio <= 1.05, no
spread bound, no parametric stage; `--no-rescue`: a fit replaces only an estimate that passes
those bounds itself; `--defocus gated|ungated`: the spectral stage of `estimate_kernel` first, on the observation,
as `estimate_kernel` runs it; `--shake R LO HI`: a refused free-form estimate shaped like a camera shake
is kept, `found_shake`; `--lens`: where nothing usable is found, the spectral lens stage); with --restore the chosen kernel goes through `restore.deblur`'s
default (with --true also the true kernel), each restoration cached by photo, blur and kernel in
--cache, so rules that choose the same kernel share it. `grid` scores rules on the error ratio
and the sharp photos without restoring.

    python -m lab.blind_select estimate ../shared/data/natural/val --images 8 --kernels ... --out rows.jsonl
    python -m lab.blind_select apply rows.jsonl --folder ... --kernels ... --rule C R S M F --restore [--true] \
        --cache c.json -o rows.csv
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import restore.operators.blind as B
from lab.blind_kernels import blurred, kernels, psnr, sse, tikhonov

MAIN_RULE = (0.5, 1.05, 0.0)


def _photos(folder: str, images: int, photos: str | None) -> list[Path]:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".png"))
    return [p for p in files if p.stem in photos.split(",")] if photos else files[:images]


def observation_args(p: argparse.ArgumentParser, only: str | None = "IMAGE:KERNEL pairs") -> None:
    """The options that name the observations (`_observations`), for every script that makes them
    (--only with this help; None: no --only)."""
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--photos", default=None, help="comma-separated photo names (stems) instead of the first --images")
    p.add_argument("--kernels", required=True, help="comma-separated, in order (the order sets the seeds)")
    if only:
        p.add_argument("--only", default=None, help=only)
    p.add_argument("--jpeg", type=int, default=None, help="observations saved as JPEG of this quality")


def rows_or_observations(description: str, argv, summary, run, extra=None) -> None:
    """The main of a script that summarises its --rows files, or else makes observations (FOLDER,
    -o OUT, `observation_args` and what `extra(parser)` adds) and calls run(args) on one thread."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--rows", nargs="+", type=Path)
    r, _ = ap.parse_known_args(argv)
    if r.rows:
        return summary(r.rows)
    ap.add_argument("folder")
    ap.add_argument("-o", "--out", type=Path, required=True)
    observation_args(ap, only=None)
    if extra:
        extra(ap)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    run(a)


def _observations(a):
    """(index, photo, blur name, true kernel, truth, observation) in lab.blind_kernels's order and seeds."""
    ks = kernels(Path(a.data))
    ks = {n: ks[n] for n in a.kernels.split(",")}
    for i, f in enumerate(_photos(a.folder, a.images, a.photos)):
        x = np.asarray(Image.open(f).convert("RGB"), dtype=np.float64) / 255
        for j, (name, k) in enumerate(ks.items()):
            if a.only and f"{f.stem}:{name}" not in a.only.split(","):
                continue
            m = k.shape[0] // 2
            yield f.stem, name, k, (x[m:x.shape[0] - m, m:x.shape[1] - m] if m else x), blurred(x, k, 1000 * i + j, getattr(a, "jpeg", None))


def estimate(a):
    params = {n: (int(v) if n in ("iters", "crop", "max_size") else bool(int(v)) if n in ("per_scale", "parametric")
                  else float(v)) for n, v in a.param}
    min_sim = B.MIN_FIT_SIMILARITY
    B.MIN_FIT_SIMILARITY = -1.0  # every fit recorded; the rule applies its own bound
    try:
        for stem, name, k, truth, y in _observations(a):
            t0 = time.perf_counter()
            p = B._estimate_parts(torch.from_numpy(y).permute(2, 0, 1), **params)
            sec = time.perf_counter() - t0
            err = lambda ke: (sse(tikhonov(y, ke), truth) / sse(tikhonov(y, k), truth)) if name != "none" else float("nan")
            row = dict(image=stem, kernel=name, confidence=p["confidence"], family=p["family"], parameter=p["parameter"],
                       ratio=p["ratio"], raw_spread=B.kernel_spread(p["raw"]), spread=B.kernel_spread(p["kernel"]),
                       error_ratio=err(p["kernel"].numpy()), none_error_ratio=err(np.ones((1, 1))),
                       fits={fam: [f[0], f[1], f[3], err(f[2].numpy())] for fam, f in p["fits"].items()},
                       kernel_array=p["kernel"].tolist(), seconds=sec)
            print(json.dumps({key: (round(v, 4) if isinstance(v, float) else v) for key, v in row.items()
                              if key != "kernel_array"}), flush=True)
            with open(a.out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
    finally:
        B.MIN_FIT_SIMILARITY = min_sim


def _kernel_of(family: str, param: float) -> torch.Tensor:
    """The Gaussian or disk kernel of `parametric_fits` with this parameter."""
    from restore.operators.kernels import gaussian_of_std

    if family == "gaussian":
        return gaussian_of_std(param).double()
    return B.disk_kernel(float(param))


def choose(row: dict, rule=None, margin: float | None = None, min_sim: float | None = None, main: bool = False,
           rescue: bool = True, shake: tuple | None = None):
    """(family, parameter, kernel or None, ratio, error ratio) that the rule keeps for a row of `estimate`:
    kernel None where the photo is left as it is. rescue=False: a fit may replace only an estimate
    that the gate (ratio, spread, confidence) accepts on its own. shake (R, LO, HI): a free-form
    estimate the gate refuses is kept as it is where it looks like a camera shake (`B.found_shake`
    with residual bound R and its largest tap's share on [LO, HI]) and the confidence is >= C (or
    shake's fourth value)."""
    c, r, s = MAIN_RULE if main else rule
    if not rescue and (row["family"] == "none" or row["ratio"] > r or row["spread"] < s or row["confidence"] < c):
        min_f = B.MIN_FIT_SIMILARITY if min_sim is None else min_sim
        kern = torch.tensor(row["kernel_array"], dtype=torch.float64)
        fits = {fam: f for fam, f in row.get("fits", {}).items()
                if f[0] >= min_f and B.kernel_spread(_kernel_of(fam, f[1])) >= s}
        if shake and row["family"] == "free-form" and row["confidence"] >= (shake[3] if len(shake) > 3 else c) and \
                B.found_shake(kern, row["ratio"], fits, max_ratio=shake[0], taps=tuple(shake[1:3])):
            return "free-form", row["parameter"], kern, row["ratio"], row["error_ratio"]
        return "none", 0.0, None, row["ratio"], row["none_error_ratio"]
    min_sim = B.MIN_FIT_SIMILARITY if min_sim is None else min_sim
    kern = torch.tensor(row["kernel_array"], dtype=torch.float64)
    fits = {} if main else {fam: (f[0], f[1], fam, f[2]) for fam, f in row.get("fits", {}).items()
                            if f[0] >= min_sim and B.kernel_spread(_kernel_of(fam, f[1])) >= s}
    family, param, chosen, ratio = B.choose_kernel(row["family"], row["parameter"], "estimate", row["ratio"], fits, margin)
    err = row["error_ratio"] if chosen == "estimate" else row["fits"][chosen][3]
    if chosen != "estimate":
        kern = _kernel_of(family, param)
    if family == "none" or ratio > r or B.kernel_spread(kern) < s or row["confidence"] < c:
        return "none", 0.0, None, ratio, row["none_error_ratio"]
    return family, param, kern, ratio, err


def _load(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def grid(a):
    """Per margin and fit-similarity bound: sharp photos used, and the used rows' error ratios against
    the identity's (the rows where the kernel used is worse than doing nothing, by Levin's measure)."""
    rows = _load(a.rows)
    for f in a.min_sims:
        for m in a.margins:
            used = [(r, choose(r, (a.c, a.r, a.s), m, f)) for r in rows]
            sharp = sum(1 for r, ch in used if r["kernel"] == "none" and ch[2] is not None)
            blur = [(r, ch) for r, ch in used if r["kernel"] != "none"]
            worse = [(r["image"], r["kernel"], ch[0], ch[1], round(ch[4], 2), round(r["none_error_ratio"], 2))
                     for r, ch in blur if ch[2] is not None and ch[4] > r["none_error_ratio"]]
            er = np.array([ch[4] for _, ch in blur])
            print(f"F {f:.2f} M {m:+.3f}: sharp used {sharp}, blurred used {sum(ch[2] is not None for _, ch in blur)}"
                  f"/{len(blur)}, error ratio {er.mean():.2f} (< 2 {np.mean(er < 2):.0%}); used and worse than "
                  f"the identity: {len(worse)} {worse}")


def apply(a):
    import restore

    rows = _load(a.rows)
    cache = json.loads(Path(a.cache).read_text()) if a.cache and Path(a.cache).exists() else {}
    prior = restore.load_prior("natural") if a.restore else None
    obs = None
    out = []
    for row in rows:
        rule = None if a.main else tuple(a.rule[:3])
        if (a.restore or a.defocus or a.lens) and obs is None:
            a.obs.only = ",".join(f"{r['image']}:{r['kernel']}" for r in rows)
            obs = {(s, n): (k, t, y) for s, n, k, t, y in _observations(a.obs)}
        found = None
        if a.defocus:  # the spectral stage of estimate_kernel, before the L0 estimate
            k, truth, y = obs[(row["image"], row["kernel"])]
            found = B.defocus_estimate(torch.from_numpy(y).permute(2, 0, 1), gate=a.defocus == "gated")
            if found is not None and found.confidence < (B.MIN_CONFIDENCE if a.main else a.rule[0]):
                found = None  # refused by the confidence bound, as KernelEstimate.usable does
        if found is not None:
            family, param, kern, ratio = "disk", found.parameter, found.kernel, found.residual_ratio
            err = sse(tikhonov(y, kern.numpy()), truth) / sse(tikhonov(y, k), truth) if row["kernel"] != "none" \
                else float("nan")
        else:
            family, param, kern, ratio, err = choose(row, rule, None if a.main else a.rule[3],
                                                     None if a.main else a.rule[4], a.main, not a.no_rescue, a.shake)
        if a.lens and kern is None:  # the spectral lens stage, where nothing usable was found
            k, truth, y = obs[(row["image"], row["kernel"])]
            lens = B.lens_estimate(torch.from_numpy(y).permute(2, 0, 1))
            if lens is not None and lens.confidence >= (B.MIN_CONFIDENCE if a.main else a.rule[0]):
                found = lens
                family, param, kern, ratio = "gaussian", lens.parameter, lens.kernel, lens.residual_ratio
                err = sse(tikhonov(y, kern.numpy()), truth) / sse(tikhonov(y, k), truth) if row["kernel"] != "none" \
                    else float("nan")
        share = 1.0  # a shake kept under the rule's confidence bound: restored part of the way
        if a.low_share and found is None and family == "free-form" and row["confidence"] < \
                (B.MIN_CONFIDENCE if a.main else a.rule[0]):
            share = a.low_share
        rec = dict(image=row["image"], kernel=row["kernel"], family=family, parameter=round(param, 2),
                   confidence=round(found.confidence if found else row["confidence"], 3), residual_ratio=round(ratio, 3), error_ratio=round(err, 3)
                   if row["kernel"] != "none" else "", spread=round(B.kernel_spread(kern), 3) if kern is not None else 0.0)
        rec["stage"] = ("spectrum" if found.family == "disk" else "lens") if found is not None else "estimate"
        rec["share"] = share
        if a.restore:
            k, truth, y = obs[(row["image"], row["kernel"])]
            u8 = np.round(y * 255).astype(np.uint8)
            f64 = lambda e: e.astype(np.float64) / 255
            rec["psnr_input"] = round(psnr(f64(u8), truth), 3)
            if kern is None:
                rec["psnr_blind"] = rec["psnr_input"]
            else:
                key = f"{row['image']}|{row['kernel']}|{hashlib.sha1(kern.numpy().tobytes()).hexdigest()[:16]}"
                key += f"|share {share:g}" if share < 1 else ""
                if key not in cache:
                    k_ = B.KernelEstimate(kern, family, param, row["confidence"], ratio, share) if share < 1 else kern
                    cache[key] = round(psnr(f64(restore.deblur(u8, k_, prior=prior, seed=0, sigma_y=0.01)), truth), 3)
                rec["psnr_blind"] = cache[key]
            if a.true and row["kernel"] != "none":
                key = f"{row['image']}|{row['kernel']}|true"
                if key not in cache:
                    cache[key] = round(psnr(f64(restore.deblur(u8, torch.from_numpy(k), prior=prior, seed=0,
                                                                 sigma_y=0.01)), truth), 3)
                rec["psnr_true_kernel"] = cache[key]
            elif a.true:
                rec["psnr_true_kernel"] = rec["psnr_input"]
            if a.cache:
                Path(a.cache).write_text(json.dumps(cache, indent=0))
        rec["similarity"] = round(B.kernel_similarity(kern if kern is not None else torch.ones(1, 1, dtype=torch.float64),
                                                      torch.from_numpy(kernels(Path(a.obs.data))[row["kernel"]])), 3)
        print(" ".join(f"{k_}={v}" for k_, v in rec.items()), flush=True)
        out.append(rec)
    if a.out:
        with open(a.out, "w", newline="") as fh:
            wr = csv.DictWriter(fh, fieldnames=list(out[0]))
            wr.writeheader()
            wr.writerows(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("estimate")
    e.add_argument("folder")
    observation_args(e)
    e.add_argument("--out", required=True)
    e.add_argument("--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    g = sub.add_parser("grid")
    g.add_argument("rows")
    g.add_argument("--margins", type=float, nargs="+", default=[-1.0, 0.0, 0.01, 0.02, 0.05, 1.0])
    g.add_argument("--min-sims", type=float, nargs="+", default=[0.0, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9])
    g.add_argument("--c", type=float, default=B.MIN_CONFIDENCE)
    g.add_argument("--r", type=float, default=B.MAX_RESIDUAL_RATIO)
    g.add_argument("--s", type=float, default=B.MIN_SPREAD)
    p = sub.add_parser("apply")
    p.add_argument("rows")
    p.add_argument("--rule", type=float, nargs=5, metavar=("C", "R", "S", "M", "F"),
                   default=[B.MIN_CONFIDENCE, B.MAX_RESIDUAL_RATIO, B.MIN_SPREAD, B.FREE_FORM_MARGIN, B.MIN_FIT_SIMILARITY])
    p.add_argument("--main", action="store_true", help="main's rule (C 0.5, R 1.05, no spread bound, no parametric stage)")
    p.add_argument("--no-rescue", action="store_true",
                   help="a fit replaces only an estimate that the gate accepts on its own")
    p.add_argument("--defocus", choices=("gated", "ungated"), default=None,
                   help="the spectral defocus stage first (`defocus_estimate`, computed on the observation), "
                        "its disk through the residual gate or not")
    p.add_argument("--lens", action="store_true",
                   help="where nothing usable is found, the spectral lens stage (`lens_estimate`; part of "
                        "estimate_kernel since 2026-12-05 night, with the disk guard of `find_lens_blur`)")
    p.add_argument("--shake", type=float, nargs="+", default=None, metavar="R LO HI [C]",
                   help="with --no-rescue: keep a refused free-form estimate shaped like a shake (`found_shake`: "
                        "residual ratio <= R, its largest tap's share of the mass on [LO, HI]; confidence >= C, "
                        "default the rule's)")
    p.add_argument("--low-share", type=float, default=None, metavar="S",
                   help="with --shake ... C under the rule's confidence: a shake kept with a confidence under the "
                        "rule's is restored S of the way from the photo (`LOW_CONFIDENCE_SHARE`)")
    p.add_argument("--restore", action="store_true")
    p.add_argument("--true", action="store_true")
    p.add_argument("--cache", default=None)
    p.add_argument("-o", "--out", default=None)
    p.add_argument("--folder", required=True, help="the photos' folder (as for estimate)")
    observation_args(p, only=None)  # apply observes the rows' own pairs
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.cmd == "estimate":
        estimate(a)
    elif a.cmd == "grid":
        grid(a)
    else:
        a.obs = argparse.Namespace(data=a.data, folder=a.folder, images=a.images, photos=a.photos, kernels=a.kernels,
                                   only=None, jpeg=a.jpeg)
        apply(a)


if __name__ == "__main__":
    main()
