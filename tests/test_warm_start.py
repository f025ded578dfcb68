"""Warm starts (a chain that begins at t0 < T from an estimate of the image), the classical
estimates they begin from, and inpainting by regions of interest with the rest of the photo kept."""
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata

import restore
from lab import gaussian_oracle as go
from restore.operators import Blur, Downsample, Inpainting, gaussian_kernel, to_prior_space
from restore.priors import UNet, UNetConfig, linear_schedule, save_prior
from restore.solvers import METHODS, pose, respaced
from restore.starts import NOISE, check_strength, classical_estimate, hole_regions, noise_strength, warm_schedule

# ---------------------------------------------------------------- the chain


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_schedule_argument_is_the_same_chain_as_its_step_count(method):
    """steps=K and steps=prior.schedule.respace(K) (what a caller owning the schedule passes) run
    the same chain bit for bit; upto(T) and a warm schedule of strength 1 are the whole schedule."""
    prob = go.problem("inpaint", 0.0)
    prior, y = prob["prior"], prob["y"].repeat(2, 1, 1, 1)
    run = lambda steps: METHODS[method](prior, pose(prior, prob["operator"], y, 0.0), respaced(prior, steps),
                                        generator=torch.Generator().manual_seed(1))
    assert torch.equal(run(8), run(prior.schedule.respace(8)))
    assert prior.schedule.upto(prior.schedule.T) is prior.schedule
    assert torch.equal(warm_schedule(prior.schedule, 8, 1.0).t, prior.schedule.respace(8).t)


def test_warm_schedule_stops_at_t0():
    s = linear_schedule()
    w = warm_schedule(s, 15, 0.3)
    assert len(w) == 15 and int(w.t[-1]) == 300 and int(w.t[0]) == 1
    assert torch.equal(w.abar, s.abar[w.t - 1])
    assert len(warm_schedule(s, 50, 0.02)) == 20  # fewer levels than steps below t0 = 20
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="strength"):
            warm_schedule(s, 10, bad)


def test_noise_strength_starts_where_the_schedule_reaches_the_noise_of_y():
    s = linear_schedule()
    level = ((1 - s.abar) / s.abar).sqrt()
    for sigma_y in (0.003, 0.025, 0.1, 0.3):
        t0 = round(noise_strength(s, sigma_y) * s.T)
        assert level[t0 - 1] >= 2 * sigma_y and (t0 == 1 or 2 * sigma_y > level[t0 - 2])  # the first step at or above y's level
        assert (t0 == 1) == (sigma_y == 0.003)
        assert len(warm_schedule(s, 1, noise_strength(s, sigma_y))) == 1
    r = s.respace(50)  # a respaced schedule: one of its own steps
    t0 = round(noise_strength(r, 0.025) * r.T)
    assert t0 in r.t.tolist() and level[t0 - 1] >= 0.05 and level[int(r.t[r.t.tolist().index(t0) - 1]) - 1] < 0.05
    assert noise_strength(s, 0.0) == 1 / s.T  # noiseless y: the last step only
    assert noise_strength(s, 1e3) == 1.0  # above the schedule's top: the whole chain
    assert check_strength("Noise") == NOISE and check_strength("0.25") == 0.25
    for bad in ("abc", 0, 1.5, None):
        with pytest.raises(ValueError, match="strength"):
            check_strength(bad)


