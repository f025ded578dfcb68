"""Blind kernel estimation on whole photos (issue 31's track): how close `estimate_kernel` comes to
the true blur, and what that costs a fixed classical deconvolution.

Each photo is blurred as a camera blurs it: the whole frame convolved, then the border of half the
kernel's size cut away (no artificial boundary), noise of std 0.01 added, rounded to 8 bits.
Kernels: Levin et al.'s 8 camera shakes, Gaussian std 1/2/3, disk radius 2/4/6, and none (the
sharp photo); the bank also has Gaussians of std 1.5, 2.5, 4 and disks of radius 3, 5, 8. Per image and kernel: the kernel similarity to the truth (`kernel_similarity`), the
family found, the confidence, and Levin's error ratio: the SSE of a fixed non-blind deconvolution
with the estimated kernel over the SSE with the true one, each at its best alignment (up to 3 px,
as Levin et al. align); with --restore also the PSNR (aligned the same way) of the blurred input, of
`restore.deblur` with the estimate (left as it is where the estimate is not usable) and with the
true kernel. The fixed deconvolution is the L2-gradient
(Tikhonov) deconvolution by the FFT on the smoothly periodic extension (`periodic_pad`), weight
2e-3, which has no parameter tuned to either kernel; the SSE is taken away from a 20-pixel border.

With --raw only the multi-scale estimate itself is scored (`restore.operators.blind._estimate` on
the denoised luminance crop: no halves, no naming, no residual gate; a third of the time), which
compares estimators on kernel accuracy alone; `--param edges 0 --param per_scale 0` is the
estimator before 2026-12-05.

    python -m lab.blind_kernels ../shared/data/natural/val --images 8 --out rows.csv [--param value ...]
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.signal import fftconvolve

import restore.operators.blind as B
from restore.operators.kernels import gaussian_of_std
from restore.operators.blind import KernelEstimate
from restore.operators.blind import (_diff_otfs, _otf, disk_kernel, estimate_kernel, kernel_similarity,
                                     periodic_pad)

WEIGHT = 2e-3
BORDER = 20


def kernels(root: Path) -> dict[str, np.ndarray]:
    lev = np.load(root / "kernels" / "levin09.npz")
    out = {f"levin{i}": lev[f"k{i}"] for i in range(1, 9)}
    out.update({f"gauss{s:g}": gaussian_of_std(s).numpy() for s in (1, 1.5, 2, 2.5, 3, 4)})
    out.update({f"disk{r}": disk_kernel(float(r)).numpy() for r in (2, 3, 4, 5, 6, 8)})
    out["none"] = np.ones((1, 1))
    return out


def blurred(x: np.ndarray, k: np.ndarray, seed: int, jpeg: int | None = None) -> np.ndarray:
    """The photo (H, W, 3) on [0, 1] blurred as a camera would: whole frame, border cut, noise, 8 bits
    (with jpeg, saved as a JPEG of that quality, 4:2:0, as phones save, and read back)."""
    m = k.shape[0] // 2
    b = np.stack([fftconvolve(x[..., c], k, mode="same") for c in range(3)], -1)
    b = b[m:b.shape[0] - m, m:b.shape[1] - m] if m else b
    b = b + 0.01 * np.random.default_rng(seed).standard_normal(b.shape)
    b = np.round(np.clip(b, 0, 1) * 255) / 255
    if jpeg:
        import io

        buf = io.BytesIO()
        Image.fromarray(np.round(b * 255).astype(np.uint8)).save(buf, format="JPEG", quality=int(jpeg))
        b = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float64) / 255
    return b


def tikhonov(y: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The fixed non-blind deconvolution (module docstring), per channel."""
    t = torch.from_numpy(y).permute(2, 0, 1)
    pad = max(k.shape) + 8
    h, w = t.shape[-2:]
    out = []
    for c in t:
        yp = periodic_pad(c, pad)
        K = _otf(torch.from_numpy(k).double(), *yp.shape)
        Dx, Dy = _diff_otfs(*yp.shape, yp.dtype, yp.device)
        X = K.conj() * torch.fft.fft2(yp) / (K.abs() ** 2 + WEIGHT * (Dx.abs() ** 2 + Dy.abs() ** 2))
        out.append(torch.fft.ifft2(X).real[:h, :w])
    return torch.stack(out).permute(1, 2, 0).clamp(0, 1).numpy()


SHIFT = 3


