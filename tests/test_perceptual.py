"""restore.benchmarks.perceptual: texture ratio, sliced Wasserstein (Karras et al. 2018) and NIQE
(Mittal et al. 2013) against known values and properties, on tiny synthetic images."""
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.stats import gennorm

from restore.benchmarks.perceptual import aggd_fit, fit_niqe, ggd_fit, niqe, sliced_wasserstein, texture_ratio


def scene(seed, size=64):
    """Piecewise-constant rectangles with a little fine texture, RGB (H, W, 3) on [0, 1]."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), rng.uniform(0.2, 0.8, 3))
    for _ in range(12):
        y, x = rng.integers(0, size - 4, 2)
        h, w = rng.integers(4, size // 2, 2)
        img[y:y + h, x:x + w] = rng.uniform(0, 1, 3)
    img += 0.02 * gaussian_filter(rng.standard_normal((size, size, 1)), 0.7)
    return np.clip(img, 0, 1)


def blur(img, s):
    return gaussian_filter(img, (s, s, 0), mode="mirror")


# ---------------------------------------------------------------- texture ratio

def test_texture_ratio_is_one_for_equal_images_and_accepts_torch():
    ref = scene(0)
    assert texture_ratio(ref, ref) == pytest.approx(1.0)
    t = torch.from_numpy(ref).permute(2, 0, 1)
    assert texture_ratio(t, ref) == pytest.approx(1.0)


def test_texture_ratio_near_zero_for_flat_or_blurred():
    ref = scene(1)
    assert texture_ratio(np.full_like(ref, 0.5), ref) < 1e-20
    assert texture_ratio(blur(ref, 4.0), ref) < 0.05


def test_texture_ratio_scale_property():
    """A pixel checkerboard is (almost) all band-pass at std 1.5 (its blur is ~exp(-2 pi^2 1.5^2 / 2)
    ~ 2e-10 of it), so est = ref + 2 (ref - blur(ref)) has 3 x its band: the ratio is 9."""
    i, j = np.indices((32, 32))
    ref = np.repeat((0.5 + 0.2 * (-1.0) ** (i + j))[..., None], 3, axis=2)
    est = ref + 2 * (ref - blur(ref, 1.5))
    assert texture_ratio(est, ref) == pytest.approx(9.0, rel=1e-6)
    mask = np.zeros((32, 32), bool)
    mask[8:20, 4:30] = True
    assert texture_ratio(est, ref, mask=mask) == pytest.approx(9.0, rel=1e-6)
    # a natural-ish image: the sharpening adds energy but less than x9 (its band is not all high-pass)
    ref2 = scene(2)
    assert 1.0 < texture_ratio(ref2 + 2 * (ref2 - blur(ref2, 1.5)), ref2) < 9.0


# ---------------------------------------------------------------- sliced Wasserstein

def test_swd_zero_for_identical_and_symmetric():
    a, b = scene(3), scene(4)
    assert sliced_wasserstein(a, a) == 0.0
    assert sliced_wasserstein(a, b) == pytest.approx(sliced_wasserstein(b, a), rel=1e-12)
    assert sliced_wasserstein(a, b) > 0


def test_swd_deterministic_for_a_fixed_generator():
    a, b = scene(5), scene(6)
    d1 = sliced_wasserstein(a, b, generator=torch.Generator().manual_seed(7))
    d2 = sliced_wasserstein(a, b, generator=torch.Generator().manual_seed(7))
    d3 = sliced_wasserstein(a, b, generator=torch.Generator().manual_seed(8))
    assert d1 == d2 and d1 != d3


def test_swd_grows_with_noise_and_honours_the_mask():
    ref = scene(8)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(ref.shape)
    d = [sliced_wasserstein(ref + s * noise, ref, generator=torch.Generator().manual_seed(0))
         for s in (0.01, 0.03, 0.1, 0.3)]
    assert all(x < y for x, y in zip(d, d[1:])), d
    # noise only outside the mask: inside it the distance is 0 at the finest level's patches
    mask = np.zeros(ref.shape[:2], bool)
    mask[:, :24] = True
    est = ref.copy()
    est[:, 40:] += 0.3 * noise[:, 40:]
    masked = sliced_wasserstein(est, ref, mask=mask, levels=1)
    assert masked == 0.0 and sliced_wasserstein(est, ref, levels=1) > 0


# ---------------------------------------------------------------- NIQE

@pytest.mark.parametrize("alpha", [2.0, 1.0, 0.6])
def test_ggd_fit_recovers_the_shape(alpha):
    """Gaussian (gennorm beta = 2) -> 2, Laplacian (beta = 1) -> 1; tolerance: 4 standard errors of
    the mean over 6 draws, plus the grid step."""
    rng = np.random.default_rng(int(alpha * 10))
    est = np.array([ggd_fit(gennorm.rvs(alpha, scale=0.3, size=20000, random_state=rng))[0] for _ in range(6)])
    tol = 4 * est.std(ddof=1) / np.sqrt(len(est)) + 0.002
    assert abs(est.mean() - alpha) < tol, (est, tol)
    assert ggd_fit(rng.standard_normal(20000))[1] == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("alpha", [2.0, 1.0])
def test_aggd_fit_recovers_shape_and_side_variances(alpha):
    rng = np.random.default_rng(int(alpha * 10) + 1)
    fits = []
    for _ in range(6):
        # an AGGD with scales 0.5 (left) and 1.5 (right): each side's mass is proportional to its scale
        mag = np.abs(gennorm.rvs(alpha, size=20000, random_state=rng))
        x = np.where(rng.random(20000) < 0.5 / (0.5 + 1.5), -0.5 * mag, 1.5 * mag)
        fits.append(aggd_fit(x))
    fits = np.array(fits)
    tol = 4 * fits[:, 0].std(ddof=1) / np.sqrt(len(fits)) + 0.002
    assert abs(fits[:, 0].mean() - alpha) < tol, (fits[:, 0], tol)
    assert fits[:, 3].mean() / fits[:, 2].mean() == pytest.approx(9.0, rel=0.05)  # (1.5 / 0.5)^2
    assert fits[:, 1].mean() > 0  # mean of the skewed distribution is on the wider (right) side


def test_niqe_prefers_clean_over_noisy_or_blurred():
    model = fit_niqe([scene(s, 96) for s in range(10, 18)], patch=32)
    assert model["mu"].shape == (36,) and model["cov"].shape == (36, 36)
    rng = np.random.default_rng(1)
    for s in (20, 21):
        img = scene(s, 96)
        clean = niqe(img, model)
        noisy = niqe(np.clip(img + 0.15 * rng.standard_normal(img.shape), 0, 1), model)
        blurred = niqe(blur(img, 2.5), model)
        assert clean < noisy and clean < blurred, (clean, noisy, blurred)
    assert niqe(torch.from_numpy(img).permute(2, 0, 1), model) == pytest.approx(clean)


def test_shipped_niqe_model_loads_and_prefers_a_photo_to_its_blur():
    """The packaged pristine model (natural_niqe_model) scores a natural-looking texture better
    (lower) than the same texture blurred flat."""
    from scipy.ndimage import gaussian_filter

    from restore.benchmarks.perceptual import natural_niqe_model, niqe

    m = natural_niqe_model()
    assert m["mu"].shape == (36,) and m["cov"].shape == (36, 36)
    rng = np.random.default_rng(0)
    tex = gaussian_filter(rng.random((384, 384)), 1.0)
    tex = (tex - tex.min()) / (tex.max() - tex.min())
    assert niqe(tex, m) < niqe(gaussian_filter(tex, 4.0), m)