def test_one_ddrm_step_from_the_noise_level_is_the_exact_posterior_mean_of_denoising():
    """With a Gaussian prior (exact eps) and y's noise exactly at a level of the schedule, DDRM's
    one step from there returns x0_hat(sqrt(abar) y) = E[x | y], Tweedie's posterior mean."""
    from restore.operators import Denoise, add_noise
    from restore.priors import gaussian_prior

    m, C = go.prior_moments()
    prior = gaussian_prior(m, C, go.SHAPE)
    s = prior.schedule
    t = 40
    sigma_y = float(((1 - s.abar[t - 1]) / s.abar[t - 1]).sqrt()) / 2 * (1 - 1e-12)
    assert round(noise_strength(s, sigma_y) * s.T) == t
    g = torch.Generator().manual_seed(0)
    x = (prior.net.sample(3, generator=g) + 1) / 2
    y = add_noise(x, sigma_y, g)
    chain = warm_schedule(s, 1, noise_strength(s, sigma_y))
    out = METHODS["ddrm"](prior, pose(prior, Denoise(), y, sigma_y), chain, x_init=y, generator=torch.Generator().manual_seed(1))
    eye = torch.eye(go.D, dtype=torch.float64)
    want = torch.stack([go.exact_posterior(m, C, eye, (2 * yi - 1).flatten(), 2 * sigma_y)[0] for yi in y])
    assert torch.allclose(out.reshape(3, -1), (want + 1) / 2, atol=1e-6)
    # a draw from a chain started higher up is not the mean: the test can fail
    hi = METHODS["ddrm"](prior, pose(prior, Denoise(), y, sigma_y), warm_schedule(s, 5, 0.2), x_init=y,
                         generator=torch.Generator().manual_seed(1))
    assert (hi.reshape(3, -1) - (want + 1) / 2).abs().max() > 1e-3


def _posterior_draws(prob, n, generator):
    """n exact posterior draws (n, obs, 1, 6, 6) on [0, 1] for each observation, by Matheron's
    rule: x' ~ N(m, C) (Cholesky, unique), then x' + K (y' - A x' - sigma' z) with the Kalman gain
    K = C A^T (A C A^T + sigma'^2 I)^+."""
    m, C = go.prior_moments()
    A = prob["A"]
    y_p, s_p = to_prior_space(prob["operator"], prob["y"], prob["sigma_y"])
    obs = len(y_p)
    S = A @ C @ A.T + s_p**2 * torch.eye(A.shape[0], dtype=torch.float64)
    K = C @ A.T @ torch.linalg.pinv(S, hermitian=True, rtol=1e-12)
    x = m + torch.randn(n, obs, go.D, generator=generator, dtype=torch.float64) @ torch.linalg.cholesky(C).T
    y_sim = x @ A.T + s_p * torch.randn(n, obs, A.shape[0], generator=generator, dtype=torch.float64)
    x = x + (y_p.flatten(1) - y_sim) @ K.T
    return ((x + 1) / 2).reshape(n, obs, *go.SHAPE)


# If x_init ~ p(x | y), then q(x_t0 | x_init) is p(x_t0 | y) exactly, so a warm chain from exact
# posterior draws is no further from the posterior than the solver's own cold chain. Excess MSE /
# MMSE (Monte Carlo term removed; `gaussian_oracle.compare`), 4 observations x 64 draws, t0 = 50
# and 10 steps, identical by default and under MKL_CBWR=AVX2:
#   cell                  cold (100 steps)  warm from the posterior  warm from 1 - draw
#   ddrm inpaint 0        0.836             0.173                    4.37
#   ddrm sr-block 0.05    0.0036            0.0009                   0.366
#   pigdm inpaint 0.05    0.031             0.042                    0.93
#   diffpir blur 0.05     0.397             0.073                    17.6
#   repaint inpaint 0     0.835             0.085                    5.30
# (the exact draws themselves: |excess| < 0.004). Bounds: warm <= cold + 0.02, wrong > 3 (cold + 0.02).
WARM = [("ddrm", "inpaint", 0.0), ("ddrm", "sr-block", 0.05), ("pigdm", "inpaint", 0.05),
        ("diffpir", "blur", 0.05), ("repaint", "inpaint", 0.0)]


