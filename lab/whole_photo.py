"""Whole photos at native size: object-sized holes filled by `restore.inpaint` against biharmonic.

    python -m lab.whole_photo DATA_ROOT --split val -o OUT [--images 8]
        [--task holes|freeform|sr4|deblur|motion|denoise] [--configs ddrm:15:0.3:1,ddrm:50:1:1] [--threads 2]
        [--workers N] [--precision fp32|bf16] [--base harmonic] [--lpips BACKBONE,LINEAR]

Each photo of natural/{val,test/CBSD68} gets two boxes of 48-128 px per side (drawn from the
photo's name, so every configuration and every rerun sees the same holes), as a user marks
objects. The observation is the photo itself (8-bit, noiseless) with the boxes missing. A
configuration is METHOD:STEPS:STRENGTH:SAMPLES[:LEVELS], run through `restore.inpaint` exactly as
the command line runs it (regions of interest, warm start from the harmonic fill at STRENGTH, the
mean of SAMPLES draws, sigma_y estimated from the photo as the command line does, LEVELS: the
coarse-to-fine pyramid of --levels, default 1); `biharmonic` is
scikit-image's inpaint_biharmonic on the whole photo, `harmonic` the membrane fill that the warm
start begins from (`restore.starts.harmonic_fill`); any other fill of `restore.benchmarks.baselines`
runs as NAME or NAME@VALUE (NAME@grid: every value of its grid), e.g. the classical anchors of
issue 32 (`telea@3`, `navier_stokes@3`, `fsr_best`, `fsr_fast`, `patchmatch@3`; they need
`pip install 'restore[anchors]'`).

--task freeform: each photo gets one of the free-form masks of DATA_ROOT/masks (DDRM's lolcat and
lorem text, DDNM's blobs and box, RePaint's 2x2 lattice; white/1 = KNOWN there), chosen from the
photo's name (sha1 mod the number of masks, the masks sorted by name), stretched to the photo with
nearest-neighbour resampling (256x256 -> 481x321: each mask's layout and hole fraction are kept;
RePaint's regular lattice, one known pixel per 2x2, becomes an irregular lattice of 1-2 px
lines) and turned into the fill convention (True = fill). Configurations and scores as for holes.

--task deblur / motion / shake / denoise: the whole photo blurred by the command line's default kernel
(gaussian:3.0) or a 61-tap camera shake (motion:0.5, drawn from the photo's name), or not at all,
or (shake) by one of Levin et al.'s 8 real shakes (chosen by the name) from the whole frame with the
border of half the kernel cut away, as a camera blurs (no artificial boundary),
plus noise of std --sigma (drawn from the name), saved as 8 bits; scores over the whole photo. A
configuration is then METHOD:STEPS:STRENGTH:SAMPLES run through `restore.deblur` / `restore.denoise`
with the true sigma_y, or a classical baseline of `restore.benchmarks.baselines` as NAME@VALUE
(NAME@grid: every value of its grid, for choosing on val), or `observed` (y itself).

Scores inside the holes: PSNR, SSIM (the mean of scikit-image's SSIM map over hole pixels) and
low-pass PSNR (both images blurred by a Gaussian of std 4 px first: the fill's colour and
shading, where blotches show); whole-image PSNR; seconds per image and per megapixel (wall
clock, this process's threads). With --lpips BACKBONE,LINEAR (two weight files on disk,
`restore.benchmarks.lpips.load_lpips`: a torchvision AlexNet or VGG16 state dict and the lpips
package's linear layers) also the columns `lpips` (the whole photo) and, for holes and freeform,
`lpips_hole` (the hole's bounding box, only the hole's pixels counted; `lpips_in`).
Rows go to OUT/rows.csv (one per photo and configuration; a rerun skips rows already there) and
the summary, with paired per-photo 95 % t-intervals of each configuration's margin over
biharmonic, to stdout.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import math
import time
from pathlib import Path

import numpy as np

from restore.benchmarks.metrics import interval

FIELDS = ["image", "config", "psnr_hole", "ssim_hole", "lowpass_hole", "psnr_whole", "texture_hole", "swd_hole", "niqe",
          "seconds", "megapixels"]
LPIPS_FIELDS = ["lpips", "lpips_hole"]  # with --lpips only


def append_row(path: Path, fields: list[str], row: dict) -> None:
    """Append one row to the CSV file `path` (its header first when the file is new): a rerun
    skips what is there. A file written before a field was added keeps its own header's fields."""
    new = not path.exists()
    if not new:
        with path.open(newline="") as fh:
            fields = next(csv.reader(fh), None) or fields
    with path.open("a", newline="") as fh:
        w = csv.DictWriter(fh, fields, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)


