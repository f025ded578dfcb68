"""Faces framed differently (issue 20, item 9): the command line's defaults on UTKFace framing and
on the same faces re-framed (zoomed out and shifted), with the same classical baseline on each.

    python -m lab.reframed_faces DATA_ROOT -o benchmarks/faces/reframed [--images 16]
        [--zoom 1.25] [--max-shift 3] [--tune-images 8] [--threads 1] [--prior faces]
    python -m lab.reframed_faces DATA_ROOT -o unused --images 64 --write DIR   # for restore eval

Re-framing (`reframe`): the 64x64 face reflect-padded by round(64 (zoom - 1) / 2) px on each side
(zoom 1.25: 8 px, 80x80), area-resized back to 64x64 (each output pixel the exact area-weighted mean
of the input pixels it covers), then shifted by (dy, dx) in -max_shift..max_shift drawn from the
file name's sha1, with reflect at the border. Zoom 1 and shift 0 give the face back unchanged.

Tasks on each framing, sigma_y 0.025, every observation saved as 8 bits (`tasks.quantise`), the
same draws (box position, noise) for a face's two framings: `box` (the faces box task of
`benchmarks.tasks`: a 32x32 hole at least 8 px from the edges), `gauss` (the command line's
default kernel, gaussian:3.0: 19x19, std 3 px), `sr4` (bicubic x4 downsampling) and `denoise`.
Each is restored by `restore.inpaint` / `deblur` / `super_resolve` / `denoise` with prior "faces"
(`--prior`: another prior file or run folder, such as a candidate face prior) and everything else
the command line's default (restore.defaults.DEFAULTS, precision "auto"), told the true sigma_y; the
inpainting keeps its observed (noisy) pixels, as the command line does.

Classical side, chosen as the protocol chooses (`choose_and_report.choose`): every baseline of the task
tuned over its grid on the last `--tune-images` faces of the split (UTKFace framing; never
among the faces scored), the one with the best mean PSNR there; then run with that value on
both framings. Scores: PSNR over the whole 64x64 image (box: also inside the hole). Rows go to
OUT/rows.csv (a rerun skips rows already there); the table printed per task: each framing's mean
PSNR, the loss (UTKFace minus re-framed) and each framing's margin over the classical baseline,
with paired per-face 95 % t intervals (`metrics.interval`) of the loss and of the margin difference.
The two framings are different pictures, so the raw PSNRs differ for reasons beyond the method
(a zoomed-out face has more fine detail per pixel); the margins over the same baseline on the same
picture take that out.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import time
from pathlib import Path

import numpy as np

from restore.benchmarks.metrics import interval
from .whole_photo import append_row

FIELDS = ["image", "framing", "shift", "task", "method", "param", "psnr", "psnr_hole", "seconds"]
TASKS = ("box", "gauss", "sr4", "denoise")
SIGMA_Y = 0.025
KERNEL = "gaussian:3.0"  # the command line's default kernel (restore deblur)


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in): row i averages the input pixels that output pixel i covers, each weighted by
    the length of its overlap with [i, i + 1) n_in / n_out (rows sum to 1; n_in == n_out: identity)."""
    r = n_in / n_out
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = i * r, (i + 1) * r
        for j in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
            m[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
    return m / m.sum(1, keepdims=True)


def shift_of(name: str, max_shift: int) -> tuple[int, int]:
    """(dy, dx) in -max_shift..max_shift drawn from the name's sha1."""
    rng = np.random.default_rng(int(hashlib.sha1(name.encode()).hexdigest()[:8], 16))
    dy, dx = (int(v) for v in rng.integers(-max_shift, max_shift + 1, 2))
    return dy, dx


def reframe(x: np.ndarray, zoom: float = 1.25, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The face x (H, W, C) on [0, 1] zoomed out by `zoom` (reflect-padded by round(H (zoom - 1) / 2)
    px, round(W (zoom - 1) / 2) px on each side, area-resized back to (H, W)), then moved by
    shift = (dy, dx) px (down, right) with reflect at the border; the same size and dtype as x."""
    H, W = x.shape[:2]
    ph, pw = round(H * (zoom - 1) / 2), round(W * (zoom - 1) / 2)
    if ph < 0 or pw < 0:
        raise ValueError(f"zoom must be >= 1 (zooming out), got {zoom}")
    p = np.pad(x.astype(np.float64), ((ph, ph), (pw, pw), (0, 0)), mode="reflect")
    z = np.einsum("ij,jkc,lk->ilc", area_matrix(p.shape[0], H), p, area_matrix(p.shape[1], W))
    dy, dx = (int(v) for v in shift)
    s = max(abs(dy), abs(dx))
    if s:
        z = np.pad(z, ((s, s), (s, s), (0, 0)), mode="reflect")[s - dy : s - dy + H, s - dx : s - dx + W]
    return np.clip(z, 0, 1).astype(x.dtype)


def problem(task: str, x, name: str):
    """The `tasks.Case` of face x (1, 3, H, W): the benchmark's box / sr4 / denoise, or the
    gaussian:3.0 blur, each with sigma_y 0.025 and an 8-bit observation; draws seeded by the name."""
    import torch

    from restore.operators import parse_kernel
    from restore.operators import Blur, add_noise

    from restore.benchmarks.tasks import Case, make_case, quantise, task_seed

    if task != "gauss":
        return make_case(task, x, SIGMA_Y, seed=0, image_id=name)
    k = parse_kernel(KERNEL)
    op = Blur(k)
    g = torch.Generator().manual_seed(task_seed(0, "gauss:" + KERNEL, name))
    return Case("gauss", SIGMA_Y, x, op, quantise(add_noise(op.A(x), SIGMA_Y, g)), name, kernel=k)


def run_default(p, prior):
    """The command line's default on p's 8-bit observation (module docstring), (1, 3, H, W) float64."""
    import torch

    import restore

    u8 = np.round(p.y[0].permute(1, 2, 0).double().numpy() * 255).astype(np.uint8)
    kw = {"prior": prior, "sigma_y": SIGMA_Y, "seed": 0, "workers": 1}
    if p.task == "box":
        out = restore.inpaint(u8, p.mask[0, 0].numpy() < 0.5, **kw)
    elif p.task == "gauss":
        out = restore.deblur(u8, KERNEL, **kw)
    elif p.task == "sr4":
        out = restore.super_resolve(u8, 4, **kw)
    else:
        out = restore.denoise(u8, **kw)
    return torch.from_numpy(out.astype(np.float64) / 255).permute(2, 0, 1)[None]


def choose_classical(task: str, tune_faces: list, echo=print) -> tuple[str, object]:
    """(baseline, value): every baseline of `task` tuned on `tune_faces` [(name, x)], the best mean PSNR."""
    from restore.benchmarks.baselines import BASELINES, applicable_baseline, run_baseline, tune
    from restore.benchmarks.metrics import psnr

    probs = [problem(task, x, name) for name, x in tune_faces]
    best = None
    for b in BASELINES:
        if BASELINES[b].anchor or not applicable_baseline(b, task, SIGMA_Y):
            continue
        value, _ = tune(b, probs, psnr)
        mean = float(np.mean([psnr(p.x, run_baseline(b, p, value)[0]) for p in probs]))
        echo(f"  {task}: {b} ({value}) {mean:.2f} dB on {len(probs)} tuning faces")
        if best is None or mean > best[2]:
            best = (b, value, mean)
    return best[0], best[1]


def table(rows: list[dict], classical: dict) -> str:
    """Per task: mean PSNR of each framing, the loss and the margins (module docstring)."""
    from restore.benchmarks.methods import default_spec

    by = {}
    for r in rows:
        by.setdefault((r["task"], r["framing"], r["method"]), {})[r["image"]] = float(r["psnr"])
    out = ["| task | default | faces | PSNR UTKFace | PSNR re-framed | loss (95 % CI) | classical (val-tuned) "
           "| margin UTKFace | margin re-framed | margin difference (95 % CI) |", "|---|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda c: f"{c[0]:+.2f} ({c[1]:+.2f}, {c[2]:+.2f})"  # noqa: E731
    for task in TASKS:
        if task not in classical:
            continue
        c = classical[task]
        d = {f: by.get((task, f, "default"), {}) for f in ("utkface", "reframed")}
        b = {f: by.get((task, f, c), {}) for f in ("utkface", "reframed")}
        faces = sorted(set(d["utkface"]) & set(d["reframed"]) & set(b["utkface"]) & set(b["reframed"]))
        if not faces:
            continue
        mean = lambda t: float(np.mean([t[i] for i in faces]))  # noqa: E731
        loss = interval([d["utkface"][i] - d["reframed"][i] for i in faces])
        marg = {f: [d[f][i] - b[f][i] for i in faces] for f in d}
        diff = interval([u - r for u, r in zip(marg["utkface"], marg["reframed"])])
        out.append(f"| {task} | {default_spec(task)} | {len(faces)} | {mean(d['utkface']):.2f} | {mean(d['reframed']):.2f} "
                   f"| {fmt(loss)} | {c} | {np.mean(marg['utkface']):+.2f} | {np.mean(marg['reframed']):+.2f} | {fmt(diff)} |")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_root", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--split", default="val", choices=["val", "test"])
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--tune-images", type=int, default=8, help="The split's last N faces, which tune the baselines.")
    ap.add_argument("--zoom", type=float, default=1.25)
    ap.add_argument("--max-shift", type=int, default=3)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--prior", default="faces", help="a shipped prior's name, a prior file or a run folder")
    ap.add_argument("--write", type=Path, default=None,
                    help="only write the first --images faces re-framed, as 8-bit PNGs, into this folder (for "
                         "`restore eval`) and stop; -o is not used")
    a = ap.parse_args(argv)
    import torch
    from PIL import Image

    from restore.pipeline import load_prior as _prior

    from restore.benchmarks.baselines import run_baseline
    from restore.benchmarks.metrics import psnr

    torch.set_num_threads(a.threads)
    folder = a.data_root / "faces" / a.split
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if a.images < 1 or a.tune_images < 1 or len(files) < a.images + a.tune_images:
        raise SystemExit(f"{folder}: {len(files)} faces: need --images + --tune-images, each at least 1")
    load = lambda f: np.asarray(Image.open(f).convert("RGB")).astype(np.float64) / 255  # noqa: E731
    if a.write is not None:
        a.write.mkdir(parents=True, exist_ok=True)
        for f in files[: a.images]:
            z = reframe(load(f), a.zoom, shift_of(f.name, a.max_shift))
            Image.fromarray(np.round(z * 255).clip(0, 255).astype(np.uint8)).save(a.write / (f.stem + ".png"))
        print(f"{a.write}: {min(a.images, len(files))} re-framed faces")
        return
    tensor = lambda x: torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].float()  # noqa: E731
    tasks = [t for t in a.tasks.split(",") if t]
    print(f"choosing the classical baselines on the last {a.tune_images} {a.split} faces (UTKFace framing)")
    tune_faces = [(f.name, tensor(load(f))) for f in files[-a.tune_images :]]
    classical = {}
    for task in tasks:
        name, value = choose_classical(task, tune_faces)
        classical[task] = f"{name}@{value:g}" if value is not None else name
    print("classical:", ", ".join(f"{t} {c}" for t, c in classical.items()), flush=True)

    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "rows.csv"
    rows = list(csv.DictReader(path.open())) if path.exists() else []
    done = {(r["image"], r["framing"], r["task"], r["method"]) for r in rows}
    prior = _prior(a.prior, "auto")  # what prior=NAME loads: the command line's precision
    print(f"{a.prior} prior at precision {getattr(prior, 'precision', 'fp32')}", flush=True)
    for f in files[: a.images]:
        x = load(f)
        shift = shift_of(f.name, a.max_shift)
        for framing, img in (("utkface", x), ("reframed", reframe(x, a.zoom, shift))):
            for task in tasks:
                p = problem(task, tensor(img), f.name)
                name, _, value = classical[task].partition("@")
                for method in ("default", classical[task]):
                    if (f.name, framing, task, method) in done:
                        continue
                    t0 = time.perf_counter()
                    est = run_default(p, prior) if method == "default" else run_baseline(name, p, float(value) if value else None)[0]
                    secs = time.perf_counter() - t0
                    hole = ""
                    if task == "box":
                        m = p.mask[0, 0] < 0.5
                        err = ((est.double().clamp(0, 1) - p.x.double())[0][:, m] ** 2).mean()
                        hole = f"{10 * np.log10(1 / float(err)):.4f}"
                    row = {"image": f.name, "framing": framing, "shift": f"{shift[0]},{shift[1]}" if framing == "reframed" else "0,0",
                           "task": task, "method": method, "param": "" if method == "default" else value, "psnr": f"{psnr(p.x, est):.4f}", "psnr_hole": hole,
                           "seconds": f"{secs:.2f}"}
                    append_row(path, FIELDS, row)
                    rows.append(row)
                    print(f"{f.name} {framing} {task} {method}: {row['psnr']} dB {secs:.1f} s", flush=True)
    print(table(rows, classical))


if __name__ == "__main__":
    main()
