"""Defocus from the power spectrum (restore.operators.spectral): the disk's rings, the fit, and the
decision on synthetic blurs of a real photo."""
import numpy as np
import pytest
import torch
from scipy.signal import fftconvolve
from skimage import data

import restore.operators.spectral as D
from restore.operators import gaussian_kernel, motion_kernel
from restore.operators.blind import defocus_estimate, estimate_kernel, lens_estimate
from restore.operators.kernels import disk_kernel, gaussian_of_std


def _observed(x: np.ndarray, k: np.ndarray, seed: int = 0) -> torch.Tensor:
    """x (H, W, 3) blurred from the whole frame (border cut), noise 0.01, 8 bits: (3, H', W')."""
    m = k.shape[0] // 2
    b = np.stack([fftconvolve(x[..., c], k, mode="same") for c in range(3)], -1)
    b = b[m:b.shape[0] - m, m:b.shape[1] - m] if m else b
    b = b + 0.01 * np.random.default_rng(seed).standard_normal(b.shape)
    return torch.from_numpy(np.round(np.clip(b, 0, 1) * 255) / 255).permute(2, 0, 1)


def _lum(y: torch.Tensor) -> torch.Tensor:
    return 0.299 * y[0] + 0.587 * y[1] + 0.114 * y[2]


@pytest.fixture(scope="module")
def photo():
    return data.astronaut()[:320, 80:400].astype(np.float64) / 255


@pytest.mark.parametrize("radius", [3.0, 5.0])
def test_the_disks_first_ring_lies_where_the_bessel_function_has_its_zero(radius):
    # |K(f)| = |2 J1(2 pi R f) / (2 pi R f)|, first zero at j_1,1 / (2 pi R), j_1,1 = 3.8317
    h = D._transfer(disk_kernel(radius))
    bins = D._bins(0.5)
    f = 0.5 * (bins[1:] + bins[:-1])
    first = 3.8317 / (2 * np.pi * radius)
    near = np.abs(f - first) < 0.2 * first
    i = np.argmin(np.where(near, h, np.inf))
    assert abs(f[i] - first) <= 0.01 and h[i] < 1e-2 * h[0]
    g = D._transfer(gaussian_kernel(13, 2.0))
    assert np.all(np.diff(g[g > 1e-6]) < 0)  # a Gaussian's falls without a zero (down to its truncation's ripple)


def test_a_spectrum_made_by_the_model_is_fitted_exactly_by_its_own_disk():
    cands = D._candidates(D.DISK_RADII, D.GAUSSIAN_STDS, 0.5)
    fam, radius, h = next(c for c in cands if c[0] == "disk" and c[1] == 4.5)
    bins = D._bins(0.5)
    f = 0.5 * (bins[1:] + bins[:-1])
    p = D._AMPS[12] * f ** -2.0 * h + D._NOISES[1]  # every parameter on the grid
    scores = D._scores(p, np.stack([c[2] for c in cands]))
    best = int(np.argmin(scores))
    assert cands[best][:2] == ("disk", 4.5) and scores[best] < 1e-20
    assert min(s for c, s in zip(cands, scores) if c[0] == "gaussian") > 0.05


@pytest.mark.parametrize("radius", [4.0, 5.0, 7.5])  # a small disk (2-3 px) may be missed
def test_a_defocus_blur_is_found_at_its_radius(photo, radius):
    assert D.find_defocus(_lum(_observed(photo, disk_kernel(radius).numpy()))) == pytest.approx(radius, abs=0.25)


@pytest.mark.parametrize("kernel", ["sharp", "gaussian", "shake"])
def test_no_disk_is_found_where_the_blur_has_no_rings(photo, kernel):
    k = {"sharp": np.ones((1, 1)),
         "gaussian": gaussian_kernel(15, 2.5).numpy(),  # the second moment of a disk of radius 5
         "shake": motion_kernel(21, 0.6, generator=torch.Generator().manual_seed(3)).numpy()}[kernel]
    lum = _lum(_observed(photo, k))
    assert D.find_defocus(lum) is None
    for f_max, bound in D.DISK_BANDS:  # with room to spare in every band
        fits = D.spectral_fits(lum, f_max=f_max)
        assert fits["disk"][0] > 1.5 * bound * fits["gaussian"][0], (f_max, fits)


def test_estimate_kernel_returns_the_spectral_disk(photo):
    y = _observed(photo, disk_kernel(5.0).numpy())
    est = estimate_kernel(y, 25)
    assert (est.family, est.parameter) == ("disk", 5.0) and est.usable, est
    assert torch.equal(est.kernel, disk_kernel(5.0))
    assert defocus_estimate(y, max_size=9) is None  # a disk wider than max_size is not taken


def test_a_lens_blur_is_found_at_its_std_and_not_where_there_is_none(photo):
    for std in (2.5, 3.5):
        y = _observed(photo, gaussian_of_std(std).numpy())
        assert D.find_lens_blur(_lum(y)) == pytest.approx(std, abs=0.5)
    assert D.find_lens_blur(_lum(_observed(photo, np.ones((1, 1))))) is None  # sharp
    assert D.find_lens_blur(_lum(_observed(photo, disk_kernel(5.0).numpy()))) is None  # a disk stands out
    est = lens_estimate(_observed(photo, gaussian_kernel(19, 3.0).numpy()))
    assert est.family == "gaussian" and abs(est.parameter - 3.0) <= 0.5 and est.usable, est


def test_the_lens_guard_and_the_lens_stage_of_estimate_kernel(photo, monkeypatch):
    """A lens blur is named only where no disk comes near its Gaussian (LENS_GUARD), and
    estimate_kernel asks the lens stage where the L0 estimate leaves nothing usable."""
    import restore.operators.blind as B

    y = _observed(photo, gaussian_of_std(3.0).numpy())
    lum = _lum(y)
    fits = D.spectral_fits(lum, f_max=D.LENS_GUARD[0])
    ratio = fits["disk"][0] / fits["gaussian"][0]
    assert ratio >= D.LENS_GUARD[1]  # a Gaussian: every disk fits it clearly worse
    assert D.find_lens_blur(lum, guard=(D.LENS_GUARD[0], 0.99 * ratio)) is not None
    assert D.find_lens_blur(lum, guard=(D.LENS_GUARD[0], 1.01 * ratio)) is None
    nothing = {"family": "none", "parameter": 0.0, "kernel": torch.ones(1, 1, dtype=torch.float64), "ratio": 1.0,
               "fits": {}, "confidence": 0.0, "y": B._prepared(y, 512, 1.0)}
    monkeypatch.setattr(B, "_estimate_parts", lambda *a, **k: nothing)
    est = estimate_kernel(y, 25)
    assert est.family == "gaussian" and abs(est.parameter - 3.0) <= 0.5 and est.usable, est
    assert estimate_kernel(y, 25, spectral=False).family == "none"
    sharp = _observed(photo, np.ones((1, 1)))
    assert estimate_kernel(sharp, 25).family == "none"  # no lens blur on a sharp photo