def photos(root: Path, split: str) -> list[Path]:
    folder = root / "natural" / ("val" if split == "val" else "test/CBSD68")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"{folder}: no photos")
    return files


def holes(name: str, h: int, w: int, count: int = 2, lo: int = 48, hi: int = 128) -> np.ndarray:
    """(h, w) bool, True = fill: `count` boxes with sides in [lo, hi], placed from the name's sha1."""
    rng = np.random.default_rng(int(hashlib.sha1(name.encode()).hexdigest()[:8], 16))
    fill = np.zeros((h, w), bool)
    for _ in range(count):
        bh, bw = (int(v) for v in rng.integers(lo, hi + 1, 2))
        bh, bw = min(bh, h - 2), min(bw, w - 2)
        t, l = int(rng.integers(1, h - bh)), int(rng.integers(1, w - bw))
        fill[t : t + bh, l : l + bw] = True
    return fill


MASK_SUFFIXES = (".npy", ".png")


def mask_files(root: Path) -> list[Path]:
    """The free-form masks of DATA_ROOT/masks (.npy and .png), sorted by name."""
    folder = root / "masks"
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in MASK_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise SystemExit(f"{folder}: no masks (.npy, .png)")
    return files


def load_known(path: Path) -> np.ndarray:
    """(h, w) bool, True = KNOWN, of a mask file where white / 1 = known (the data's convention).
    .npy: a 2-D (or (h, w, 1)) array of bool, of integers 0/1 or 0..255 (known: > 127 when the
    maximum exceeds 1), or of floats on [0, 1] (known: > 0.5); anything else is refused. An image
    file: known where every colour channel is white (> 127; alpha ignored)."""
    from PIL import Image

    path = Path(path)
    if path.suffix.lower() == ".npy":
        a = np.load(path, allow_pickle=False)
        if a.ndim == 3 and a.shape[-1] == 1:
            a = a[..., 0]
        if a.ndim != 2 or a.size == 0:
            raise ValueError(f"{path}: a mask array must be (h, w), got shape {a.shape}")
        if a.dtype == np.bool_:
            return a.copy()
        if np.issubdtype(a.dtype, np.integer):
            if a.min() < 0 or a.max() > 255:
                raise ValueError(f"{path}: integer mask values must lie in 0..255, got {a.min()}..{a.max()}")
            return a > (127 if a.max() > 1 else 0)
        if np.issubdtype(a.dtype, np.floating):
            if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
                raise ValueError(f"{path}: float mask values must lie on [0, 1]")
            return a > 0.5
        raise ValueError(f"{path}: unsupported mask dtype {a.dtype}")
    im = Image.open(path)
    a = np.asarray(im.convert("L") if im.mode in ("1", "L", "LA", "I", "I;16") else im.convert("RGB"))
    return (a > 127).all(-1) if a.ndim == 3 else a > 127


def freeform(name: str, h: int, w: int, masks: list[Path]) -> tuple[np.ndarray, str]:
    """((h, w) bool, True = fill; the mask's file name): the mask of `masks` that the name's sha1
    picks, stretched to (h, w) by nearest-neighbour resampling, known pixels turned to fill = False."""
    from PIL import Image

    path = masks[int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % len(masks)]
    known = np.asarray(Image.fromarray(load_known(path).astype(np.uint8) * 255).resize((w, h), Image.NEAREST)) > 127
    fill = ~known
    if not fill.any() or fill.all():
        raise ValueError(f"{path.name} stretched to {h}x{w}: nothing to fill or nothing known")
    return fill, path.name


