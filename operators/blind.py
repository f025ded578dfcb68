"""Blind kernel estimation: the blur of a photo from the photo alone.

The kernel is estimated by multi-scale alternating minimisation with an L0 gradient prior
(Xu, Zheng & Jia, "Unnatural L0 sparse representation for natural image deblurring", CVPR 2013;
as described and analysed by Anger, Facciolo & Delbracio, "Blind image deblurring using the l0
gradient prior", IPOL 2019):

    min_{x, k}  ||k * x - y||^2 + lam ||grad x||_0 + gamma ||k||^2,   k >= 0, sum k = 1

on the luminance, coarse to fine (scale factor 1/sqrt(2) per level). The x-step is half-quadratic
splitting (an auxiliary gradient field g, hard-thresholded at sqrt(lam / beta), beta doubled from
2 lam to BETA_MAX); lam starts again at its initial value at each scale and decays by 1.1 per
iteration within it (Pan et al., "Deblurring images via dark channel prior", TPAMI 2018, whose
code restarts the schedule per scale: a schedule decaying across all scales leaves the finest
scales with a latent that is no longer sparse). The k-step is a Tikhonov-regularised least squares
in the gradient domain, solved by the FFT, on the salient gradients of the latent only (Cho & Lee,
"Fast motion deblurring", SIGGRAPH Asia 2009: per each of 4 orientation bins at least `edges` x the
kernel's side of the largest gradients are kept, the threshold then lowered by 1.1 per iteration),
then cut to the kernel's support, thresholded, made non-negative and normalised. Both steps keep
only salient edges, which is what makes the kernel step well posed.

Before all this, a defocus blur is looked for in the photo's power spectrum
(`restore.operators.spectral`: a disk's transfer function has rings, which the radially averaged
spectrum shows): where a disk fits it clearly better than every Gaussian, that disk, at the radius
of the best fit, is the estimate (`defocus_estimate`), and the alternating estimate is not run.
The alternating estimate cannot tell a disk from a Gaussian of the same second moment, and its
residual does not either; the spectrum does (benchmarks/notes/blind.md, "Defocus from the spectrum").
`lens_estimate` finds a smooth lens blur (a wide best Gaussian) the same way, where no disk comes
near it; `estimate_kernel` asks it last, where nothing usable was found (notes, "Lens blur from the
spectrum" and "A guard for the lens stage").

Boundaries: the FFT treats the image as a torus; the observation is extended to a smoothly
periodic one first (`periodic_pad`), so the wrap-around does not print a false edge.

`describe_kernel` then names the kernel's family (none, Gaussian, disk, free-form) by the
parametric fit that explains it, and `KernelEstimate.confidence` is the agreement of the kernels
estimated independently on two halves of the photo.

A free-form estimate has hundreds of free taps; a lens or defocus blur has one parameter, and the
alternating estimate of such a blur can drift to a larger, shake-like kernel whose best Gaussian
and best disk (by similarity, `parametric_fits`) still have about the right size. So a free-form
estimate is compared with those two parametric fits by the same criterion the gate uses, the
residual under the L0 latent (`residual_ratio`), and a parametric fit replaces it unless the
estimate's residual is smaller by more than the share FREE_FORM_MARGIN: of two explanations of
about the same fit, the simpler one (one parameter against hundreds of taps) is kept. A fit is a
candidate only where it resembles the estimate (similarity >= MIN_FIT_SIMILARITY) and is itself a
blur (spread >= MIN_SPREAD). The fit only replaces an estimate that the gate (`found_blur`)
accepts on its own: a refused estimate is not a confident one, and on natural/val the fits that
stood in for refused estimates of Gaussian std 3 and disk radius 6 blurs named the wrong one of
the two about as often as the right one (benchmarks/notes/blind.md, "No rescue"). A free-form
estimate the gate refuses is still kept where it is shaped like a camera shake (`found_shake`: a
thin path, neither a blob nor a delta with a faint tail, that no Gaussian or disk resembles): the
residual bound, calibrated on sharp photos' near-deltas, refused most good shake estimates. Choosing the
kernel by how well it explains the photo rather than by how sparse it makes the latent follows
Levin et al., "Understanding and evaluating blind deconvolution algorithms", CVPR 2009.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .circular_blur import centred
from .kernels import disk_kernel, gaussian_of_std
from .padding import periodic_pad
from .spectral import defocus_band, find_lens_blur, spectral_fits

__all__ = ["KernelEstimate", "estimate_kernel", "defocus_estimate", "lens_estimate", "found_blur", "found_shake", "kernel_spread", "parametric_fits", "prefer_parametric", "choose_kernel", "MIN_CONFIDENCE", "MIN_SPREAD",
           "MAX_RESIDUAL_RATIO", "l0_deblur", "edge_threshold", "disk_kernel", "describe_kernel",
           "kernel_similarity", "residual_ratio", "SHAKE_TAPS", "MAX_SHAKE_RATIO",
           "LOW_CONFIDENCE_SHARE"]

BETA_MAX = 1e5
# a blur is found (`found_blur`) only where the named kernel explains the photo about as well as no
# blur does, its residual under the L0 latent at most MAX_RESIDUAL_RATIO times the identity's
# (`residual_ratio`), and spreads at least MIN_SPREAD pixels (`kernel_spread`): on a sharp photo the
# estimator returns a near-delta (a Gaussian of std 0.5-0.7, a disk of radius 0.75) whose residual
# ratio may lie under 1, or a shake whose ratio lies above 1.1. Chosen on natural/val (32 sharp
# photos, 30 blurred rows; `python -m lab.blind_gate benchmarks/blind/val-*-ungated.csv`;
# benchmarks/RESULTS.md, "Deblurring an unknown blur"); MAX_RESIDUAL_RATIO lowered from 1.08 to 1.06
# on 52 more blurred val rows (`lab.blind_select`): a disk of radius 2 named a Gaussian of std 1.3
# at ratio 1.074 lost 0.07 dB, the highest ratio of a row that gained was 1.052
MAX_RESIDUAL_RATIO = 1.06
MIN_SPREAD = 0.85
MIN_CONFIDENCE = 0.5
# the parametric alternative of a free-form estimate (module docstring): a fit is a candidate where
# its similarity to the estimate is at least MIN_FIT_SIMILARITY and its spread at least MIN_SPREAD
# (a near-delta fit is no blur), and replaces the estimate unless the
# estimate's residual ratio is under (1 - FREE_FORM_MARGIN) times the fit's. Chosen on natural/val
# (8 photos, 60 rows; `python -m lab.blind_select`; benchmarks/RESULTS.md, "Deblurring an unknown
# blur"): the shakes' estimates fit 1.9-5.5 % better than their candidate fits or resemble their
# fits at 0.45-0.61, the drifted lens and defocus estimates fit 1-16 % worse than their best fit and
# resemble it at 0.76-0.89; every bound from 0.58 to 0.76 and margin from 0 to 0.019 scores the same
MIN_FIT_SIMILARITY = 0.65
FREE_FORM_MARGIN = 0.01
# a free-form estimate the residual bound refuses is still kept as a camera shake (`found_shake`)
# where it is shaped like one: a path, whose largest tap holds SHAKE_TAPS[0]-SHAKE_TAPS[1] of the
# mass (a sharp photo's free-form estimate is a delta with a faint tail, 0.16-0.39 on 6 val photos;
# a drifted lens estimate a blob, 0.011; the shakes' estimates 0.038-0.112), that no Gaussian or
# disk resembles (no candidate fit), with a residual ratio up to MAX_SHAKE_RATIO: on natural/val
# such estimates gain +0.13 to +9.2 dB up to a ratio of 1.21, and the next one, at 1.220, lost 2.04
# dB (`python -m lab.blind_select apply ... --shake R LO HI`; benchmarks/notes/blind.md, "Shakes the
# residual bound refused")
SHAKE_TAPS = (0.02, 0.14)
MAX_SHAKE_RATIO = 1.20
# such a shake-shaped estimate under MIN_CONFIDENCE (the halves of the crop disagree, as they do on
# most large shakes) is kept too, and the photo is restored only LOW_CONFIDENCE_SHARE of the way
# (`KernelEstimate.share`: photo + share x (restored - photo)), issue 31's "restore
# conservatively": the largest share whose worst row loses at most 0.3 dB (the issue's tolerance
# for a sharp photo) on the 24 such rows of natural/val (+1.09 dB on average, the worst -0.21);
# restored in full, 20 of them gained and four lost 0.6-8.3 dB (`python -m lab.blind_share`;
# benchmarks/notes/blind.md, "Shakes found with low confidence")
LOW_CONFIDENCE_SHARE = 0.2


def _otf(k: Tensor, h: int, w: int) -> Tensor:
    """FFT of the kernel k in an h x w torus (`restore.operators.circular_blur.centred`)."""
    return torch.fft.fft2(centred(k, h, w))


def _grad(x: Tensor) -> tuple[Tensor, Tensor]:
    """Circular forward differences (x[i+1] - x[i]) along W and H."""
    return x.roll(-1, -1) - x, x.roll(-1, -2) - x


def _diff_otfs(h: int, w: int, dtype, device) -> tuple[Tensor, Tensor]:
    d = torch.zeros(h, w, dtype=dtype, device=device)
    dx, dy = d.clone(), d.clone()
    dx[0, 0], dx[0, -1] = -1, 1  # x.roll(-1) - x  <=>  correlation; as a convolution kernel at (0, -1)
    dy[0, 0], dy[-1, 0] = -1, 1
    return torch.fft.fft2(dx), torch.fft.fft2(dy)


def l0_deblur(y: Tensor, k: Tensor, lam: float, kappa: float = 2.0) -> Tensor:
    """argmin_x ||k * x - y||^2 + lam ||grad x||_0 on the torus, by half-quadratic splitting
    (Xu et al. 2011, 2013): beta from 2 lam to BETA_MAX, times kappa per pass. y (H, W)."""
    h, w = y.shape
    K = _otf(k.to(y.dtype), h, w)
    Dx, Dy = _diff_otfs(h, w, y.dtype, y.device)
    Y = torch.fft.fft2(y)
    num_k = K.conj() * Y
    den_k, den_d = K.abs() ** 2, Dx.abs() ** 2 + Dy.abs() ** 2
    x, beta = y, 2 * lam
    while beta < BETA_MAX:
        gx, gy = _grad(x)
        small = gx ** 2 + gy ** 2 < lam / beta
        gx, gy = gx.masked_fill(small, 0), gy.masked_fill(small, 0)
        num = num_k + beta * (Dx.conj() * torch.fft.fft2(gx) + Dy.conj() * torch.fft.fft2(gy))
        x = torch.fft.ifft2(num / (den_k + beta * den_d)).real
        beta *= kappa
    return x


def _clean_kernel(k: Tensor, threshold: float = 0.05) -> Tensor:
    """Non-negative, small taps (under threshold x max) zeroed, isolated specks (8-connected
    components holding under 5 % of the mass) removed, sum 1. A camera shake's path can break
    into a few pieces at the threshold (Levin et al.'s kernels do), so more than one piece stays."""
    from scipy import ndimage

    k = k.clamp(min=0)
    k = torch.where(k < threshold * k.max(), torch.zeros_like(k), k)
    a = k.cpu().numpy()
    labels, n = ndimage.label(a > 0, structure=np.ones((3, 3)))
    if n > 1:
        mass = np.asarray(ndimage.sum(a, labels, range(1, n + 1)))
        keep = np.flatnonzero(mass >= 0.05 * mass.sum()) + 1
        a = np.where(np.isin(labels, keep), a, 0)
    k = torch.from_numpy(a).to(k)
    s = k.sum()
    if s <= 0:
        k = torch.zeros_like(k)
        k[k.shape[0] // 2, k.shape[1] // 2] = 1
        return k
    return k / s


def _recentre(k: Tensor) -> Tensor:
    """k moved by the whole pixels that bring its centre of mass nearest the grid's centre (a
    kernel and its image are known only up to a shift; a kernel drifting off the grid is cut)."""
    n = k.shape[0]
    ii = torch.arange(n, dtype=k.dtype, device=k.device)
    s = k.sum()
    dy = int(round(float((k.sum(1) * ii).sum() / s))) - n // 2
    dx = int(round(float((k.sum(0) * ii).sum() / s))) - n // 2
    if dy == 0 and dx == 0:
        return k
    out = torch.zeros_like(k)
    ys, yd = (slice(dy, n), slice(0, n - dy)) if dy >= 0 else (slice(0, n + dy), slice(-dy, n))
    xs, xd = (slice(dx, n), slice(0, n - dx)) if dx >= 0 else (slice(0, n + dx), slice(-dx, n))
    out[yd, xd] = k[ys, xs]
    return out


def edge_threshold(x: Tensor, size: int, edges: float) -> float:
    """The gradient magnitude above which, in each of 4 orientation bins of grad x, at least
    edges x size pixels lie (the least over the bins; Cho & Lee 2009, their r = 2): the salient
    edges a size x size kernel is estimated from. 0 (every gradient) where edges <= 0."""
    if edges <= 0:
        return 0.0
    gx, gy = _grad(x)
    m = (gx ** 2 + gy ** 2).sqrt()
    bins = ((torch.atan2(gy, gx) % math.pi) / (math.pi / 4)).long().clamp(max=3)
    n, t = max(1, int(edges * size)), math.inf
    for b in range(4):
        v = m[bins == b]
        if v.numel() > n:
            t = min(t, float(v.topk(n).values[-1]))
    return t if math.isfinite(t) else 0.0


def _kernel_step(x: Tensor, y: Tensor, size: int, gamma: float, tau: float = 0.0) -> Tensor:
    """argmin_k ||grad x * k - grad y||^2 + gamma ||k||^2 (FFT), the gradients of x under tau
    (`edge_threshold`) set to 0, cut to size x size and cleaned."""
    h, w = y.shape
    gx, gy = _grad(x)
    if tau > 0:
        small = gx ** 2 + gy ** 2 < tau * tau
        gx, gy = gx.masked_fill(small, 0), gy.masked_fill(small, 0)
    bx, by = _grad(y)
    GX, GY = torch.fft.fft2(gx), torch.fft.fft2(gy)
    num = GX.conj() * torch.fft.fft2(bx) + GY.conj() * torch.fft.fft2(by)
    den = GX.abs() ** 2 + GY.abs() ** 2 + gamma
    full = torch.fft.ifft2(num / den).real  # the kernel with its centre at (0, 0)
    r = size // 2
    k = full.roll((r, r), dims=(0, 1))[:size, :size]
    return _clean_kernel(_recentre(_clean_kernel(k)))


def _resize(y: Tensor, hw: tuple[int, int]) -> Tensor:
    return F.interpolate(y[None, None], size=hw, mode="bilinear", align_corners=False, antialias=True)[0, 0]


def _resize_kernel(k: Tensor, size: int) -> Tensor:
    if k.shape[0] == size:
        return k
    k = F.interpolate(k[None, None], size=(size, size), mode="bilinear", align_corners=False)[0, 0].clamp(min=0)
    return k / k.sum()


def _estimate(y: Tensor, size: int, lam: float, lam_min: float, gamma: float, iters: int, edges: float = 2.0,
              per_scale: bool = True) -> Tensor:
    """The multi-scale L0 kernel estimate (size x size, odd) of the luminance y (H, W); lam restarts
    at each scale where per_scale (else it decays across all scales, the estimator before
    2026-12-05), the kernel step uses the salient edges of `edge_threshold` (all where edges is 0)."""
    lam0 = lam
    r = math.sqrt(0.5)
    sizes = [size]
    while sizes[-1] > 5:
        s = int(math.ceil(sizes[-1] * r))
        sizes.append(s + (s % 2 == 0))
    sizes = sizes[::-1]
    k = torch.zeros(sizes[0], sizes[0], dtype=y.dtype, device=y.device)
    k[sizes[0] // 2, sizes[0] // 2 - 1: sizes[0] // 2 + 1] = 0.5  # a two-tap start: not the fixed point delta
    for s in sizes:
        f = s / size
        hw = (max(8, round(y.shape[0] * f)), max(8, round(y.shape[1] * f)))
        ys = _resize(y, hw) if hw != tuple(y.shape) else y
        ys = periodic_pad(ys, s)
        k = _resize_kernel(k, s)
        if per_scale:
            lam = lam0
        tau = None
        for _ in range(iters):  # lam decays by 1.1 per iteration (Pan et al.'s schedule)
            x = l0_deblur(ys, k, lam)
            if tau is None:
                tau = edge_threshold(x, s, edges)
            k = _kernel_step(x, ys, s, gamma, tau)
            tau /= 1.1
            lam = max(lam / 1.1, lam_min)
    return k


def fit_residual(y: Tensor, k: Tensor, lam: float = 4e-3) -> float:
    """||k * x - y||^2 over y (H, W), x the L0 latent of y through k (`l0_deblur`, on the smoothly
    periodic extension): how well the kernel explains the photo under the L0 gradient prior."""
    h, w = y.shape
    yp = periodic_pad(y, k.shape[0] + 8)
    k = k.to(y.dtype)
    x = l0_deblur(yp, k, lam)
    r = torch.fft.ifft2(torch.fft.fft2(x) * _otf(k, *yp.shape)).real - yp
    return float((r[:h, :w] ** 2).sum())


def residual_ratio(y: Tensor, k: Tensor) -> float:
    """k's fit residual over no blur's (`fit_residual`): a kernel estimated on a sharp photo, or a
    wrong one, explains it worse than the identity; a real blur's about as well or better."""
    return fit_residual(y, k) / max(fit_residual(y, torch.ones(1, 1, dtype=y.dtype, device=y.device)), 1e-30)


def parametric_fits(k: Tensor) -> dict[str, tuple[float, float, Tensor]]:
    """The Gaussian (std 0.3-8 px, step 0.1) and the disk (radius 0.5-12 px, step 0.25) most similar
    to the kernel k (`kernel_similarity`): {"gaussian": (similarity, std, kernel), "disk": (...)}."""
    k = k.double()
    best = {}
    for std in np.arange(0.3, 8.01, 0.1):
        g = gaussian_of_std(std).double()
        sim = kernel_similarity(k, g)
        if sim > best.get("gaussian", (-1.0,))[0]:
            best["gaussian"] = (sim, float(round(std, 2)), g)
    for radius in np.arange(0.5, 12.01, 0.25):
        d = disk_kernel(float(radius))
        sim = kernel_similarity(k, d)
        if sim > best.get("disk", (-1.0,))[0]:
            best["disk"] = (sim, float(radius), d)
    return best


def prefer_parametric(estimate_ratio: float, parametric_ratio: float, margin: float | None = None) -> bool:
    """Whether a parametric fit replaces the estimate: unless the estimate's residual ratio is under
    (1 - margin) times the fit's (module docstring; margin FREE_FORM_MARGIN)."""
    margin = FREE_FORM_MARGIN if margin is None else margin
    return not estimate_ratio < (1 - margin) * parametric_ratio


def found_shake(kernel: Tensor, ratio: float, fits: dict, max_ratio: float | None = None,
                taps: tuple[float, float] | None = None) -> bool:
    """Whether a free-form estimate that `found_blur` refuses is kept as a camera shake: it spreads
    at least MIN_SPREAD pixels, no Gaussian or disk resembles it (`fits`, its candidate fits, is
    empty), its largest tap holds between SHAKE_TAPS[0] and SHAKE_TAPS[1] of its mass (a path, not
    a blob nor a delta with a faint tail), and its residual ratio is at most MAX_SHAKE_RATIO (the
    constants' comment)."""
    max_ratio = MAX_SHAKE_RATIO if max_ratio is None else max_ratio
    lo, hi = SHAKE_TAPS if taps is None else taps
    k = kernel.double()
    top = float(k.max() / k.sum())
    return kernel_spread(k) >= MIN_SPREAD and not fits and lo <= top <= hi and ratio <= max_ratio


def found_blur(kernel: Tensor, ratio: float) -> bool:
    """Whether a named kernel is a blur found in the photo: it spreads at least MIN_SPREAD pixels and
    its residual ratio (`residual_ratio`) is at most MAX_RESIDUAL_RATIO (the constants' comment)."""
    return kernel_spread(kernel) >= MIN_SPREAD and ratio <= MAX_RESIDUAL_RATIO


def _embed(k: Tensor, size: int) -> Tensor:
    """k centred in a size x size grid (cut or padded with zeros)."""
    out = torch.zeros(size, size, dtype=torch.float64)
    kh = k.shape[0]
    if kh >= size:
        o = (kh - size) // 2
        return k[o:o + size, o:o + size].double()
    o = (size - kh) // 2
    out[o:o + kh, o:o + kh] = k
    return out


def kernel_similarity(a: Tensor, b: Tensor, shift: int = 2) -> float:
    """The largest normalised correlation of two kernels over relative shifts up to `shift` pixels
    (a kernel is known up to a translation of the image): 1 for the same kernel."""
    n = max(a.shape[0], b.shape[0]) + 2 * shift
    A, B = _embed(a, n), _embed(b, n)
    best = 0.0
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            v = float((A * B.roll((dy, dx), (0, 1))).sum() / (A.norm() * B.norm() + 1e-12))
            best = max(best, v)
    return best


def kernel_spread(k: Tensor) -> float:
    """The kernel's spread: the std (pixels, per axis) of its mass about its centroid; 0 for no blur."""
    k = k.double() / k.double().sum()
    n = k.shape[0]
    ii = torch.arange(n, dtype=torch.float64) - n // 2
    yy, xx = torch.meshgrid(ii, ii, indexing="ij")
    my, mx = float((k * yy).sum()), float((k * xx).sum())
    return math.sqrt(max(float((k * ((yy - my) ** 2 + (xx - mx) ** 2)).sum()) / 2, 0.0))


def describe_kernel(k: Tensor, fits: dict | None = None) -> tuple[str, float, Tensor]:
    """(family, parameter, kernel): "none" (spread under half a pixel), "gaussian" (std),
    "disk" (radius) when that parametric kernel matches k (similarity >= 0.9), else "free-form"
    (its support side) with k itself. fits: k's `parametric_fits` where already computed."""
    k = k.double()
    if kernel_spread(k) < 0.5:
        return "none", 0.0, torch.ones(1, 1, dtype=torch.float64)
    fits = fits or parametric_fits(k)
    family = "disk" if fits["disk"][0] > fits["gaussian"][0] else "gaussian"
    sim, param, kernel = fits[family]
    if sim >= 0.9:
        return family, param, kernel
    support = (k > 0).nonzero()
    side = int((support.max(0).values - support.min(0).values).max()) + 1
    return "free-form", float(side), k


@dataclass
class KernelEstimate:
    """A blur estimated from a photo: the kernel (float64, sum 1), its family ("none", "gaussian",
    "disk", "free-form") and parameter (std, radius or support side in pixels), a confidence in
    [0, 1] (the similarity of the kernels estimated independently on the photo's two halves) and
    the estimate's fit residual over no blur's (`residual_ratio`; where neither `found_blur` nor,
    for a free-form estimate, `found_shake` accepts it, the family is "none"), and the share of the
    way a restoration goes from the photo (1; LOW_CONFIDENCE_SHARE for a shake found with low
    confidence)."""

    kernel: Tensor
    family: str
    parameter: float
    confidence: float
    residual_ratio: float = 1.0
    share: float = 1.0

    @property
    def usable(self) -> bool:
        """Whether a restoration should use this kernel: a blur was found, with confidence, or it is
        a camera shake found with less, to be restored only `share` of the way."""
        return self.family != "none" and (self.confidence >= MIN_CONFIDENCE or self.share < 1)

    def __str__(self) -> str:
        what = {"none": "no blur", "gaussian": f"Gaussian blur, std {self.parameter:.1f} px",
                "disk": f"defocus (disk) blur, radius {self.parameter:.1f} px",
                "free-form": f"camera-shake blur, {int(self.parameter)} px across"}[self.family]
        low = f"; low, so restored {self.share:.0%} of the way" if self.share < 1 and self.family != "none" else ""
        return f"{what} (confidence {self.confidence:.2f}{low})"


def _luminance(x: Tensor) -> Tensor:
    """(C, H, W) on [0, 1] -> (H, W) float32; RGB by Rec. 601 weights."""
    x = x.float()
    if x.shape[0] == 3:
        return 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
    return x.mean(0)


def _denoised(y: Tensor, factor: float) -> Tensor:
    """y (H, W) denoised by wavelet BayesShrink (scikit-image) at `factor` times its estimated noise
    level (the patch-PCA estimate, `restore.operators.noise.estimate_noise`)."""
    from skimage.restoration import denoise_wavelet

    from .noise import estimate_noise

    sigma = estimate_noise(y[None].double()) * factor
    if sigma <= 0:
        return y
    out = denoise_wavelet(y.double().numpy(), sigma=sigma, method="BayesShrink", mode="soft", rescale_sigma=True)
    return torch.from_numpy(out).to(y.dtype)


def _crop(y: Tensor, side: int) -> Tensor:
    """The central side x side crop (or all of y where smaller)."""
    h, w = y.shape
    t, l = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return y[t:t + side, l:l + side]


def _prepared(image: Tensor, crop: int, denoise: float) -> Tensor:
    """The luminance crop the estimates work on, denoised where denoise > 0."""
    y = _crop(_luminance(image), crop)
    if denoise > 0:  # noise breaks the L0 step at the finest scales (Anger et al. 2019): denoise first
        y = _denoised(y, denoise)
    return y


def _spectral_estimate(image: Tensor, lum: Tensor, family: str, param: float, make, half_param, crop: int,
                       denoise: float, max_size: int, prepared: Tensor | None = None) -> KernelEstimate | None:
    """The estimate of a parametric blur `make(param)` found from the spectrum of the crop `lum`, or
    None where wider than max_size; its confidence compares the kernels of the crop's halves
    (`half_param(half)` their parameters), its residual ratio is taken on the crop as
    `estimate_kernel` prepares it (`prepared`, where it was already: `_prepared`)."""
    kernel = make(param)
    if kernel.shape[0] > max_size:
        return None
    half = lum.shape[1] // 2
    a, b = (make(half_param(part)) for part in (lum[:, :half], lum[:, half:]))
    ratio = residual_ratio(_prepared(image, crop, denoise) if prepared is None else prepared, kernel)
    return KernelEstimate(kernel, family, param, kernel_similarity(a, b), ratio)


def defocus_estimate(image: Tensor, crop: int = 512, denoise: float = 1.0, max_size: int = 35,
                     gate: bool = False) -> KernelEstimate | None:
    """The defocus blur of `image` found from its power spectrum (`restore.operators.spectral`) on the
    central crop of the luminance, or None where no disk stands out (or is wider than max_size);
    its confidence compares the best disks of the crop's left and right halves (in the band that
    found it), its residual ratio is taken on the crop as `estimate_kernel` prepares it. The
    residual gate (`found_blur`) is not asked (gate=True asks it): on natural/val it refused 5 of 32
    disks found at their exact radius and no other (benchmarks/notes/blind.md, "Defocus from the
    spectrum, wired in")."""
    lum = _crop(_luminance(image), crop)
    band = defocus_band(lum)
    if band is None:
        return None
    radius, f_max = band
    est = _spectral_estimate(image, lum, "disk", radius, disk_kernel,
                             lambda part: spectral_fits(part, f_max=f_max)["disk"][1], crop, denoise, max_size)
    return None if est is None or (gate and not found_blur(est.kernel, est.residual_ratio)) else est


def lens_estimate(image: Tensor, crop: int = 512, denoise: float = 1.0, max_size: int = 35,
                  prepared: Tensor | None = None) -> KernelEstimate | None:
    """The smooth lens blur (a Gaussian) of `image` found from its power spectrum
    (`restore.operators.spectral.find_lens_blur`) on the central crop of the luminance, or None
    (none found, or wider than max_size); its confidence compares the best Gaussians of the crop's
    halves, its residual ratio is taken as `defocus_estimate` takes it. `estimate_kernel` asks it
    last, where nothing usable was found (since 2026-12-05 night, with the disk guard of
    `find_lens_blur`: benchmarks/notes/blind.md, "A guard for the lens stage"). prepared: the crop
    as `_prepared` makes it, where the caller has it."""
    lum = _crop(_luminance(image), crop)
    std = find_lens_blur(lum)
    if std is None:
        return None
    return _spectral_estimate(image, lum, "gaussian", std, gaussian_of_std,
                              lambda part: spectral_fits(part)["gaussian"][1], crop, denoise, max_size, prepared)


def _estimate_parts(image: Tensor, max_size: int = 35, *, lam: float = 4e-3, lam_min: float = 1e-4,
                    gamma: float = 2.0, iters: int = 10, crop: int = 512, denoise: float = 1.0, edges: float = 2.0,
                    per_scale: bool = True, parametric: bool = True) -> dict:
    """What `estimate_kernel` decides from: the luminance crop y, the multi-scale estimate k, its
    confidence, its name (family, param, kernel: `describe_kernel`) and residual ratio on y, and for
    a free-form estimate where parametric, its parametric fits with their residual ratios
    ("fits": {family: (similarity, parameter, kernel, ratio)}; `parametric_fits`)."""
    if max_size < 3 or max_size % 2 == 0:
        raise ValueError(f"max_size must be an odd number >= 3, got {max_size}")
    y = _prepared(image, crop, denoise)
    half = y.shape[1] // 2
    max_size = min(max_size, (min(y.shape[0], half) // 2 - 1) | 1)  # at most half of each half across
    if max_size < 3:
        raise ValueError(f"the image ({image.shape[-1]}x{image.shape[-2]}) is too small to find its blur: give the kernel")
    opts = dict(edges=edges, per_scale=per_scale)
    k = _estimate(y, max_size, lam, lam_min, gamma, iters, **opts)
    a = _estimate(y[:, :half], max_size, lam, lam_min, gamma, iters, **opts)
    b = _estimate(y[:, half:], max_size, lam, lam_min, gamma, iters, **opts)
    fits = parametric_fits(k) if kernel_spread(k) >= 0.5 else None
    family, param, kernel = describe_kernel(k, fits)
    out = dict(y=y, raw=k, confidence=kernel_similarity(a, b), family=family, parameter=param, kernel=kernel,
               ratio=residual_ratio(y, kernel) if family != "none" else 1.0, fits={})
    if parametric and family == "free-form":
        out["fits"] = {fam: (sim, p, kf, residual_ratio(y, kf)) for fam, (sim, p, kf) in fits.items()
                       if sim >= MIN_FIT_SIMILARITY and kernel_spread(kf) >= MIN_SPREAD} if fits else {}
    return out


def choose_kernel(family: str, param: float, kernel: Tensor, ratio: float, fits: dict,
                  margin: float | None = None) -> tuple[str, float, Tensor, float]:
    """(family, parameter, kernel, residual ratio) kept from a named estimate and its candidate
    parametric fits ({family: (similarity, parameter, kernel, ratio)}): the fit with the smaller
    ratio replaces the estimate where `prefer_parametric` says so (module docstring)."""
    if fits:
        fam, (_, p, kf, r) = min(fits.items(), key=lambda f: f[1][3])
        if prefer_parametric(ratio, r, margin):
            return fam, p, kf, r
    return family, param, kernel, ratio


def estimate_kernel(image: Tensor, max_size: int = 35, *, lam: float = 4e-3, lam_min: float = 1e-4,
                    gamma: float = 2.0, iters: int = 10, crop: int = 512, denoise: float = 1.0, edges: float = 2.0,
                    per_scale: bool = True, parametric: bool = True, spectral: bool = True) -> KernelEstimate:
    """Estimate the blur of `image` ((C, H, W) on [0, 1]): where defocus, a usable disk found from
    the power spectrum (`defocus_estimate`); otherwise the multi-scale L0 estimate (module
    docstring) of a kernel up to max_size x max_size (odd; smaller on a photo under four times
    that across) on the central crop x crop pixels of the luminance, named by `describe_kernel`;
    its confidence compares the estimates of the crop's left and right halves. The blur is kept
    only where `found_blur` accepts it; where parametric, a free-form estimate that it accepts gives
    way to its Gaussian or disk fit unless it explains the photo clearly better (`choose_kernel`),
    and the fit must pass `found_blur` too. A free-form estimate that `found_blur` refuses is kept
    where it is shaped like a camera shake (`found_shake`); such a shake found with a confidence
    under MIN_CONFIDENCE is kept to be restored LOW_CONFIDENCE_SHARE of the way (`share`). Where
    that leaves nothing usable, a smooth lens blur found from the spectrum (`lens_estimate`).
    edges and per_scale as in `_estimate` (edges=0, per_scale=False, parametric=False,
    spectral=False: the estimator before 2026-12-05, but with today's gate)."""
    if spectral:
        disk = defocus_estimate(image, crop, denoise, max_size)
        if disk is not None and disk.usable:
            return disk
    p = _estimate_parts(image, max_size, lam=lam, lam_min=lam_min, gamma=gamma, iters=iters, crop=crop,
                        denoise=denoise, edges=edges, per_scale=per_scale, parametric=parametric)
    family, param, kernel, ratio = p["family"], p["parameter"], p["kernel"], p["ratio"]
    if found_blur(kernel, ratio):  # a fit never stands in for an estimate the gate refuses
        family, param, kernel, ratio = choose_kernel(family, param, kernel, ratio, p["fits"])
        found = found_blur(kernel, ratio)
    else:  # but a refused estimate shaped like a camera shake is kept as it is
        found = family == "free-form" and found_shake(kernel, ratio, p["fits"])
    if not found:
        family, param, kernel = "none", 0.0, torch.ones(1, 1, dtype=torch.float64)
    est = KernelEstimate(kernel, family, param, p["confidence"], ratio)
    if not est.usable and p["family"] == "free-form" and found_shake(p["kernel"], p["ratio"], p["fits"]):
        # a shake found with low confidence: restored part of the way
        return KernelEstimate(p["kernel"], "free-form", p["parameter"], p["confidence"], p["ratio"],
                              LOW_CONFIDENCE_SHARE)
    if spectral and not est.usable:  # a smooth lens blur the L0 estimate did not find
        lens = lens_estimate(image, crop, denoise, max_size, prepared=p["y"])
        if lens is not None and lens.usable:
            return lens
    return est