@pytest.mark.parametrize("method,task,sigma_y", WARM)
def test_warm_start_from_the_posterior_stays_on_the_posterior(method, task, sigma_y):
    obs, n = 4, 64
    prob = go.problem(task, sigma_y, obs=obs)
    kw = {**go.SETTINGS[method], **({"jump_length": 5, "resample": 2} if method == "repaint" else {})}

    def excess(steps, x_init=None):
        x = METHODS[method](prob["prior"], pose(prob["prior"], prob["operator"], prob["y"].repeat(n, 1, 1, 1), sigma_y),
                            respaced(prob["prior"], steps), generator=torch.Generator().manual_seed(2),
                            x_init=None if x_init is None else x_init.reshape(n * obs, *go.SHAPE), **kw)
        return go.compare(x.reshape(n, obs, *go.SHAPE), prob)["excess"]

    draws = _posterior_draws(prob, n, torch.Generator().manual_seed(7))
    assert abs(go.compare(draws, prob)["excess"]) < 0.02  # the draws are exact
    warm = warm_schedule(prob["prior"].schedule, 10, 0.05)
    cold, right, wrong = excess(100), excess(warm, draws), excess(warm, 1 - draws)
    assert right <= cold + 0.02, (right, cold, wrong)
    assert wrong > 3 * (cold + 0.02), (right, cold, wrong)


def test_x_init_of_the_wrong_shape_is_refused():
    prob = go.problem("inpaint", 0.0)
    with pytest.raises(ValueError, match="x_init"):
        METHODS["ddrm"](prob["prior"], pose(prob["prior"], prob["operator"], prob["y"], 0.0), respaced(prob["prior"], 5),
                        x_init=torch.zeros(1, 1, 5, 6))


# ---------------------------------------------------------------- classical estimates


def test_classical_estimates_agree_with_the_observation():
    x = torch.from_numpy(skdata.astronaut()[::8, ::8].astype(np.float64) / 255).permute(2, 0, 1)[None]
    keep = torch.ones(1, 1, 64, 64, dtype=torch.float64)
    keep[..., 20:40, 24:44] = 0
    op = Inpainting(keep)
    est = classical_estimate("inpaint", op, op.A(x), 0.0)
    assert torch.equal(est[keep.expand_as(x).bool()], x[keep.expand_as(x).bool()])
    hole = ~keep.expand_as(x).bool()
    flat = x[~hole].mean()  # filling with the observed mean: measured 0.113 against the estimate's 0.059
    assert (est[hole] - x[hole]).pow(2).mean() < 0.7 * (x[hole] - flat).pow(2).mean()
    down = Downsample(4, "bicubic")
    y = down.A(x)
    up = classical_estimate("sr", down, y, 0.0)
    bicubic = torch.nn.functional.interpolate(y, size=(64, 64), mode="bicubic").clamp(0, 1)
    # back-projection: A x = y but for the clamp to [0, 1] (measured |A x - y| 0.004 against
    # plain bicubic's 0.027), and closer to the image (MSE 0.0235 against 0.0260)
    assert up.shape == x.shape and (down.A(up) - y).abs().mean() < 0.3 * (down.A(bicubic) - y).abs().mean()
    assert (up - x).pow(2).mean() < (bicubic - x).pow(2).mean()
    blur = Blur(gaussian_kernel(9, 1.5))
    sharp = classical_estimate("deblur", blur, blur.A(x), 0.0)
    assert (sharp - x).pow(2).mean() < 0.5 * (blur.A(x) - x).pow(2).mean()


def test_harmonic_fill_solves_laplace_and_keeps_to_the_boundary_colours():
    """A linear ramp is harmonic, so it is filled exactly; on noise, every filled pixel is the mean
    of its 4 neighbours (the discrete Laplace equation) and lies within the boundary's range."""
    from restore.starts import harmonic_fill

    yy, xx = np.mgrid[0:40, 0:50].astype(np.float64)
    ramp = np.stack([0.01 * yy + 0.005 * xx, 0.3 + 0.0 * xx, 0.02 * xx], -1)
    fill = np.zeros((40, 50), bool)
    fill[10:30, 5:25] = True
    fill[0:6, 40:50] = True  # at the image's corner, a free (Neumann) edge: filled, but not the ramp
    out = harmonic_fill(np.where(fill[..., None], 0.0, ramp), fill)
    inner = np.zeros_like(fill)
    inner[10:30, 5:25] = True
    assert np.abs(out[inner] - ramp[inner]).max() < 1e-9
    noise = np.random.default_rng(0).uniform(0, 1, (40, 50, 3))
    out = harmonic_fill(noise, fill)
    ys, xs = np.nonzero(inner)
    neighbours = (out[ys - 1, xs] + out[ys + 1, xs] + out[ys, xs - 1] + out[ys, xs + 1]) / 4
    assert np.abs(out[ys, xs] - neighbours).max() < 1e-9
    ring = np.zeros_like(fill)
    ring[9:31, 4:26] = True
    ring &= ~fill
    assert (out[inner] >= noise[ring].min(0) - 1e-12).all() and (out[inner] <= noise[ring].max(0) + 1e-12).all()
    assert np.array_equal(out[~fill], noise[~fill])