def fill_mask(task: str, name: str, h: int, w: int, masks: list[Path] | None = None) -> np.ndarray:
    """The pixels a task scores (True): the holes, the free-form mask's fill, or the whole photo."""
    if task == "holes":
        return holes(name, h, w)
    if task == "freeform":
        return freeform(name, h, w, masks)[0]
    return np.ones((h, w), bool)


def scores(x: np.ndarray, est: np.ndarray, fill: np.ndarray, perceptual: bool = True, lpips_net=None) -> dict:
    """PSNR, SSIM and low-pass PSNR inside `fill` (module docstring) and the whole photo's PSNR;
    with `perceptual` also, inside `fill`, the texture ratio and the sliced Wasserstein distance
    (x 1e3) to the truth, and the whole estimate's NIQE (benchmarks/niqe_natural.npz), all from
    restore.benchmarks.perceptual; with `lpips_net` (`load_lpips`) the whole photo's LPIPS and,
    when `fill` is not every pixel, LPIPS in the hole (`lpips_in`)."""
    from scipy.ndimage import gaussian_filter
    from skimage.metrics import structural_similarity

    def psnr(mse):
        return 10 * math.log10(1 / max(float(mse), 1e-12))

    est = np.clip(est, 0, 1)
    low = [np.stack([gaussian_filter(a[..., c], 4.0) for c in range(a.shape[-1])], -1) for a in (x, est)]
    _, smap = structural_similarity(x, est, data_range=1.0, channel_axis=-1, full=True)
    out = {"psnr_hole": psnr(((est - x)[fill] ** 2).mean()), "ssim_hole": float(smap[fill].mean()),
           "lowpass_hole": psnr(((low[1] - low[0])[fill] ** 2).mean()), "psnr_whole": psnr(((est - x) ** 2).mean())}
    if perceptual:
        from restore.benchmarks.perceptual import natural_niqe_model, niqe, sliced_wasserstein, texture_ratio

        out.update(texture_hole=texture_ratio(est, x, fill), swd_hole=1e3 * sliced_wasserstein(est, x, fill),
                   niqe=niqe(est, natural_niqe_model()))
    if lpips_net is not None:
        from restore.benchmarks.lpips import lpips, lpips_in

        out["lpips"] = lpips(est, x, lpips_net)
        if not fill.all():
            out["lpips_hole"] = lpips_in(est, x, lpips_net, fill)
    return out


def parse_config(spec: str) -> dict:
    """METHOD:STEPS:STRENGTH:SAMPLES[:LEVELS][:KEY=VALUE ...] as the API's keywords (levels only
    when given; KEY=VALUE: the solver's own options, e.g. eta=0.5 for DDRM, as method_options;
    boundary=reflect|periodic: restore.deblur's border model; look=faithful|natural: the API's look,
    which is faithful here unless given, whatever the command's default)."""
    from restore.starts import check_strength

    from restore.benchmarks.methods import _value

    parts = [q for q in spec.split(":") if "=" not in q]
    options = dict(q.split("=", 1) for q in spec.split(":") if "=" in q)
    if len(parts) not in (4, 5):
        raise SystemExit(f"bad configuration {spec!r}: use METHOD:STEPS:STRENGTH:SAMPLES[:LEVELS][:KEY=VALUE]")
    method, steps, strength, samples = parts[:4]
    cfg = {"method": method, "steps": int(steps), "strength": check_strength(strength), "samples": int(samples)}
    if "boundary" in options:  # restore.deblur's own keyword (the border model), not the solver's
        cfg["boundary"] = options.pop("boundary")
    cfg["look"] = options.pop("look", "faithful")  # the API's keyword; the rows before it existed are faithful
    if options:
        cfg["method_options"] = {k: _value(v) for k, v in options.items()}
    return cfg if len(parts) == 4 else {**cfg, "levels": int(parts[4])}


