"""FID and KID between two sets of images, through a feature network the user has on disk.

- `fid`: the Frechet Inception Distance of Heusel, Ramsauer, Unterthiner, Nessler & Hochreiter
  2017, "GANs trained by a two time-scale update rule converge to a local Nash equilibrium"
  (NeurIPS): the Frechet distance between Gaussians fitted to two feature sets.
- `kid`: the Kernel Inception Distance of Binkowski, Sutherland, Arbel & Gretton 2018,
  "Demystifying MMD GANs" (ICLR): the unbiased MMD^2 with the cubic polynomial kernel, averaged
  over random subsets.
- `load_extractor` / `features`: the feature network, a TorchScript file (`torch.jit.save`) or an
  exported program (`.pt2`, `torch.export.save`); nothing is downloaded. Its input convention here:
  a float32 batch (N, 3, H, W), RGB on [0, 1], of one size; its output (N, d). Resizing and
  normalising for the network (e.g. Inception-v3's 299 x 299 on [-1, 1]) is the file's own job.
  A TorchScript file is a program (TorchScript, not Python): load only files you trust.
- `patches`: the non-overlapping tiles of a few photos, the sets FID and KID compare here.

The photos of these benchmarks are few, so the sets are patches of a few photos: the numbers rank
methods on the same patches and network, and are not comparable to published FID or KID (Inception
on 50,000 whole images; FID is biased upwards for small sets, KID is not but is noisy).
Arithmetic in float64 on numpy.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ["fid", "frechet_distance", "kid", "mmd2_unbiased", "load_extractor", "features", "patches"]


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric PSD matrix (eigenvalues below 0, rounding, set to 0):
    V diag(sqrt l) V^T, whatever signs LAPACK gives the eigenvectors."""
    lam, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(lam, 0, None))) @ v.T


def frechet_distance(mu1, s1, mu2, s2) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), the squared Frechet (2-Wasserstein) distance
    between N(mu1, S1) and N(mu2, S2). tr (S1 S2)^(1/2) is computed as the sum of the square roots of
    the eigenvalues of the symmetric PSD S1^(1/2) S2 S1^(1/2), which has the eigenvalues of S1 S2."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    r = _sqrt_psd(s1)
    lam = np.linalg.eigvalsh((r @ s2 @ r + (r @ s2 @ r).T) / 2)
    cross = float(np.sqrt(np.clip(lam, 0, None)).sum())  # tr (S1 S2)^(1/2)
    # the Frechet distance of two Gaussians (Dowson & Landau 1982), Heusel et al.'s FID
    return max(float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * cross), 0.0)


def _stats(f) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(f, np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must be (N >= 2, d), got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def fid(f1, f2) -> float:
    """FID (Heusel et al. 2017) of two feature sets (N1, d) and (N2, d): the Frechet distance of
    their means and (unbiased, N - 1) covariances. 0 for equal sets; biased upwards for small N."""
    return frechet_distance(*_stats(f1), *_stats(f2))


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD^2 (Gretton et al. 2012, Lemma 6) of samples x (m, d) and y (n, d) under the
    kernel k(a, b) = (a . b / d + 1)^3 of Binkowski et al. 2018: the means of k over the pairs i != j
    within x and within y, minus twice its mean over all pairs across. Its expectation is 0 when x and
    y come from one distribution, so single values are negative about half the time."""
    d = x.shape[1]
    kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3  # k(a, b) = (a.b/d + 1)^3
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())  # the unbiased estimator of MMD^2


def kid(f1, f2, subsets: int = 100, subset_size: int = 1000, generator: torch.Generator | None = None) -> float:
    """KID (Binkowski et al. 2018): `mmd2_unbiased` of `subset_size` features drawn without
    replacement from each set (at most the smaller set's size), averaged over `subsets` draws. All
    randomness through `generator` (None: a fresh one seeded with 0)."""
    a, b = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, d) with one d, got {a.shape} and {b.shape}")
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs at least 2 features in each set, got {len(a)} and {len(b)}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    vals = [mmd2_unbiased(a[torch.randperm(len(a), generator=g)[:m].numpy()],
                          b[torch.randperm(len(b), generator=g)[:m].numpy()]) for _ in range(subsets)]
    return float(np.mean(vals))


def load_extractor(path) -> torch.nn.Module:
    """The feature network of a TorchScript file, or of an exported program when the name ends in
    .pt2 (module docstring), on the CPU; a missing or unreadable file is a one-line ValueError."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such feature network file")
    try:
        if path.suffix == ".pt2":
            return torch.export.load(str(path)).module()
        with warnings.catch_warnings():  # torch >= 2.13 marks TorchScript deprecated; its files still load
            warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated", category=DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu").eval()
    except (RuntimeError, ValueError, OSError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        kind = "an exported program (.pt2)" if path.suffix == ".pt2" else "a TorchScript file"
        raise ValueError(f"{path}: not {kind}: {first}") from None


@torch.no_grad()
def features(net, images, batch: int = 64) -> np.ndarray:
    """(N, d) float64 features of images (N, 3, H, W) on [0, 1] (a tensor or an array) through `net`,
    `batch` at a time, in float32 (module docstring's convention)."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).float()
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got shape {tuple(x.shape)}")
    out = [net(x[i:i + batch]) for i in range(0, len(x), batch)]
    if any(o.ndim != 2 or o.shape[0] != min(batch, len(x) - i * batch) for i, o in enumerate(out)):
        raise ValueError(f"the feature network must return (N, d), got shape {tuple(out[0].shape)}")
    return torch.cat(out).double().numpy()


def patches(images, size: int = 64) -> np.ndarray:
    """(N, 3, size, size) float32: the non-overlapping size x size tiles of each image (numpy
    (H, W, 3) on [0, 1]), row by row from the top left; what does not fill a tile is left out."""
    out = []
    for im in images:
        a = np.asarray(im, np.float32)
        if a.ndim != 3 or a.shape[-1] != 3:
            raise ValueError(f"patches take (H, W, 3) images, got shape {a.shape}")
        h, w = a.shape[0] // size, a.shape[1] // size
        t = a[: h * size, : w * size].reshape(h, size, w, size, 3)
        out.append(t.transpose(0, 2, 4, 1, 3).reshape(h * w, 3, size, size))
    return np.concatenate(out) if out else np.zeros((0, 3, size, size), np.float32)
