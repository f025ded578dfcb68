"""Perceptual measures that need no downloaded weights.

Images: numpy (H, W, C) or (H, W) float on [0, 1], or torch (C, H, W) / (1, C, H, W) on [0, 1]
(moved to the CPU as float64). Masks: bool (H, W), True where the pixels count; None = everywhere.
The luminance of RGB is Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601); of other channel counts, the mean.

- `texture_ratio`: the band-pass energy (luminance minus its Gaussian blur) of est over ref: 1 for
  equal texture, -> 0 for an over-smoothed estimate, > 1 for added detail or noise.
- `sliced_wasserstein`: the SWD of Karras, Aila, Laine & Lehtinen 2018, "Progressive growing of GANs
  for improved quality, stability, and variation" (ICLR), between the 7 x 7 patches of the Laplacian
  pyramids of two images.
- `niqe` / `fit_niqe`: NIQE of Mittal, Soundararajan & Bovik 2013, "Making a 'completely blind'
  image quality analyzer" (IEEE SPL 20(3)), with the pristine model fitted by `fit_niqe` on our own
  images (no downloaded parameters; `lab/fit_niqe.py` writes one for natural/train).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import convolve1d, gaussian_filter
from scipy.special import gammaln

__all__ = ["texture_ratio", "sliced_wasserstein", "niqe", "fit_niqe", "natural_niqe_model", "ggd_fit", "aggd_fit"]


def _hwc(x) -> np.ndarray:
    """An image (module docstring) -> float64 (H, W, C)."""
    if isinstance(x, torch.Tensor):
        t = x.detach().double().cpu()
        t = t[0] if t.ndim == 4 else t
        a = (t[None] if t.ndim == 2 else t).permute(1, 2, 0).numpy()
    else:
        a = np.asarray(x, dtype=np.float64)
    return a[..., None] if a.ndim == 2 else a


def _luma(x) -> np.ndarray:
    a = _hwc(x)
    return a @ np.array([0.299, 0.587, 0.114]) if a.shape[-1] == 3 else a.mean(-1)


def _mask(mask, shape) -> np.ndarray:
    if mask is None:
        return np.ones(shape, bool)
    m = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask, dtype=bool)
    if m.shape != tuple(shape):
        raise ValueError(f"mask of shape {m.shape} for an image of {tuple(shape)}")
    return m


# ---------------------------------------------------------------- texture ratio

def texture_ratio(est, ref, mask=None, std: float = 1.5) -> float:
    """sum over mask of b(est)^2 / sum over mask of b(ref)^2, b(x) = Y(x) - G_std * Y(x): the
    band-pass (detail) energy of the luminance, G_std a Gaussian blur of `std` px (mirrored at the
    borders). 1 when est == ref; near 0 for a flat or blurred est; inf when ref has no detail."""
    ye, yr = _luma(est), _luma(ref)
    if ye.shape != yr.shape:
        raise ValueError(f"est {ye.shape} and ref {yr.shape} differ in size")
    m = _mask(mask, yr.shape)
    be = ye - gaussian_filter(ye, std, mode="mirror")
    br = yr - gaussian_filter(yr, std, mode="mirror")
    num, den = float((be[m] ** 2).sum()), float((br[m] ** 2).sum())
    return num / den if den > 0 else (1.0 if num == 0 else float("inf"))


# ---------------------------------------------------------------- sliced Wasserstein (Karras et al. 2018)

_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16  # the 5-tap Gaussian of Karras et al.'s pyramid


def _blur5(a: np.ndarray) -> np.ndarray:
    return convolve1d(convolve1d(a, _BINOMIAL, axis=0, mode="mirror"), _BINOMIAL, axis=1, mode="mirror")


def _laplacian_pyramid(a: np.ndarray, levels: int) -> list[np.ndarray]:
    """`levels` images (H, W, C), finest first: band-passes G_i - up(G_{i+1}), then the coarsest G."""
    out, g = [], a
    for _ in range(levels - 1):
        down = _blur5(g)[::2, ::2]
        up = np.zeros_like(g)
        up[::2, ::2] = down
        out.append(g - 4 * _blur5(up))  # zero-insertion upsampling; x4 restores the mean
        g = down
    return out + [g]


def _patches(a: np.ndarray, centres: np.ndarray, patch: int) -> np.ndarray:
    """(N, C * patch^2) descriptors around centres (N, 2), normalised per channel over the N
    (zero mean, unit std: Karras et al.'s finalize_descriptors)."""
    r = patch // 2
    off = np.arange(-r, patch - r)
    rows = centres[:, 0, None, None] + off[None, :, None]
    cols = centres[:, 1, None, None] + off[None, None, :]
    d = a[rows, cols]  # (N, p, p, C)
    d = (d - d.mean(axis=(0, 1, 2))) / (d.std(axis=(0, 1, 2)) + 1e-12)
    return d.transpose(0, 3, 1, 2).reshape(len(d), -1)


def sliced_wasserstein(est, ref, mask=None, levels: int = 3, patch: int = 7, projections: int = 128,
                       generator: torch.Generator | None = None, max_patches: int = 16384) -> float:
    """The sliced Wasserstein distance of Karras et al. 2018 (module docstring) between est and ref
    (same size), averaged over `levels` levels of their Laplacian pyramids (binomial 5-tap filter).

    Per level: the patch x patch descriptors (all channels) centred on the pixels whose full patch
    fits and, with a mask, whose centre lies in the mask (downsampled by taking every 2^l-th pixel);
    at most `max_patches` of those positions (the same for both images), chosen at random; each
    image's descriptors normalised per channel; `projections` random unit directions; the mean
    absolute difference of the sorted projections, averaged over the directions. Unlike Karras et al.
    no x 1e3 scaling. All randomness through `generator` (None: a fresh one seeded with 0), drawn
    the same whatever the order of est and ref, so the distance is symmetric and 0 for equal images.
    nan when a level has no patch in the mask."""
    a, b = _hwc(est), _hwc(ref)
    if a.shape != b.shape:
        raise ValueError(f"est {a.shape} and ref {b.shape} differ in shape")
    m = _mask(mask, a.shape[:2])
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    r = patch // 2
    dists = []
    for lvl, (pa, pb) in enumerate(zip(_laplacian_pyramid(a, levels), _laplacian_pyramid(b, levels))):
        ml = np.zeros(pa.shape[:2], bool)
        inner = m[:: 2 ** lvl, :: 2 ** lvl][: pa.shape[0], : pa.shape[1]]
        ml[r: pa.shape[0] - (patch - r - 1), r: pa.shape[1] - (patch - r - 1)] = \
            inner[r: pa.shape[0] - (patch - r - 1), r: pa.shape[1] - (patch - r - 1)]
        centres = np.argwhere(ml)
        if len(centres) == 0:
            return float("nan")
        if len(centres) > max_patches:
            centres = centres[torch.randperm(len(centres), generator=g)[:max_patches].numpy()]
        da, db = _patches(pa, centres, patch), _patches(pb, centres, patch)
        dirs = torch.randn(da.shape[1], projections, generator=g, dtype=torch.float64).numpy()
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        sa, sb = np.sort(da @ dirs, axis=0), np.sort(db @ dirs, axis=0)
        dists.append(float(np.abs(sa - sb).mean()))
    return float(np.mean(dists))


# ---------------------------------------------------------------- NIQE (Mittal et al. 2013)

_ALPHAS = np.arange(0.2, 10.0, 0.001)
# r(a) = Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)), the ratio E|x|^2 / E[x^2] of a GGD of shape a (increasing in a)
_R = np.exp(2 * gammaln(2 / _ALPHAS) - gammaln(1 / _ALPHAS) - gammaln(3 / _ALPHAS))


def _shape(ratio: float) -> float:
    return float(_ALPHAS[np.argmin(np.abs(_R - ratio))])


def ggd_fit(x) -> tuple[float, float]:
    """(alpha, sigma^2): the moment-matching fit of a zero-mean generalized Gaussian (Sharifi &
    Leon-Garcia 1995, as in BRISQUE/NIQE): alpha from E|x|^2 / E[x^2] on a 0.001 grid of [0.2, 10)."""
    x = np.asarray(x, np.float64).ravel()
    s2 = float(np.mean(x ** 2))
    return _shape(np.mean(np.abs(x)) ** 2 / s2 if s2 > 0 else 0.0), s2


def aggd_fit(x) -> tuple[float, float, float, float]:
    """(alpha, eta, sigma_l^2, sigma_r^2): the moment-matching fit of an asymmetric generalized
    Gaussian (Lasmar, Stitou & Berthoumieu 2009, as in BRISQUE/NIQE); eta its mean."""
    x = np.asarray(x, np.float64).ravel()
    left, right = x[x < 0], x[x > 0]
    sl = np.sqrt(np.mean(left ** 2)) if len(left) else 0.0
    sr = np.sqrt(np.mean(right ** 2)) if len(right) else 0.0
    if sl == 0 or sr == 0:
        return _shape(0.0), 0.0, float(sl ** 2), float(sr ** 2)
    gamma = sl / sr
    rhat = np.mean(np.abs(x)) ** 2 / np.mean(x ** 2)
    alpha = _shape(rhat * (gamma ** 3 + 1) * (gamma + 1) / (gamma ** 2 + 1) ** 2)
    k = np.exp(0.5 * (gammaln(1 / alpha) - gammaln(3 / alpha)))
    eta = (sr - sl) * k * np.exp(gammaln(2 / alpha) - gammaln(1 / alpha))
    return alpha, float(eta), float(sl ** 2), float(sr ** 2)


def _mscn(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MSCN coefficients of a luminance on [0, 255] (Gaussian window, std 7/6, truncated at 3 px,
    C = 1) and the local std field sigma."""
    mu = gaussian_filter(y, 7 / 6, mode="nearest", truncate=2.6)
    sigma = np.sqrt(np.abs(gaussian_filter(y * y, 7 / 6, mode="nearest", truncate=2.6) - mu * mu))
    return (y - mu) / (sigma + 1), sigma


def _features(y: np.ndarray, patch: int) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, 36), sharpness (N,)) of the non-overlapping patch x patch blocks of a luminance
    on [0, 255]: per scale (full, then 2 x 2 averaged) the GGD fit of the MSCN and the AGGD fits of
    its horizontal, vertical and two diagonal neighbour products; sharpness: the block's mean sigma."""
    h, w = (y.shape[0] // patch) * patch, (y.shape[1] // patch) * patch
    if h == 0 or w == 0:
        raise ValueError(f"an image of {y.shape} has no {patch} x {patch} patch")
    y = y[:h, :w]
    feats, sharp = [], None
    for scale, p in ((0, patch), (1, patch // 2)):
        if scale:
            y = y[: h // 2 * 2, : w // 2 * 2]
            y = (y[0::2, 0::2] + y[1::2, 0::2] + y[0::2, 1::2] + y[1::2, 1::2]) / 4
        m, sigma = _mscn(y)
        mp = np.pad(m, 1, mode="edge")  # neighbours right, down, down-right, down-left (edges repeated)
        prods = [m * mp[1:-1, 2:], m * mp[2:, 1:-1], m * mp[2:, 2:], m * mp[2:, :-2]]
        rows = []
        for i in range(0, h // patch * p, p):
            for j in range(0, w // patch * p, p):
                blk = (slice(i, i + p), slice(j, j + p))
                f = list(ggd_fit(m[blk]))
                for q in prods:
                    f += aggd_fit(q[blk])
                rows.append(f)
        feats.append(np.array(rows))
        if scale == 0:
            sharp = np.array([sigma[i:i + p, j:j + p].mean() for i in range(0, h, p) for j in range(0, w, p)])
    return np.concatenate(feats, axis=1), sharp


def fit_niqe(images, patch: int = 96, sharpness: float = 0.75) -> dict:
    """The pristine model of NIQE (Mittal et al. 2013) fitted on `images` (an iterable of images,
    module docstring): the 36 features of the patch x patch blocks of each image whose sharpness
    exceeds `sharpness` times the image's sharpest block, and their mean and covariance.
    Returns {"mu": (36,), "cov": (36, 36), "patch": int, "n": blocks used} (np.savez-able; a loaded
    .npz serves as the model of `niqe`)."""
    kept = []
    for im in images:
        f, s = _features(255 * _luma(im), patch)
        kept.append(f[s > sharpness * s.max()] if s.max() > 0 else f[:0])
    f = np.concatenate(kept)
    if len(f) < 2:
        raise ValueError(f"fit_niqe: {len(f)} sharp blocks; give more or larger images")
    return {"mu": f.mean(0), "cov": np.cov(f, rowvar=False), "patch": int(patch), "n": len(f)}


def niqe(image, model) -> float:
    """NIQE (Mittal et al. 2013): sqrt((mu - mu_p)^T ((cov + cov_p) / 2)^+ (mu - mu_p)), the MVG
    (mu, cov) of the features of all the image's patch x patch blocks against the pristine model
    (mu_p, cov_p) of `fit_niqe` (a dict or a loaded .npz). Lower is more natural. The image needs at
    least two blocks of the model's patch size."""
    f, _ = _features(255 * _luma(image), int(model["patch"]))
    if len(f) < 2:
        raise ValueError(f"niqe: an image with {len(f)} block(s) of {int(model['patch'])} px")
    d = f.mean(0) - np.asarray(model["mu"])
    cov = (np.cov(f, rowvar=False) + np.asarray(model["cov"])) / 2
    return float(np.sqrt(max(d @ np.linalg.pinv(cov) @ d, 0.0)))


def natural_niqe_model() -> dict:
    """The pristine model shipped with the benchmarks (niqe_natural.npz beside this file, fitted on
    natural/train by `lab/fit_niqe.py`)."""
    from pathlib import Path

    with np.load(Path(__file__).with_name("niqe_natural.npz")) as f:
        return {k: f[k] for k in f.files}