def test_hole_regions_cover_merge_and_clip():
    fill = np.zeros((100, 120), bool)
    fill[10:20, 10:20] = True
    fill[30:35, 15:18] = True  # within 2 * margin of the first: merged
    fill[80:95, 100:118] = True
    boxes = hole_regions(fill, 8)
    assert boxes == [(2, 2, 41, 26), (72, 92, 28, 28)]
    cover = np.zeros_like(fill)
    for t, l, h, w in boxes:
        assert not cover[t : t + h, l : l + w].any()
        cover[t : t + h, l : l + w] = True
    assert cover[fill].all()
    assert hole_regions(fill, 0)[0] == (10, 10, 10, 10)


# ---------------------------------------------------------------- inpainting a photo


@pytest.fixture(scope="module")
def tiny_prior(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("prior") / "tiny.safetensors"
    save_prior(path, UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)), linear_schedule(), 8)
    from restore.priors import load_prior

    return load_prior(path)


def _photo(kind):
    rgb = skdata.astronaut()[100:196:2, 150:262:2]  # 48 x 56
    if kind == "8-bit":
        return rgb
    if kind == "16-bit":
        return (rgb[..., 0].astype(np.uint16) * 257 + 3)
    return np.dstack([rgb, np.linspace(0, 255, rgb.shape[0] * rgb.shape[1]).reshape(rgb.shape[:2]).astype(np.uint8)])


@pytest.mark.parametrize("kind", ["8-bit", "16-bit", "RGBA"])
@pytest.mark.parametrize("sigma_y", [None, 0.05])
def test_inpainting_keeps_every_pixel_outside_the_mask(tiny_prior, kind, sigma_y):
    a = _photo(kind)
    fill = np.zeros(a.shape[:2], bool)
    fill[5:15, 6:20] = True
    fill[30:44, 40:50] = True
    out = restore.inpaint(a, fill, prior=tiny_prior, steps=3, sigma_y=sigma_y, margin=4)
    assert out.dtype == a.dtype and out.shape == a.shape
    assert np.array_equal(out[~fill], a[~fill])
    assert not np.array_equal(out[fill], a[fill])
    pil = Image.fromarray(a)
    out_pil = restore.inpaint(pil, fill, prior=tiny_prior, steps=3, sigma_y=sigma_y, margin=4)
    assert np.array_equal(np.asarray(out_pil)[~fill], np.asarray(pil)[~fill])


@pytest.mark.parametrize("strength", [0.0, -0.5, 1.5, float("nan")])
def test_strength_outside_its_range_is_refused(tiny_prior, strength):
    with pytest.raises(ValueError, match="strength"):
        restore.denoise(_photo("8-bit"), prior=tiny_prior, steps=2, sigma_y=0.05, strength=strength)


def test_denoise_rest_restores_the_whole_image(tiny_prior):
    a = _photo("8-bit")
    fill = np.zeros(a.shape[:2], bool)
    fill[5:15, 6:20] = True
    out = restore.inpaint(a, fill, prior=tiny_prior, steps=3, sigma_y=0.05, denoise_rest=True)
    assert (out[~fill] != a[~fill]).mean() > 0.5


def test_regions_restore_only_near_the_holes(tiny_prior):
    """A region of interest is a smaller problem: the network sees only the boxes (counted by
    the callback's image sizes), and the margin is the context around each hole."""
    a = _photo("8-bit")
    fill = np.zeros(a.shape[:2], bool)
    fill[5:10, 6:12] = True
    sizes = []
    restore.inpaint(a, fill, prior=tiny_prior, steps=2, strength=1.0, sigma_y=0.0, margin=3, samples=1,
                    callback=lambda d: sizes.append(tuple(d["x"].shape[-2:])))
    assert sizes == [(11, 12)] * 2