def sr_photo(x: np.ndarray, scale: int = 4) -> np.ndarray:
    """The photo (H, W, ...) as x4 super-resolution restores it: sides cut to multiples of the scale."""
    return x[: x.shape[0] // scale * scale, : x.shape[1] // scale * scale]


def super_resolve_one(x: np.ndarray, spec: str, prior, scale: int = 4, workers: int | None = None) -> np.ndarray:
    """SR x4 of the photo's bicubic (antialiased) downsampling through the same operator the
    command line inverts, saved as 8 bits; `bicubic` interpolates, `backprojection` is the
    benchmark's baseline at step 1 (`baselines.backproject`, the warm start's back-projected bicubic);
    another sr4 baseline of `restore.benchmarks.baselines` runs as NAME or NAME@VALUE (`lanczos`,
    `backprojection@0.5`)."""
    import torch

    import restore
    from restore.operators import Downsample

    from restore.benchmarks.baselines import BASELINES, backproject
    from restore.benchmarks.tasks import quantise

    op = Downsample(scale, "bicubic")
    y = quantise(op.A(torch.from_numpy(x).permute(2, 0, 1)[None]))  # an 8-bit file, as a user's
    if spec == "bicubic":
        est = torch.nn.functional.interpolate(y, size=x.shape[:2], mode="bicubic", align_corners=False)
    elif spec == "backprojection":
        est = backproject(op, y, x.shape[:2], 1.0).double()
    elif spec.partition("@")[0] in BASELINES:  # another baseline of restore.benchmarks.baselines, NAME[@VALUE]
        from restore.benchmarks.baselines import run_baseline
        from restore.benchmarks.tasks import Case

        name, _, value = spec.partition("@")
        xt = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]
        est = run_baseline(name, Case("sr4", 0.0, xt, op, y, "", scale=scale), float(value) if value else None)[0].double()
    else:
        u8 = np.round(y[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        return restore.super_resolve(u8, scale, prior=prior, seed=0, workers=workers,
                                     **parse_config(spec)).astype(np.float64) / 255
    return est[0].permute(1, 2, 0).clamp(0, 1).numpy()


DEGRADATIONS = ("deblur", "motion", "shake", "denoise")
FILLS = ("holes", "freeform")  # inpainting tasks: scored inside the filled pixels


def degrade(x: np.ndarray, task: str, sigma: float, name: str, kernels: Path = Path("../shared/data/kernels")):
    """The `tasks.Case` of a photo x (H, W, 3) for a DEGRADATIONS task (module docstring)."""
    import torch

    from restore.plan import COMMANDS
    from restore.operators import parse_kernel
    from restore.operators import add_noise

    from restore.benchmarks.tasks import Case

    seed = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)
    g = torch.Generator().manual_seed(seed)
    if task == "shake":  # one of Levin et al.'s 8 shakes, blurred from the whole frame, the border cut
        from scipy.signal import fftconvolve

        k = np.load(kernels / "levin09.npz")[f"k{1 + seed % 8}"]
        m = k.shape[0] // 2
        b = np.stack([fftconvolve(x[..., c], k, mode="same") for c in range(3)], -1)[m:-m, m:-m]
        xt = torch.from_numpy(np.ascontiguousarray(x[m:-m, m:-m])).permute(2, 0, 1)[None]
        yt = torch.from_numpy(np.ascontiguousarray(b)).permute(2, 0, 1)[None]
        y = torch.round(add_noise(yt, sigma, g).clamp(0, 1) * 255) / 255
        kernel = torch.from_numpy(k)
        return Case("gauss", sigma, xt, COMMANDS["deblur"].operator({"kernel": kernel}), y, name, kernel=kernel)
    kernel = {"deblur": "gaussian:3.0", "motion": f"motion:0.5:{seed % 1000}"}.get(task)
    kernel = parse_kernel(kernel) if kernel else None
    op = COMMANDS["denoise" if kernel is None else "deblur"].operator({"kernel": kernel})
    xt = torch.from_numpy(x).permute(2, 0, 1)[None]
    y = torch.round(add_noise(op.A(xt), sigma, g).clamp(0, 1) * 255) / 255  # an 8-bit file, as a user's
    return Case("denoise" if kernel is None else "gauss", sigma, xt, op, y, name, kernel=kernel)


def expand(specs: list[str]) -> list[str]:
    """NAME@grid -> NAME@v for every value v of baseline NAME's grid."""
    from restore.benchmarks.baselines import BASELINES

    out = []
    for s in specs:
        name, _, value = s.partition("@")
        out += [f"{name}@{v:g}" for v in BASELINES[name].grid] if value == "grid" else [s]
    return out


def restore_degraded(p, spec: str, prior, task: str, workers: int | None = None) -> np.ndarray:
    """A configuration (module docstring) on the observation of `degrade`."""
    import restore

    from restore.benchmarks.baselines import run_baseline

    if spec == "observed":
        est = p.y
    elif "@" in spec:
        name, _, value = spec.partition("@")
        est = run_baseline(name, p, float(value))[0]
    else:
        u8 = np.round(p.y[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        fn = restore.denoise if task == "denoise" else lambda im, **kw: restore.deblur(im, p.kernel, **kw)
        return fn(u8, prior=prior, seed=0, sigma_y=p.sigma_y, workers=workers, **parse_config(spec)).astype(np.float64) / 255
    return est[0].permute(1, 2, 0).clamp(0, 1).double().numpy()


def restore_one(x: np.ndarray, fill: np.ndarray, spec: str, prior, workers: int | None = None) -> np.ndarray:
    """A configuration (module docstring) on the photo x with the pixels `fill` missing: `biharmonic`,
    `harmonic`, a fill of `restore.benchmarks.baselines` as NAME or NAME@VALUE (`telea@3`,
    `fsr_best`, `patchmatch@grid`: the issue 32 anchors, `pip install 'restore[anchors]'`) or
    METHOD:STEPS:STRENGTH:SAMPLES[:LEVELS] through `restore.inpaint`."""
    if spec == "biharmonic":
        from skimage.restoration import inpaint_biharmonic

        return inpaint_biharmonic(np.where(fill[..., None], 0, x), fill, channel_axis=-1)
    if spec == "harmonic":
        from restore.starts import harmonic_fill

        return harmonic_fill(np.where(fill[..., None], 0, x), fill)
    from restore.benchmarks.baselines import BASELINES

    if spec.partition("@")[0] in BASELINES:  # a fill of restore.benchmarks.baselines, NAME or NAME@VALUE
        import torch

        from restore.benchmarks.baselines import run_baseline
        from restore.benchmarks.tasks import Case

        name, _, value = spec.partition("@")
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]  # noqa: E731
        case = Case("box", 0.0, t(x), None, t(np.where(fill[..., None], 0, x)), "", mask=t((~fill)[..., None] * 1.0))
        est = run_baseline(name, case, float(value) if value else None)[0]
        return est[0].permute(1, 2, 0).double().numpy()
    cfg = parse_config(spec)
    import restore

    u8 = np.round(x * 255).astype(np.uint8)
    return restore.inpaint(u8, fill, prior=prior, seed=0, workers=workers, **cfg).astype(np.float64) / 255


def summary(rows: list[dict], base_name: str = "biharmonic") -> str:
    """The table of means and paired margins over `base_name` (sr4: its "hole" is the whole photo)."""
    by = {}
    for r in rows:
        by.setdefault(r["config"], {})[r["image"]] = r
    base = by.get(base_name, {})
    out = [f"| config | images | hole PSNR | margin over {base_name} (95 % CI) | low-pass PSNR | low-pass margin (95 % CI) "
           "| hole SSIM | whole PSNR | s / image | s / MP |", "|---|---|---|---|---|---|---|---|---|---|"]
    for cfg, rs in by.items():
        imgs = sorted(rs)
        f = lambda k: float(np.mean([float(rs[i][k]) for i in imgs]))
        common = [i for i in imgs if i in base]
        marg = interval([float(rs[i]["psnr_hole"]) - float(base[i]["psnr_hole"]) for i in common]) if common else None
        lmarg = interval([float(rs[i]["lowpass_hole"]) - float(base[i]["lowpass_hole"]) for i in common]) if common else None
        fmt = lambda c: "" if c is None else f"{c[0]:+.2f} ({c[1]:+.2f}, {c[2]:+.2f})"
        mp = sum(float(rs[i]["megapixels"]) for i in imgs)
        out.append(f"| {cfg} | {len(imgs)} | {f('psnr_hole'):.2f} | {fmt(marg)} | {f('lowpass_hole'):.2f} | {fmt(lmarg)} "
                   f"| {f('ssim_hole'):.3f} | {f('psnr_whole'):.2f} | {f('seconds'):.1f} "
                   f"| {sum(float(rs[i]['seconds']) for i in imgs) / mp:.0f} |")
    return "\n".join(out)


def grid(out: Path, files: list[Path], configs: list[str], path: Path, scale: float = 0.5, task: str = "holes",
         masks: list[Path] | None = None, crops: bool = False) -> None:
    """A JPEG of whole photos (rows) at `scale`: the observation (holes grey) and each
    configuration's saved result (columns, from --save). With `crops` (a fill task), a row per
    hole instead, at full size: the box of the hole and 16 px around it, the photo itself last."""
    from PIL import Image

    from restore.starts import hole_regions

    rows = []
    for f in files:
        x = np.asarray(Image.open(f).convert("RGB"))
        if task == "sr4":
            x = sr_photo(x)
        fill = fill_mask(task, f.name, *x.shape[:2], masks) if task in FILLS else np.zeros(x.shape[:2], bool)
        cols = [np.where(fill[..., None], 128, x).astype(np.uint8)]
        cols += [np.asarray(Image.open(out / c.replace(":", "_") / (f.stem + ".png"))) for c in configs]
        boxes = [(0, 0, *x.shape[:2])]
        if crops and fill.any():
            cols.append(x)
            boxes = hole_regions(fill, 16)
        for top, left, h, w in boxes:
            row = [c[top: top + h, left: left + w] for c in cols]
            rows.append(Image.fromarray(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255)
                                                        for c in row], 1)))
    if crops:
        scale = 1.0
        width = max(r.width for r in rows)  # crops keep their size, padded to one width
        rows = [Image.fromarray(np.pad(np.asarray(r), ((0, 0), (0, width - r.width), (0, 0)), constant_values=255))
                for r in rows]
    width = max(r.width for r in rows)  # portrait and landscape photos: rows scaled to one width
    rows = [np.asarray(r.resize((width, round(r.height * width / r.width)), Image.LANCZOS)) for r in rows]
    im = Image.fromarray(np.concatenate(rows, 0))
    im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS).save(path, quality=90)


