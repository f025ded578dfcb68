"""Classical baselines from scikit-image, each with one hyper-parameter, a default and a grid that
`tune` searches on a validation split (never a test split).

| name | tasks | method | parameter (default; grid) |
|---|---|---|---|
| biharmonic | box, random | `inpaint_biharmonic` (noisy observed pixels are kept as they are) | none |
| tv_inpaint | box, random | isotropic colour TV with a data term on the observed pixels, min TV(x) + lam/2 \\|M (x - y)\\|^2, 500 Chambolle-Pock iterations from a mean fill | lam (inf = hard constraint when noiseless; 40 when noisy; grid 2.5 .. 1280, factors of 2, and inf: the hard constraint is the limit by nature) |
| wiener | gauss, motion, levin | `wiener` per channel, Laplacian regulariser, on y padded by the kernel size with its edge values (then cropped) and edge-tapered (`edgetaper`) | balance (1e-4 noiseless, 1e-2 noisy; grid 1e-7 .. 3, steps of about 3x) |
| unsup_wiener | gauss, motion, levin | `unsupervised_wiener` per channel (its Gibbs sampler seeded), same padding and tapering | none |
| richardson_lucy | gauss, motion, levin | `richardson_lucy` per channel on y clipped to [1e-3, 1], reflect-padded by the kernel size (measured better than edge padding here) | num_iter (100 noiseless, 20 noisy; grid 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) |
| bicubic | sr4 | `skimage.transform.resize` with order 3 (cubic spline), no antialiasing | none |
| backprojection | sr4 | bicubic interpolation (torch) corrected towards the observation through the solvers' own operator: x = b + step A^+(y - A b) (`backproject`; step 1: A x = y exactly, one step of iterative back-projection with the exact pseudo-inverse, which converges at once) | step (1 noiseless, 0.5 noisy; grid 0 .. 1 by 0.125; 0 is bicubic, 1 exact consistency: both ends are bounds by nature) |
| tv_denoise | denoise | `denoise_tv_chambolle` | weight / sigma_y (2.0; grid 0.0625 .. 16) |
| nlm | denoise | `denoise_nl_means`, patches 5 x 5, search distance 6, fast mode, sigma = sigma_y known | h / sigma_y (0.8; grid 0.1 .. 4) |

| bm3d (anchor) | denoise | BM3D / CBM3D (`bm3d.bm3d_rgb`, profile "np", one thread) | sigma / sigma_y (1.0; grid 0.9, 1.0, 1.1) |
| bm3d_deblur (anchor) | gauss, motion, levin | BM3D deblurring (regularised inverse, then regularised Wiener inverse, each filtered by BM3D with its coloured noise PSD; opponent colour space) rebuilt around `bm3d.bm3d` | sigma / sigma_y (1.0; grid 0.5 .. 1.25) |
| telea, navier_stokes (anchors) | box, random | OpenCV `cv2.inpaint` INPAINT_TELEA / INPAINT_NS | radius (3; grid 1 .. 80, Navier-Stokes to 128) |
| fsr_best, fsr_fast (anchors) | box, random | OpenCV contrib `cv2.xphoto.inpaint`, frequency-selective reconstruction | none |
| patchmatch (anchor) | box, random | PatchMatch search in a multi-scale EM fill (`pypatchmatch`) | patch radius (3; grid 1, 2, 3, 5, 8) |
| lanczos (anchor) | sr4 | PIL's Lanczos-3 interpolation | none |

Anchors (issue 32): the strongest classical methods, for the benchmark tables only. They run only where
named (`restore bench` leaves them out by default) and, but for lanczos, need the optional extra
`pip install 'restore[anchors]'` (bm3d, opencv-contrib-python-headless, pypatchmatch), imported when
called; without it they raise `MissingExtra`, one line naming the extra.

Grids (issue 22): each was widened until the value chosen on the val splits is inside it
(`at_edge` says whether a value sits at an end of its grid; `python -m lab.grids`
tunes every baseline on every cell and counts them). A grid end that is a bound by nature
(`Baseline.bounds`: a step fraction of 0 or 1, TV inpainting's hard constraint lam = inf) is reported
but not widened.

Every baseline takes a `tasks.Case` and returns (1, C, H, W) float32 on [0, 1]; the noise level
sigma_y is known to all of them (as it is to the diffusion solvers).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .tasks import Case

__all__ = ["BASELINES", "Baseline", "run_baseline", "tune", "applicable_baseline", "backproject", "at_edge", "MissingExtra"]


def _hwc(t: Tensor) -> np.ndarray:
    """(1, C, H, W) -> (H, W, C) float64."""
    return t[0].detach().double().cpu().permute(1, 2, 0).numpy()


def _back(a: np.ndarray) -> Tensor:
    a = np.clip(np.nan_to_num(a, nan=0.5), 0, 1)
    if a.ndim == 2:
        a = a[..., None]
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1))).float()[None]


def _per_channel(a: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return np.stack([fn(a[..., c]) for c in range(a.shape[-1])], -1)


def _padded(a: np.ndarray, pad: int, fn: Callable[[np.ndarray], np.ndarray], mode: str = "edge") -> np.ndarray:
    """fn on a (H, W) image padded by `pad` on each side with its edge values, cropped back (fewer
    FFT wrap artefacts; mirror padding of a blurred image mirrors an asymmetric kernel too, which a
    motion blur's deconvolution amplifies: measured 16 dB against 23 dB with edge padding)."""
    out = fn(np.pad(a, pad, mode=mode))
    return out[pad:pad + a.shape[0], pad:pad + a.shape[1]]


# --- inpainting ---------------------------------------------------------------------------------

def biharmonic(p: Case, _param=None, seed: int = 0) -> Tensor:
    from skimage.restoration import inpaint_biharmonic

    missing = p.mask[0, 0].numpy() < 0.5
    return _back(inpaint_biharmonic(_hwc(p.y), missing, channel_axis=-1))


def _grad(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.zeros_like(x), np.zeros_like(x)
    gx[:, :-1] = x[:, 1:] - x[:, :-1]
    gy[:-1] = x[1:] - x[:-1]
    return gx, gy


def _div(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    d = np.zeros_like(px)
    d[:, 0] = px[:, 0]
    d[:, 1:-1] = px[:, 1:-1] - px[:, :-2]
    d[:, -1] = -px[:, -2]
    d[0] += py[0]
    d[1:-1] += py[1:-1] - py[:-2]
    d[-1] += -py[-2]
    return d


def tv_inpaint(p: Case, lam: float | None = None, seed: int = 0, iters: int = 500) -> Tensor:
    """min_x TV(x) + lam/2 ||M (x - y)||^2 (colour TV: the gradient norm is taken over channels too),
    Chambolle-Pock with tau = sigma = 1 / sqrt(8); lam = inf keeps the observed pixels exactly."""
    lam = _default("tv_inpaint", p) if lam is None else float(lam)
    y = _hwc(p.y)
    m = p.mask[0, 0].numpy()[..., None].astype(np.float64)
    mean = (y * m).sum((0, 1)) / max(m.sum(), 1)
    x = y * m + mean * (1 - m)
    xb, px, py = x.copy(), np.zeros_like(x), np.zeros_like(x)
    tau = sig = 1 / math.sqrt(8)
    for _ in range(iters):
        gx, gy = _grad(xb)
        px, py = px + sig * gx, py + sig * gy
        norm = np.maximum(1.0, np.sqrt((px**2 + py**2).sum(-1, keepdims=True)))
        px, py = px / norm, py / norm
        v = x + tau * _div(px, py)
        if math.isinf(lam):
            xn = np.where(m > 0.5, y, v)
        else:
            xn = (v + tau * lam * m * y) / (1 + tau * lam * m)
        xb = 2 * xn - x
        x = xn
    return _back(x)


# --- deblurring ---------------------------------------------------------------------------------

def edgetaper(a: np.ndarray, k: np.ndarray, passes: int = 3) -> np.ndarray:
    """MATLAB's edgetaper: blend the (H, W) image towards its circular blur by k near the borders,
    with weights from the kernel's autocorrelation, `passes` times, so that an FFT deconvolution
    (which assumes a periodic image) does not ring from the border discontinuities. Without it
    a 31-pixel motion blur on a 128-pixel crop deconvolves to about 12 dB."""
    from skimage.restoration import uft

    H = uft.ir2tf(k, a.shape, is_real=False)
    weights = []
    for axis in (0, 1):
        prof = k.sum(1 - axis)
        ac = np.correlate(prof, prof, "full")
        ac = ac / ac.max()
        n, half = a.shape[axis], len(ac) // 2
        m = min(half + 1, n)
        beta = np.zeros(n)
        beta[:m] = ac[half:half + m]
        if m > 1:
            beta[n - m + 1:] += ac[half - m + 1:half]
        weights.append(1 - beta)
    alpha = np.outer(*weights)
    for _ in range(passes):
        a = alpha * a + (1 - alpha) * np.real(np.fft.ifft2(np.fft.fft2(a) * H))
    return a


def wiener(p: Case, balance: float | None = None, seed: int = 0) -> Tensor:
    from skimage.restoration import wiener as sk_wiener

    balance = _default("wiener", p) if balance is None else float(balance)
    k = p.kernel.numpy()
    f = lambda a: sk_wiener(edgetaper(a, k), k, balance, clip=False)  # noqa: E731
    return _back(_per_channel(_hwc(p.y), lambda a: _padded(a, max(k.shape), f)))


def unsup_wiener(p: Case, _param=None, seed: int = 0) -> Tensor:
    from skimage.restoration import unsupervised_wiener

    k = p.kernel.numpy()
    rng = np.random.default_rng(seed)
    f = lambda a: unsupervised_wiener(edgetaper(a, k), k, clip=False, rng=rng)[0]  # noqa: E731
    return _back(_per_channel(_hwc(p.y), lambda a: _padded(a, max(k.shape), f)))


def _rl_iterates(a: np.ndarray, k: np.ndarray, counts) -> dict:
    """{n: the n-th Richardson-Lucy iterate of the (H, W) image a} for every n in counts, in one pass
    of max(counts) iterations: scikit-image's `richardson_lucy` loop (start 0.5, eps 1e-12, no
    clipping), so the value for n equals richardson_lucy(a, k, num_iter=n, clip=False)."""
    from scipy.signal import convolve

    a = a.astype(np.float64)
    k = k.astype(np.float64)
    km = np.flip(k)
    x = np.full(a.shape, 0.5)
    want, out = set(int(n) for n in counts), {}
    for i in range(1, max(want) + 1):
        x = x * convolve(a / (convolve(x, k, mode="same") + 1e-12), km, mode="same")
        if i in want:
            out[i] = x.copy()
    return out


def _rl_all(p: Case, counts) -> dict:
    """{n: richardson_lucy(p, n)} for every n in counts, in one pass per channel."""
    k = p.kernel.numpy()
    pad = max(k.shape)
    y = np.clip(_hwc(p.y), 1e-3, 1)
    per = [_rl_iterates(np.pad(y[..., c], pad, mode="reflect"), k, counts) for c in range(y.shape[-1])]
    H, W = y.shape[:2]
    return {n: _back(np.stack([d[n][pad:pad + H, pad:pad + W] for d in per], -1)) for n in per[0]}


def richardson_lucy(p: Case, num_iter: int | None = None, seed: int = 0) -> Tensor:
    num_iter = int(_default("richardson_lucy", p) if num_iter is None else num_iter)
    return _rl_all(p, [num_iter])[num_iter]


# --- super-resolution ---------------------------------------------------------------------------

def bicubic(p: Case, _param=None, seed: int = 0) -> Tensor:
    from skimage.transform import resize

    h, w = p.x.shape[-2:]
    return _back(resize(_hwc(p.y), (h, w), order=3, mode="reflect", anti_aliasing=False))


def backproject(operator, y: Tensor, shape, step: float = 1.0) -> Tensor:
    """Super-resolution that inverts the solvers' own operator: the bicubic interpolation b of y
    (B, C, h, w) to `shape` (H, W), corrected by `step` times A^+(y - A b) (step 1: A x = y exactly,
    up to A^+'s rcond); clamped to [0, 1]. The warm start of `restore sr` is step 1
    (`restore.starts.classical_estimate`)."""
    import torch.nn.functional as F

    b = F.interpolate(y, size=tuple(shape), mode="bicubic", align_corners=False)
    return (b + float(step) * operator.A_pinv(y - operator.A(b))).clamp(0, 1)


def backprojection(p: Case, step: float | None = None, seed: int = 0) -> Tensor:
    step = _default("backprojection", p) if step is None else float(step)
    return backproject(p.operator, p.y, p.x.shape[-2:], step).float()


# --- denoising ----------------------------------------------------------------------------------

def tv_denoise(p: Case, factor: float | None = None, seed: int = 0) -> Tensor:
    from skimage.restoration import denoise_tv_chambolle

    factor = _default("tv_denoise", p) if factor is None else float(factor)
    return _back(denoise_tv_chambolle(_hwc(p.y), weight=factor * p.sigma_y, channel_axis=-1))


def nlm(p: Case, factor: float | None = None, seed: int = 0) -> Tensor:
    from skimage.restoration import denoise_nl_means

    factor = _default("nlm", p) if factor is None else float(factor)
    y = _hwc(p.y)
    gray = y.shape[-1] == 1
    out = denoise_nl_means(y[..., 0] if gray else y, patch_size=5, patch_distance=6, fast_mode=True,
                           h=factor * p.sigma_y, sigma=p.sigma_y, channel_axis=None if gray else -1)
    return _back(out)


def wavelet(p: Case, factor: float | None = None, seed: int = 0) -> Tensor:
    """scikit-image's BayesShrink wavelet denoising (soft thresholds, YCbCr for colour) told a noise
    std of factor x sigma_y."""
    from skimage.restoration import denoise_wavelet

    factor = _default("wavelet", p) if factor is None else float(factor)
    y = _hwc(p.y)
    colour = y.shape[-1] == 3
    out = denoise_wavelet(y if colour else y[..., 0], sigma=factor * p.sigma_y, method="BayesShrink", mode="soft",
                          rescale_sigma=True, convert2ycbcr=colour, channel_axis=-1 if colour else None)
    return _back(out)


def bilateral(p: Case, factor: float | None = None, seed: int = 0) -> Tensor:
    """scikit-image's bilateral filter: spatial std 1.5 px, range std factor x sigma_y."""
    from skimage.restoration import denoise_bilateral

    factor = _default("bilateral", p) if factor is None else float(factor)
    y = _hwc(p.y)
    colour = y.shape[-1] == 3
    out = denoise_bilateral(y if colour else y[..., 0], sigma_color=factor * p.sigma_y, sigma_spatial=1.5,
                            channel_axis=-1 if colour else None)
    return _back(out)


# --- classical anchors (issue 32): optional packages, `pip install 'restore[anchors]'` -------------

EXTRA = "pip install 'restore[anchors]'"


class MissingExtra(ImportError):
    """An anchor's package is not installed (its message is one line naming the extra)."""


def _need(module: str, anchor: str):
    """import `module` or raise MissingExtra naming the extra that holds it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"baseline {anchor} needs the package {module!r}: {EXTRA}") from None


def bm3d(p: Case, factor: float | None = None, seed: int = 0) -> Tensor:
    """BM3D (Dabov, Foi, Katkovnik and Egiazarian 2007, "Image denoising by sparse 3-D transform-domain
    collaborative filtering"; colour: CBM3D, block matching on the luminance of the opponent colour
    space, Dabov et al. 2007 ICIP) as the `bm3d` package's `bm3d_rgb` (profile "np", both stages, one
    thread), told a noise std of factor x sigma_y."""
    bm = _need("bm3d", "bm3d")
    factor = _default("bm3d", p) if factor is None else float(factor)
    y = _hwc(p.y)
    s = factor * p.sigma_y
    if y.shape[-1] == 3:
        return _back(bm.bm3d_rgb(y, s, _profile(bm)))
    return _back(bm.bm3d(y[..., 0], s, _profile(bm)))


def _profile(bm):
    """bm3d's "np" profile on one thread (its default, 0, takes every core and varies slightly from
    run to run; the diffusion rows it is timed against run on one thread)."""
    profile = bm.BM3DProfile()
    profile.num_threads = 1
    return profile


def _opponent(y: np.ndarray, sigma: float):
    """(channels on [0, 1] of the opponent colour space as bm3d_rgb normalises them, the noise variance
    of each, the inverse): identity for one channel."""
    if y.shape[-1] != 3:
        return y, np.full(y.shape[-1], sigma**2), lambda z: z
    from bm3d import rgb_to

    o, hi, lo, scale, _ = rgb_to(y, "opp")
    return o, sigma**2 * np.asarray(scale), lambda z: rgb_to(z, "opp", True, hi, lo)[0]


@contextmanager
def _trapz():
    """numpy 2 removed np.trapz, which bm4d 4.2 (under bm3d 4.0) calls for a coloured noise PSD: lend it
    np.trapezoid for the call only."""
    lent = not hasattr(np, "trapz")
    if lent:
        np.trapz = np.trapezoid
    try:
        yield
    finally:
        if lent:
            del np.trapz


def _bm3d_channels(bm, z: np.ndarray, psd: np.ndarray, stage) -> np.ndarray:
    """bm3d.bm3d on each channel of z (H, W, C) with its own PSD, the block matches of the first channel
    reused for the others (as the package's multichannel call does, whose Wiener stage passes the
    whole multichannel pilot to every channel and fails); stage: a BM3DStages or the pilot (H, W, C)."""
    out, matches = [], (True, True)
    for c in range(z.shape[-1]):
        arg = stage if not isinstance(stage, np.ndarray) else np.ascontiguousarray(stage[..., c])
        with _trapz():
            r = bm.bm3d(np.ascontiguousarray(z[..., c]), np.ascontiguousarray(psd[..., c]), _profile(bm), stage_arg=arg,
                        blockmatches=matches)
        if isinstance(r, tuple):
            r, matches = r
        out.append(np.squeeze(r))
    return np.stack(out, -1)


def bm3d_deblur(p: Case, factor: float | None = None, seed: int = 0) -> Tensor:
    """BM3D deblurring (Dabov, Foi, Katkovnik and Egiazarian 2008, "Image restoration by sparse 3D
    transform-domain collaborative filtering"; Makinen, Azzari and Foi 2019-2020 for the
    correlated-noise BM3D it calls), rebuilt around `bm3d.bm3d` because the package's own
    `bm3d_deblurring` (4.0.3) fails on numpy 2 (`np.trapz`, PSD shapes; `np.trapz` is lent to
    bm4d here, `_trapz`). Its two stages with the
    package's constants (profile "np", one thread): the regularised inverse (Tikhonov, alpha 4e-4 times the noise PSD) filtered by
    BM3D's hard-thresholding stage with the inverse's coloured noise PSD, then the regularised Wiener
    inverse (alpha 5e-3) whose pilot is that estimate, filtered by BM3D's Wiener stage with the first
    estimate as its pilot. Colour: the three channels are taken to the opponent colour space first (as
    bm3d_rgb does; the blur commutes with it), one PSD per channel, block matching on the first
    (`_bm3d_channels`).
    The FFT inverses treat the image as periodic: y is reflect-padded by twice the kernel's size and
    edge-tapered (`edgetaper`), and the result cropped. Noise std factor x sigma_y."""
    bm = _need("bm3d", "bm3d_deblur")
    from bm3d import BM3DStages

    factor = _default("bm3d_deblur", p) if factor is None else float(factor)
    k = p.kernel.double().numpy()
    k = k / k.sum()
    y = _hwc(p.y)
    H, W = y.shape[:2]
    z, var, back = _opponent(y, max(factor * p.sigma_y, 1e-4))
    pad = 2 * max(k.shape)
    z = np.stack([edgetaper(np.pad(z[..., c], pad, mode="reflect"), k) for c in range(z.shape[-1])], -1)
    M, N = z.shape[:2]
    big = np.zeros((M, N))
    big[: k.shape[0], : k.shape[1]] = k
    big = np.roll(big, (-(k.shape[0] // 2), -(k.shape[1] // 2)), (0, 1))
    V = np.fft.fft2(big)[..., None]
    psd = np.ones(z.shape) * var * M * N  # white noise of variance var per channel, in bm3d's PSD scale
    Z = np.fft.fft2(z, axes=(0, 1))
    ri = np.conj(V) / (np.abs(V) ** 2 + 4e-4 * psd + 1e-12)
    z_ri = np.real(np.fft.ifft2(Z * ri, axes=(0, 1)))
    y_hat = _bm3d_channels(bm, z_ri, psd * np.abs(ri) ** 2, BM3DStages.HARD_THRESHOLDING)
    pilot = np.abs(np.fft.fft2(np.atleast_3d(y_hat), axes=(0, 1))) ** 2
    rwi = np.conj(V) * pilot / (pilot * np.abs(V) ** 2 + 5e-3 * psd + 1e-12)
    z_rwi = np.real(np.fft.ifft2(Z * rwi, axes=(0, 1)))
    out = _bm3d_channels(bm, z_rwi, psd * np.abs(rwi) ** 2, y_hat)
    return _back(back(np.ascontiguousarray(out[pad:pad + H, pad:pad + W])))


def _u8(a: np.ndarray) -> np.ndarray:
    return np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)


def _filled(p: Case, fill: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Tensor:
    """An inpainting anchor on p: fill(y as (H, W, 3) uint8 RGB, (H, W) uint8 hole mask, 255 = fill)
    returns (H, W, 3) uint8 RGB; a grey image is filled as three equal channels. Only the hole takes
    the result: every observed pixel keeps y's value (not its 8-bit rounding)."""
    y = _hwc(p.y)
    m = p.mask[0, 0].numpy()[..., None].astype(np.float64)
    rgb = np.repeat(y, 3, -1) if y.shape[-1] == 1 else y
    out = fill(_u8(rgb), np.where(m[..., 0] < 0.5, 255, 0).astype(np.uint8)).astype(np.float64) / 255
    if y.shape[-1] == 1:
        out = out.mean(-1, keepdims=True)
    return _back(m * y + (1 - m) * out)


def _cv2_inpaint(p: Case, radius: float, flag: str, anchor: str) -> Tensor:
    cv2 = _need("cv2", anchor)
    f = lambda rgb, hole: cv2.inpaint(rgb[..., ::-1].copy(), hole, float(radius), getattr(cv2, flag))[..., ::-1]  # noqa: E731
    return _filled(p, f)


def telea(p: Case, radius: float | None = None, seed: int = 0) -> Tensor:
    """OpenCV's `cv2.inpaint` INPAINT_TELEA: Telea 2004, "An image inpainting technique based on the
    fast marching method" (each hole pixel a weighted first-order extrapolation of the known pixels
    within `radius`, filled from the boundary inwards)."""
    return _cv2_inpaint(p, _default("telea", p) if radius is None else radius, "INPAINT_TELEA", "telea")


def navier_stokes(p: Case, radius: float | None = None, seed: int = 0) -> Tensor:
    """OpenCV's `cv2.inpaint` INPAINT_NS: Bertalmio, Bertozzi and Sapiro 2001, "Navier-Stokes, fluid
    dynamics, and image and video inpainting" (isophotes continued into the hole), neighbourhood
    `radius`."""
    return _cv2_inpaint(p, _default("navier_stokes", p) if radius is None else radius, "INPAINT_NS", "navier_stokes")


def _fsr(p: Case, flag: str, anchor: str) -> Tensor:
    """OpenCV contrib's `cv2.xphoto.inpaint` with frequency-selective reconstruction (Genser, Seiler,
    Schilling, Kaup 2018, "Signal and loss geometry aware frequency selective extrapolation for
    error concealment"; Seiler and Kaup 2015): the hole as a sparse sum of DCT basis functions fitted
    block by block to the known pixels around it. Its mask is the opposite of cv2.inpaint's
    (non-zero = known)."""
    cv2 = _need("cv2", anchor)
    if not hasattr(cv2, "xphoto"):
        raise MissingExtra(f"baseline {anchor} needs OpenCV's contrib modules (cv2.xphoto): {EXTRA}")

    def f(rgb, hole):
        out = np.zeros_like(rgb)
        cv2.xphoto.inpaint(rgb[..., ::-1].copy(), np.where(hole > 0, 0, 255).astype(np.uint8), out,
                           getattr(cv2.xphoto, flag))
        return out[..., ::-1]

    return _filled(p, f)


def fsr_best(p: Case, _param=None, seed: int = 0) -> Tensor:
    return _fsr(p, "INPAINT_FSR_BEST", "fsr_best")


def fsr_fast(p: Case, _param=None, seed: int = 0) -> Tensor:
    return _fsr(p, "INPAINT_FSR_FAST", "fsr_fast")


def patchmatch(p: Case, radius: int | None = None, seed: int = 0) -> Tensor:
    """Content-aware fill by PatchMatch (Barnes, Shechtman, Finkelstein and Goldman 2009, "PatchMatch:
    a randomized correspondence algorithm for structural image editing": nearest-neighbour fields by
    random search and propagation) inside the multi-scale EM fill of Wexler, Shechtman and Irani
    2007 ("Space-time completion of video": each hole pixel the vote of the patches that cover it,
    coarse to fine), as the `pypatchmatch` package (InvokeAI's build of Jiayuan Mao's PyPatchMatch)
    implements it; patches of (2 radius + 1)^2 pixels (radius 1 at least: a bound by nature), its
    random search seeded."""
    patch_match = _need("patchmatch.patch_match", "patchmatch")
    radius = int(_default("patchmatch", p) if radius is None else radius)
    if not patch_match.patchmatch_available:
        raise MissingExtra(f"baseline patchmatch: the pypatchmatch native library did not load: {EXTRA}")
    patch_match.set_random_seed(int(seed))
    return _filled(p, lambda rgb, hole: patch_match.inpaint(rgb, hole, patch_size=radius))


def lanczos(p: Case, _param=None, seed: int = 0) -> Tensor:
    """Lanczos-3 interpolation (PIL's `Image.LANCZOS`, windowed sinc with 3 lobes, on each channel
    in floating point) of y to the truth's size."""
    from PIL import Image

    h, w = p.x.shape[-2:]
    y = _hwc(p.y).astype(np.float32)
    return _back(np.stack([np.asarray(Image.fromarray(y[..., c], mode="F").resize((w, h), Image.LANCZOS))
                           for c in range(y.shape[-1])], -1).astype(np.float64))


@dataclass(frozen=True)
class Baseline:
    fn: Callable[..., Tensor]
    tasks: tuple[str, ...]
    param: str | None = None  # name of the tuned hyper-parameter
    noiseless: object = None  # its default without noise
    noisy: object = None  # its default with noise
    grid: tuple = ()
    needs_noise: bool = False
    bounds: tuple = ()  # grid values that are limits by nature (not widened past)
    anchor: bool = False  # a classical anchor of issue 32: run only where named (most need the `anchors` extra)


BLURS = ("gauss", "motion", "levin")
_WIENER = (1e-7, 1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0)
_RADII = (1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 32.0, 50.0, 80.0)
BASELINES: dict[str, Baseline] = {
    "biharmonic": Baseline(biharmonic, ("box", "random")),
    "tv_inpaint": Baseline(tv_inpaint, ("box", "random"), "lam", math.inf, 40.0,
                           (2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, math.inf), bounds=(math.inf,)),
    "wiener": Baseline(wiener, BLURS, "balance", 1e-4, 1e-2, _WIENER),
    "unsup_wiener": Baseline(unsup_wiener, BLURS),
    "richardson_lucy": Baseline(richardson_lucy, BLURS, "num_iter", 100, 20, (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)),
    "bicubic": Baseline(bicubic, ("sr4",)),
    "backprojection": Baseline(backprojection, ("sr4",), "step", 1.0, 0.5,
                               (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0), bounds=(0.0, 1.0)),
    "tv_denoise": Baseline(tv_denoise, ("denoise",), "weight/sigma_y", None, 2.0,
                           (0.0625, 0.125, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0), True),
    "nlm": Baseline(nlm, ("denoise",), "h/sigma_y", None, 0.8, (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0, 4.0), True),
    "wavelet": Baseline(wavelet, ("denoise",), "sigma/sigma_y", None, 1.0, (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0),
                        True),
    "bilateral": Baseline(bilateral, ("denoise",), "sigma_color/sigma_y", None, 1.0,
                          (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0), True),
    # anchors (issue 32)
    "bm3d": Baseline(bm3d, ("denoise",), "sigma/sigma_y", None, 1.0, (0.9, 1.0, 1.1), True, anchor=True),
    "bm3d_deblur": Baseline(bm3d_deblur, BLURS, "sigma/sigma_y", 1.0, 1.0, (0.5, 0.64, 0.8, 1.0, 1.25), anchor=True),
    "telea": Baseline(telea, ("box", "random"), "radius", 3.0, 3.0, _RADII, anchor=True),
    "navier_stokes": Baseline(navier_stokes, ("box", "random"), "radius", 3.0, 3.0, (*_RADII, 128.0), anchor=True),
    "fsr_best": Baseline(fsr_best, ("box", "random"), anchor=True),
    "fsr_fast": Baseline(fsr_fast, ("box", "random"), anchor=True),
    "patchmatch": Baseline(patchmatch, ("box", "random"), "radius", 3, 3, (1, 2, 3, 5, 8), bounds=(1,), anchor=True),
    "lanczos": Baseline(lanczos, ("sr4",), anchor=True),
}


def at_edge(name: str, value) -> str | None:
    """"low" / "high" when `value` is the first / last value of baseline `name`'s grid (the optimum may
    lie beyond it), "bound" when that end is a limit by nature (`Baseline.bounds`), None inside the
    grid or for a value not on it."""
    b = BASELINES[name]
    if not b.grid or value is None:
        return None
    v = float(value)
    lo, hi = float(min(b.grid)), float(max(b.grid))
    if v not in (lo, hi) or lo == hi:
        return None
    if v in (float(x) for x in b.bounds):
        return "bound"
    return "low" if v == lo else "high"


def _default(name: str, p: Case):
    b = BASELINES[name]
    return b.noisy if p.sigma_y > 0 else b.noiseless


def applicable_baseline(name: str, task: str, sigma_y: float) -> bool:
    b = BASELINES[name]
    return task in b.tasks and (sigma_y > 0 or not b.needs_noise)


def run_baseline(name: str, p: Case, param=None, seed: int = 0) -> tuple[Tensor, object]:
    """(estimate (1, C, H, W) on [0, 1], the parameter value used) of baseline `name` on p."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}: use one of {', '.join(BASELINES)}")
    b = BASELINES[name]
    if not applicable_baseline(name, p.task, p.sigma_y):
        raise ValueError(f"baseline {name} does not apply to {p.task} (sigma_y {p.sigma_y})")
    value = (_default(name, p) if param is None else param) if b.param else None
    return b.fn(p, value, seed=seed), value


def tune(name: str, problems: list[Case], score: Callable[[Tensor, Tensor], float]) -> tuple[object, dict]:
    """The grid value of baseline `name`'s parameter with the best mean score(x, estimate) over
    `problems` (a validation split), and {value: mean score}; (default, {}) for a baseline without one.
    The noiseless TV inpainting keeps its hard constraint (nothing to tune)."""
    b = BASELINES[name]
    if not b.param or not problems or (name == "tv_inpaint" and problems[0].sigma_y == 0):
        return (_default(name, problems[0]) if problems and b.param else None), {}
    scores = {}
    if name == "richardson_lucy":  # every grid value from one pass of the largest count
        ests = [_rl_all(p, b.grid) for p in problems]
        for value in b.grid:
            scores[value] = float(np.mean([score(p.x, e[int(value)]) for p, e in zip(problems, ests)]))
        return max(scores, key=scores.get), scores
    for value in b.grid:
        scores[value] = float(np.mean([score(p.x, b.fn(p, value)) for p in problems]))
    best = max(scores, key=scores.get)
    return best, scores