def test_whole_photo_benchmark_holes_and_scores():
    """The whole-photo track: the same holes for a name on every run, object-sized, inside the
    photo; scores inside the holes only; the paired interval is Student's t."""
    from lab.whole_photo import holes, interval, scores

    a, b = holes("x.jpg", 321, 481), holes("x.jpg", 321, 481)
    assert np.array_equal(a, b) and not np.array_equal(a, holes("y.jpg", 321, 481))
    assert 48 * 48 <= a.sum() <= 2 * 128 * 128 and not a[0].any() and not a[:, 0].any()
    x = np.random.default_rng(0).uniform(0, 1, (321, 481, 3))
    est = x.copy()
    est[a] = 0.5
    s = scores(x, est, a)
    assert abs(s["psnr_hole"] - 10 * np.log10(1 / ((x[a] - 0.5) ** 2).mean())) < 1e-9
    assert s["psnr_whole"] > s["psnr_hole"] and s["lowpass_hole"] > s["psnr_hole"]
    m, lo, hi = interval([1.0, 2.0, 3.0])
    assert m == 2.0 and abs(hi - m - 4.303 * 1.0 / np.sqrt(3)) < 1e-9 and abs(m - lo - (hi - m)) < 1e-12


def test_whole_photo_freeform_masks_load_stretch_and_fill(tmp_path):
    """The freeform track's masks: white / 1 = KNOWN in the files (npy of 0/1, RGB PNG known only
    where every channel is white), stretched to the photo by nearest neighbour, given back as
    True = fill; the photo's name picks the mask; malformed arrays are refused."""
    import hashlib

    from lab.whole_photo import fill_mask, freeform, load_known, mask_files

    known = np.ones((4, 4), np.uint8)
    known[1:3, 2] = 0
    (tmp_path / "masks").mkdir()
    np.save(tmp_path / "masks" / "a.npy", known)
    rgb = np.full((4, 4, 3), 255, np.uint8)
    rgb[0, 0] = 0
    rgb[3, 3, 1] = 0  # white in two channels only: not known
    Image.fromarray(rgb).save(tmp_path / "masks" / "b.png")
    (tmp_path / "masks" / "notes.txt").write_text("not a mask")
    masks = mask_files(tmp_path)
    assert [m.name for m in masks] == ["a.npy", "b.png"]
    assert np.array_equal(load_known(masks[0]), known == 1)
    kb = load_known(masks[1])
    assert kb.dtype == bool and kb.shape == (4, 4) and kb.sum() == 14 and not kb[0, 0] and not kb[3, 3]
    np.save(tmp_path / "u8.npy", known * 255)
    assert np.array_equal(load_known(tmp_path / "u8.npy"), known == 1)
    for bad in (np.ones((2, 4, 4)), np.full((4, 4), 2.0), np.array([[-1, 300]], np.int16)):
        np.save(tmp_path / "bad.npy", bad)
        with pytest.raises(ValueError):
            load_known(tmp_path / "bad.npy")
    for name in ("x.jpg", "y.jpg", "z.jpg"):
        fill, which = freeform(name, 8, 12, masks)
        assert which == masks[int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % 2].name
        assert fill.shape == (8, 12) and fill.dtype == bool
        assert np.array_equal(fill, fill_mask("freeform", name, 8, 12, masks))
        want = ~load_known(tmp_path / "masks" / which).repeat(2, 0).repeat(3, 1)  # nearest: each pixel 2x3
        assert np.array_equal(fill, want)


def test_whole_photo_sr_baselines_invert_the_same_operator():
    """The sr4 track's classical rows: bicubic interpolation, and back-projection, which agrees with
    the 8-bit observation through the operator the solvers invert (measured 0.0012 against 0.017)."""
    from lab.whole_photo import super_resolve_one
    from restore.operators import Downsample

    x = skdata.astronaut()[::4, ::4][:64, :96].astype(np.float64) / 255
    op = Downsample(4, "bicubic")
    A = lambda a: op.A(torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None])
    y = torch.round(A(x).clamp(0, 1) * 255) / 255
    bic, bp = super_resolve_one(x, "bicubic", None), super_resolve_one(x, "backprojection", None)
    assert bic.shape == bp.shape == x.shape
    assert (A(bp) - y).abs().mean() < 0.3 * (A(bic) - y).abs().mean()