def sse(a: np.ndarray, b: np.ndarray) -> float:
    """The SSE of a against b away from the border, at the best integer shift of a up to SHIFT px
    (a blur, so its restoration, is known only up to a translation; Levin et al. align the same way)."""
    h, w = b.shape[:2]
    core = b[BORDER:h - BORDER, BORDER:w - BORDER]
    return min(float(((a[BORDER + dy:h - BORDER + dy, BORDER + dx:w - BORDER + dx] - core) ** 2).sum())
               for dy in range(-SHIFT, SHIFT + 1) for dx in range(-SHIFT, SHIFT + 1))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of a against b through the aligned SSE (`sse`)."""
    n = (b.shape[0] - 2 * BORDER) * (b.shape[1] - 2 * BORDER) * b.shape[2]
    return float(10 * np.log10(n / sse(a, b)))


def _raw_estimate(image: torch.Tensor, max_size: int = 35, *, lam: float = 4e-3, lam_min: float = 1e-4,
                  gamma: float = 2.0, iters: int = 10, crop: int = 512, denoise: float = 1.0, edges: float = 2.0,
                  per_scale: bool = True) -> KernelEstimate:
    """The multi-scale estimate alone, as `estimate_kernel` runs it on the whole crop (--raw)."""
    y = B._crop(B._luminance(image), crop)
    if denoise > 0:
        y = B._denoised(y, denoise)
    k = B._estimate(y, max_size, lam, lam_min, gamma, iters, edges=edges, per_scale=per_scale)
    return KernelEstimate(k.double(), "free-form", float(k.shape[0]), float("nan"), float("nan"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--kernels", default=None, help="comma-separated names (default: all)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--restore", action="store_true",
                    help="also restore with restore.deblur's default: the blind run (kernel=the estimate, left "
                         "as it is when not usable) and the non-blind one (the true kernel); PSNR of each")
    ap.add_argument("--raw", action="store_true", help="score the multi-scale estimate alone (module docstring)")
    ap.add_argument("--photos", default=None, help="comma-separated photo names (stems) instead of the first --images")
    ap.add_argument("--no-true", action="store_true", help="with --restore: skip the restoration with the true kernel")
    ap.add_argument("--only", default=None,
                    help="comma-separated IMAGE:KERNEL pairs: run only these rows (the seeds as in the whole run)")
    ap.add_argument("--ungated", action="store_true",
                    help="no gate (MAX_RESIDUAL_RATIO and MIN_SPREAD off) and, with --restore, restore with every kernel "
                         "found whatever its confidence: the rows a gate is calibrated on (lab.blind_gate)")
    ap.add_argument("--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="an estimate_kernel keyword (e.g. --param lam 4e-3)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.ungated:
        B.MAX_RESIDUAL_RATIO, B.MIN_SPREAD = float("inf"), 0.0
    params = {n: (int(v) if n in ("iters", "crop", "max_size") else bool(int(v)) if n == "per_scale" else float(v))
              for n, v in a.param}
    files = sorted(p for p in Path(a.folder).iterdir() if p.suffix.lower() in (".jpg", ".png"))
    files = [p for p in files if p.stem in a.photos.split(",")] if a.photos else files[: a.images]
    ks = kernels(Path(a.data))
    if a.kernels:
        ks = {n: ks[n] for n in a.kernels.split(",")}
    rows = []
    prior = None
    if a.restore:
        import restore

        prior = restore.load_prior("natural")
    for i, f in enumerate(files):
        x = np.asarray(Image.open(f).convert("RGB"), dtype=np.float64) / 255
        for j, (name, k) in enumerate(ks.items()):
            if a.only and f"{f.stem}:{name}" not in a.only.split(","):
                continue
            y = blurred(x, k, 1000 * i + j)
            m = k.shape[0] // 2
            truth = x[m:x.shape[0] - m, m:x.shape[1] - m] if m else x
            t0 = time.perf_counter()
            if a.raw:
                est = _raw_estimate(torch.from_numpy(y).permute(2, 0, 1), **params)
            else:
                est = estimate_kernel(torch.from_numpy(y).permute(2, 0, 1), **params)
            sec = time.perf_counter() - t0
            ke = est.kernel.numpy()
            ratio = sse(tikhonov(y, ke), truth) / sse(tikhonov(y, k), truth) if name != "none" else float("nan")
            row = {"image": f.stem, "kernel": name, "family": est.family, "parameter": round(est.parameter, 2),
                   "confidence": round(est.confidence, 3), "residual_ratio": round(est.residual_ratio, 3), "similarity": round(kernel_similarity(est.kernel, torch.from_numpy(k)), 3),
                   "spread": round(B.kernel_spread(est.kernel), 3), "error_ratio": round(ratio, 3), "seconds": round(sec, 2), "megapixels": y.shape[0] * y.shape[1] / 1e6}
            if a.restore:
                import restore

                u8 = np.round(y * 255).astype(np.uint8)
                f64 = lambda e: e.astype(np.float64) / 255
                t1 = time.perf_counter()
                use = est.kernel if a.ungated and est.family != "none" else est
                blind = restore.deblur(u8, use, prior=prior, seed=0, sigma_y=0.01)
                row["seconds_blind_restore"] = round(time.perf_counter() - t1, 2)
                row["psnr_input"] = round(psnr(f64(u8), truth), 3)
                row["psnr_blind"] = round(psnr(f64(blind), truth), 3)
                if not a.no_true:
                    row["psnr_true_kernel"] = round(psnr(f64(restore.deblur(u8, torch.from_numpy(k), prior=prior, seed=0,
                                                                            sigma_y=0.01)), truth), 3) if name != "none" else row["psnr_input"]
            rows.append(row)
            print(" ".join(f"{k_}={v}" for k_, v in row.items()), flush=True)
            if a.out:  # a row at a time: a long run keeps what it has done
                new = not Path(a.out).exists()
                with open(a.out, "a", newline="") as fh:
                    wr = csv.DictWriter(fh, fieldnames=list(row))
                    if new:
                        wr.writeheader()
                    wr.writerow(row)
    r = np.array([row["error_ratio"] for row in rows if row["kernel"] != "none"])
    print(f"mean error ratio {r.mean():.3f}, under 2: {np.mean(r < 2):.0%}, under 3: {np.mean(r < 3):.0%}; "
          f"mean similarity {np.mean([row['similarity'] for row in rows]):.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