def lpips_option(spec: str | None, path: Path):
    """(LPIPS network or None, the rows' fields) of --lpips BACKBONE,LINEAR; a bad file, or a rows.csv
    `path` written without the LPIPS columns, is a one-line exit."""
    if spec is None:
        return None, FIELDS
    from restore.benchmarks.lpips import load_lpips

    files = spec.split(",")
    if len(files) != 2:
        raise SystemExit(f"--lpips {spec!r}: give two files, BACKBONE,LINEAR")
    if path.exists():
        with path.open(newline="") as fh:
            header = next(csv.reader(fh), [])
        if "lpips" not in header:
            raise SystemExit(f"{path} has no lpips column (written without --lpips): use a fresh -o")
    try:
        return load_lpips(*files), FIELDS + LPIPS_FIELDS
    except ValueError as e:
        raise SystemExit(f"--lpips: {e}") from None


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_root", type=Path)
    ap.add_argument("--split", choices=["val", "test"], default="val")
    ap.add_argument("--task", choices=[*FILLS, "sr4", *DEGRADATIONS], default="holes",
                    help="holes: two object-sized boxes; freeform: a free-form mask of DATA_ROOT/masks; sr4: x4 "
                         "super-resolution; deblur, motion, denoise (module docstring); all but holes and freeform "
                         "are scored over the whole photo.")
    ap.add_argument("--sigma", type=float, default=0.025, help="deblur, motion, denoise: the noise std on [0, 1].")
    ap.add_argument("--base", default=None, help="The configuration margins are taken over [default: "
                    "biharmonic (holes), bicubic (sr4), observed (the others)].")
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--configs", default="harmonic,ddrm:15:0.3:1")
    ap.add_argument("--prior", default="natural")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"],
                    help="The network forward's precision (restore --precision); use one OUT per precision.")
    ap.add_argument("--workers", type=int, default=None, help="Tile worker processes of the diffusion rows "
                    "(restore --workers; default: the command line's, every core). The result does not depend on it.")
    ap.add_argument("--lpips", default=None, metavar="BACKBONE,LINEAR", help="Also score LPIPS with these two "
                    "weight files (a torchvision AlexNet or VGG16 state dict, the lpips package's linear layers; "
                    ".pth or .safetensors): columns lpips and lpips_hole. Nothing is downloaded.")
    ap.add_argument("--save", action="store_true", help="Also write each result as OUT/CONFIG/NAME.png.")
    ap.add_argument("--grid", type=int, default=0, help="With --save: OUT/grid.jpg of the first N photos.")
    ap.add_argument("--grid-crops", action="store_true", help="With --grid on a fill task: a row per hole, "
                    "its box at full size with the photo itself last, as OUT/grid-crops.jpg.")
    a = ap.parse_args(argv)
    import torch
    from PIL import Image

    from restore.priors import load_prior
    from restore.priors.ddpm import with_precision
    from restore.priors.parallel import TileWorkers, default_workers

    from restore.benchmarks.baselines import MissingExtra

    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "rows.csv"
    rows = list(csv.DictReader(path.open())) if path.exists() else []
    done = {(r["image"], r["config"]) for r in rows}
    net, fields = lpips_option(a.lpips, path)
    prior = with_precision(load_prior(a.prior), a.precision)
    base = a.base or {"holes": "biharmonic", "freeform": "biharmonic", "sr4": "bicubic"}.get(a.task, "observed")
    masks = mask_files(a.data_root) if a.task == "freeform" else None
    configs = [base, *[c for c in expand(a.configs.split(",")) if c != base]]
    # the tile workers of every row, as the command line's (--workers 0: every core), forked once
    with TileWorkers(prior, default_workers(prior.device) if a.workers is None else a.workers) as workers:
        for f in photos(a.data_root, a.split)[: a.images]:
            x = np.asarray(Image.open(f).convert("RGB")).astype(np.float64) / 255
            if a.task == "sr4":
                x = sr_photo(x)
            fill = fill_mask(a.task, f.name, *x.shape[:2], masks)
            label = f"{f.name} ({freeform(f.name, *x.shape[:2], masks)[1]})" if masks else f.name
            p = degrade(x, a.task, a.sigma, f.name, a.data_root / "kernels") if a.task in DEGRADATIONS else None
            if p is not None:  # shake: the truth is the frame without the cut border
                x = p.x[0].permute(1, 2, 0).numpy()
                fill = fill_mask(a.task, f.name, *x.shape[:2], masks)
            for spec in configs:
                if (f.name, spec) in done:
                    continue
                t0 = time.perf_counter()
                try:
                    if a.task in FILLS:
                        est = restore_one(x, fill, spec, prior, workers=workers)
                    elif a.task == "sr4":
                        est = super_resolve_one(x, spec, prior, workers=workers)
                    else:
                        est = restore_degraded(p, spec, prior, a.task, workers=workers)
                except MissingExtra as e:  # an anchor whose package is not installed: one line
                    raise SystemExit(str(e)) from None
                secs = time.perf_counter() - t0
                row = {"image": f.name, "config": spec, **scores(x, est, fill, lpips_net=net), "seconds": secs,
                       "megapixels": x.shape[0] * x.shape[1] / 1e6}
                append_row(path, fields, row)
                rows.append({k: str(v) for k, v in row.items()})
                if a.save:
                    (a.out / spec.replace(":", "_")).mkdir(exist_ok=True)
                    Image.fromarray(np.round(np.clip(est, 0, 1) * 255).astype(np.uint8)).save(
                        a.out / spec.replace(":", "_") / (f.stem + ".png"))
                print(f"{label} {spec}: hole PSNR {row['psnr_hole']:.2f} low-pass {row['lowpass_hole']:.2f} "
                      f"{secs:.1f} s", flush=True)
    print(summary(rows, base))
    if a.grid and a.save:
        grid(a.out, photos(a.data_root, a.split)[: a.grid], configs, a.out / ("grid-crops.jpg" if a.grid_crops else
             "grid.jpg"), task=a.task, masks=masks, crops=a.grid_crops)


if __name__ == "__main__":
    main()