def test_a_warm_start_on_a_padded_latent(tiny_prior):
    """An image whose sides the network does not take is padded (the padding unobserved); the warm
    start's estimate is mirrored into the padding and cropped back unchanged."""
    x = torch.rand(2, 3, 13, 17, generator=torch.Generator().manual_seed(0))
    op = Inpainting(torch.ones(1, 1, 13, 17))
    p = pose(tiny_prior, op, op.A(x), 0.0)
    assert p.x_shape == (2, 3, 14, 18)
    padded, two = p.latent(x), 2 * x - 1  # in prior space
    assert padded.shape == (2, 3, 14, 18) and torch.equal(p.crop(padded), two)
    assert p.box[:2] == (0, 0)  # the extra row and column go below and to the right
    assert torch.equal(padded[..., 13, :17], two[..., 11, :])  # mirrored without repeating the edge
    assert torch.equal(padded[..., :13, 17], two[..., :, 15])
    for method in ("ddrm", "ddnm"):
        out = METHODS[method](tiny_prior, pose(tiny_prior, op, op.A(x), 0.0), warm_schedule(tiny_prior.schedule, 3, 0.1),
                              generator=torch.Generator().manual_seed(1), x_init=x)
        assert out.shape == x.shape and torch.allclose(out, x, atol=1e-5)  # all observed, noiseless: y itself


# ---------------------------------------------------------------- coarse to fine (image pyramids)


def _holes(h=21, w=27):
    keep = torch.ones(1, 1, h, w, dtype=torch.float64)
    keep[..., 5:15, 6:20] = 0
    return keep


@pytest.mark.parametrize("method", ["ddrm", "ddnm"])
def test_one_level_pyramid_is_the_plain_solver(tiny_prior, method):
    """levels=1 is `solve` itself, bit for bit (warm start, several draws; a prior given as a
    function of the image size too); so is a pyramid whose image the prior already sees whole."""
    from restore.solvers import coarse_to_fine, solve

    x = torch.rand(1, 3, 21, 27, generator=torch.Generator().manual_seed(0))
    op = Inpainting(_holes())
    chain = warm_schedule(tiny_prior.schedule, 4, 0.3)
    run = lambda fn, prior, **kw: fn(prior, op, op.A(x), method, 2, steps=chain, sigma_y=0.0, x_init=x,
                                     generator=torch.Generator().manual_seed(3), **kw)
    plain = run(solve, tiny_prior)
    for pyramid in (run(coarse_to_fine, tiny_prior, levels=1), run(coarse_to_fine, lambda hw: tiny_prior, levels=1)):
        assert all(torch.equal(plain[k], pyramid[k]) for k in ("samples", "mean", "std"))
    small = Inpainting(_holes()[..., :8, :8])
    a, b = (fn(tiny_prior, small, small.A(x[..., :8, :8]), method, steps=chain, sigma_y=0.0,
               generator=torch.Generator().manual_seed(3), **kw) for fn, kw in ((solve, {}), (coarse_to_fine, {"levels": 3})))
    assert torch.equal(a["mean"], b["mean"])


