"""restore/starts.py: warm starts (a chain that begins at t0 < T from an estimate of the image), the
schedules and strengths they run on, the solvers' chains begun from them (x_init), and the classical
estimates they begin from (and the hole regions of a photo)."""
import numpy as np
import pytest
import torch
from skimage import data as skdata

from lab import gaussian_oracle as go
from restore.operators import Blur, Downsample, Inpainting, gaussian_kernel, to_prior_space
from restore.priors import linear_schedule
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