@pytest.mark.parametrize("levels", [2, 3])
def test_a_pyramid_keeps_the_observed_pixels(tiny_prior, levels):
    """Noiseless inpainting on 2 and 3 levels: the image's shape, the observed pixels exactly, one
    chain per level on sides halved (rounded up), coarsest first, for each draw."""
    from restore.solvers import coarse_to_fine, pyramid_levels

    x = torch.rand(1, 3, 21, 27, generator=torch.Generator().manual_seed(0))
    keep = _holes()
    op = Inpainting(keep)
    chain = warm_schedule(tiny_prior.schedule, 4, 0.3)
    sizes = []
    res = coarse_to_fine(tiny_prior, op, op.A(x), "ddrm", 2, levels=levels, steps=chain, sigma_y=0.0,
                         x_init=torch.full_like(x, 0.5), generator=torch.Generator().manual_seed(3),
                         callback=lambda d: sizes.append(tuple(d["x"].shape[-2:])))
    assert res["samples"].shape == (2, 1, 3, 21, 27) and res["mean"].shape == x.shape
    observed = keep.expand_as(x).bool()
    assert torch.equal(res["samples"][:, 0][:, observed[0]], x[observed].expand(2, -1))
    assert not torch.equal(res["samples"][0], res["samples"][1])
    scales = [(21, 27), (11, 14), (6, 7)][:levels][::-1]
    assert sizes == [s for s in scales for _ in range(len(chain))] * 2
    assert pyramid_levels(tiny_prior, (48, 56), 9) == 4  # 56, 28, 14, 7: the prior (8 px) sees 7 whole
    assert pyramid_levels(tiny_prior, (8, 8), 5) == 1
    for bad in (0, -1, 1.5, True, "2", None):
        with pytest.raises(ValueError, match="levels"):
            pyramid_levels(tiny_prior, (48, 56), bad)


def test_inpainting_on_a_pyramid_keeps_every_pixel_outside_the_mask(tiny_prior):
    """restore.inpaint(levels=N): each region of interest on its own pyramid, every pixel outside
    the mask bit-identical, N chains per region; levels=1 is the default; refused in one line for
    a cold start, bad values and operators without a coarse scale."""
    a = _photo("8-bit")
    fill = np.zeros(a.shape[:2], bool)
    fill[5:15, 6:20] = True
    fill[30:44, 40:50] = True
    nfe = []
    out = restore.inpaint(a, fill, prior=tiny_prior, steps=3, margin=4, levels=3, callback=nfe.append)
    assert out.shape == a.shape and np.array_equal(out[~fill], a[~fill]) and not np.array_equal(out[fill], a[fill])
    assert len(nfe) == 2 * 3 * 3 * restore.defaults.default("inpaint", True).samples  # regions x levels x steps x draws
    assert np.array_equal(restore.inpaint(a, fill, prior=tiny_prior, steps=3, margin=4, levels=1),
                          restore.inpaint(a, fill, prior=tiny_prior, steps=3, margin=4))
    for bad, match in ((dict(levels=0), "levels"), (dict(levels=2.5), "levels"), (dict(levels=2, strength=1.0), "warm")):
        with pytest.raises(ValueError, match=match):
            restore.inpaint(a, fill, prior=tiny_prior, steps=3, **bad)
    with pytest.raises(ValueError, match="no coarse-scale version"):
        restore.deblur(a, prior=tiny_prior, steps=3, strength=0.3, levels=2, sigma_y=0.01)
    from lab.whole_photo import parse_config  # the benchmark's configurations carry levels

    assert "levels" not in parse_config("ddrm:15:0.1:1") and parse_config("ddrm:15:0.1:1:3")["levels"] == 3


@pytest.mark.parametrize("command", ["inpaint", "sr", "deblur", "deblur-streak"])
def test_defaults_follow_whether_the_prior_runs_by_tiles(tiny_prior, command):
    """sr and deblur default to a short warm chain where a patch prior runs by tiles (a photo larger
    than its training size), through an operator with an SVD or not (a blur without one has its
    own, NO_SVD_BLUR_DEFAULT), and to 50 steps from noise where it sees the whole image; inpaint to
    short warm chains either way, their draws
    one call each by tiles and in one batch on the whole image (`restore.defaults.default`): the chains each
    runs, counted by their network evaluations."""
    from restore.defaults import default
    from restore.starts import warm_chain

    kernel = np.eye(3) / 3 if command == "deblur-streak" else "gaussian:1.0:3"  # a diagonal streak has no SVD
    chains = {}
    for side, by_tiles in ((8, False), (24, True)):  # the tiny prior's training size is 8
        y = np.random.default_rng(0).integers(0, 256, (side // 4 if command == "sr" else side,) * 2 + (3,), np.uint8)
        infos = []
        if command == "sr":
            restore.super_resolve(y, 4, prior=tiny_prior, sigma_y=0.02, callback=infos.append)
        elif command == "inpaint":  # a hole larger than SMALL_HOLE (small holes: the next tests)
            fill = np.ones((side, side), bool)
            fill[0] = False
            restore.inpaint(y, fill, prior=tiny_prior, sigma_y=0.02, callback=infos.append)
        else:
            restore.deblur(y, kernel, prior=tiny_prior, sigma_y=0.02, callback=infos.append)
        d = default(command.split("-")[0], by_tiles, command != "deblur-streak")
        chain = warm_chain(tiny_prior.schedule, d.steps, d.strength, 0.02)
        # a patch prior's draws run one call each, a whole-image prior's as one batch
        assert len(infos) == len(chain) * (d.samples if by_tiles else 1) and {i["steps"] for i in infos} == {len(chain)}
        chains[by_tiles] = (len(chain), d.samples)
    if command == "deblur-streak":
        from restore.defaults import NO_SVD_BLUR_DEFAULT

        assert chains[False] == (50, 1) and NO_SVD_BLUR_DEFAULT.strength < 1
        d = NO_SVD_BLUR_DEFAULT
        assert chains[True] == (len(warm_chain(tiny_prior.schedule, d.steps, d.strength, 0.02)), d.samples)
    elif command == "inpaint":
        assert chains[True][0] < 50 and chains[False][0] < 50 and chains[True] != chains[False]
    else:
        assert chains[True][0] < chains[False][0] == 50


def test_small_holes_is_a_chebyshev_distance_of_at_most_small_hole():
    from restore.defaults import SMALL_HOLE, small_holes

    for side, small in ((2 * SMALL_HOLE, True), (2 * SMALL_HOLE + 1, False)):  # the centre: side // 2 + 1 px away
        observed = torch.ones(1, 32, 32)
        observed[:, 3 : 3 + side, 5 : 5 + side] = 0
        assert small_holes(observed) is small
        assert small_holes(observed.mT) is small
    scattered = (torch.rand(1, 64, 64, generator=torch.Generator().manual_seed(0)) > 0.7).float()  # 70 % missing
    assert small_holes(scattered)
    assert not small_holes(torch.zeros(1, 16, 16))  # nothing observed
    assert small_holes(torch.ones(1, 16, 16))  # nothing to fill


def test_small_holes_of_a_whole_image_prior_take_the_small_holes_default(tiny_prior):
    """Scattered holes in an image the prior sees whole: SMALL_HOLES_DEFAULT's warm chain, its draws in
    one batch (one callback per step); an explicit option still wins."""
    from restore.defaults import SMALL_HOLES_DEFAULT as d
    from restore.starts import warm_chain

    y = np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8)
    fill = np.zeros((8, 8), bool)
    fill[::2, 1::2] = True
    fill[1::2, ::2] = True
    infos = []
    restore.inpaint(y, fill, prior=tiny_prior, sigma_y=0.02, callback=infos.append)
    chain = warm_chain(tiny_prior.schedule, d.steps, d.strength, 0.02)
    assert d.samples > 1 and len(chain) < 50
    assert len(infos) == len(chain) and {i["steps"] for i in infos} == {len(chain)}
    infos.clear()
    restore.inpaint(y, fill, prior=tiny_prior, sigma_y=0.02, strength=1.0, samples=1, callback=infos.append)
    assert len(infos) == d.steps


def test_whole_photo_configurations_parse_with_levels_and_solver_options():
    from lab.whole_photo import parse_config

    assert parse_config("ddrm:15:0.1:1") == {"method": "ddrm", "steps": 15, "strength": 0.1, "samples": 1}
    assert parse_config("ddrm:1:noise:4:2")["levels"] == 2
    assert parse_config("ddrm:15:0.1:1:eta=0.5") == {"method": "ddrm", "steps": 15, "strength": 0.1, "samples": 1,
                                                    "eta": 0.5}
    with pytest.raises(SystemExit):
        parse_config("ddrm:15:eta=0.5")
