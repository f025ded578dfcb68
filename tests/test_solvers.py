"""The guided solvers (restore.solvers): against the exact posterior of a Gaussian prior, data
consistency, reproducibility, the shared pieces, and end-to-end runs with a tiny random UNet.

The oracle problems, the exact posterior and the metrics are those of
`restore.benchmarks.gaussian_oracle` (its table is the same computation with 500 draws).
"""
import pytest
import torch

from restore.benchmarks import gaussian_oracle as go
from restore.operators import (Blur, CircularBlur, Downsample, Inpainting, LinearOperator, add_noise,
                               gaussian_kernel, motion_kernel, random_mask)
from restore.priors import DDPM, UNet, UNetConfig, linear_schedule
from restore.solvers import METHODS, ddnm, ddnm_plus, ddrm, diffpir, dps, repaint, solve
from restore.solvers._chain import levels, tikhonov

SAMPLES, STEPS = 256, 100  # draws of one observation (one batch) and respaced steps, as in the bounds below

# (method, task, sigma_y): (max excess MSE / MMSE, std ratio low, std ratio high); measured with
# SAMPLES = 256 draws, STEPS = 100 (deterministic seeds). Margins: excess 1.5x + 0.01, std ratio +-15 %.
# Prior: 6x6 stationary Gaussian field, std 0.25, length 1.5 (very smooth: an unobserved pixel is
# largely determined by its neighbours, the hard case for every approximation below).
BOUNDS = {
    # DDNM / DDNM+ (noiseless: identical): exact range space; the null space follows the unconditional
    # chain fed with the replaced x0, which ignores how the range constrains the null space at high
    # noise -> mean errors where range and null space are strongly correlated (inpainting, blur),
    # overdispersed null space; SR (smooth null space) nearly exact.
    ("ddnm", "inpaint", 0.0): (1.1, 1.60, 2.18),  # measured 0.7029, 1.887
    ("ddnm", "blur", 0.0): (0.63, 1.06, 1.44),  # measured 0.4119, 1.252
    ("ddnm", "sr-block", 0.0): (0.032, 0.75, 1.03),  # measured 0.0145, 0.888
    ("ddnm", "sr-bicubic", 0.0): (0.02, 0.71, 0.98),  # measured 0.0063, 0.846
    ("ddnm_plus", "inpaint", 0.0): (1.1, 1.60, 2.18),  # measured 0.7029, 1.887
    ("ddnm_plus", "blur", 0.0): (0.63, 1.06, 1.44),  # measured 0.4119, 1.252
    ("ddnm_plus", "sr-block", 0.0): (0.032, 0.75, 1.03),  # measured 0.0145, 0.888
    ("ddnm_plus", "sr-bicubic", 0.0): (0.02, 0.71, 0.98),  # measured 0.0063, 0.846
    # DDNM+ noisy: Sigma_t, Phi_t budget the noise of A^+ y as if it were fresh at every step, but it is
    # the same noise each step, so it accumulates: pulled towards A^+ y, underdispersed; worst where
    # A^+ amplifies noise (blur: s_i down to ~1e-3).
    ("ddnm_plus", "inpaint", 0.05): (0.38, 0.68, 0.93),  # measured 0.2417, 0.804
    ("ddnm_plus", "blur", 0.05): (6.5, 0.20, 0.29),  # measured 4.2725, 0.245
    ("ddnm_plus", "sr-block", 0.05): (0.16, 0.50, 0.69),  # measured 0.0974, 0.599
    ("ddnm_plus", "sr-bicubic", 0.05): (0.42, 0.45, 0.62),  # measured 0.2693, 0.534
    # DDRM (eta 0.85, eta_b 1): spectral version of the same replacement; eta_b = 1 takes ybar at full
    # weight once sigma_t >= sigma'/s_i, and eta = 0.85 of fresh noise per step loses variance
    # (std ratio < 1 in SR and noisy tasks; 0.85 even for a white prior, see below).
    ("ddrm", "inpaint", 0.0): (0.89, 1.30, 1.77),  # measured 0.5807, 1.536
    ("ddrm", "blur", 0.0): (0.75, 0.99, 1.35),  # measured 0.4875, 1.169
    ("ddrm", "sr-block", 0.0): (0.021, 0.68, 0.93),  # measured 0.0073, 0.806
    ("ddrm", "sr-bicubic", 0.0): (0.014, 0.66, 0.91),  # measured 0.0024, 0.783
    ("ddrm", "inpaint", 0.05): (0.21, 0.71, 0.98),  # measured 0.1269, 0.846
    ("ddrm", "blur", 0.05): (0.33, 0.45, 0.62),  # measured 0.2067, 0.539
    ("ddrm", "sr-block", 0.05): (0.015, 0.59, 0.81),  # measured 0.0028, 0.697
    ("ddrm", "sr-bicubic", 0.05): (0.017, 0.55, 0.75),  # measured 0.0046, 0.648
    # DPS (zeta 0.2): p(y|x_t) ~ N(A x0_hat, sigma^2) ignores the spread of x0 given x_t and the step is
    # a fixed length, not a Bayes weight: good means on SR and blur, std from 0.5 to 1. Not asserted:
    # noiseless blur (measured 375, 32.8): the posterior there is almost a point (only the 3
    # singular values under rcond are free), which fixed-length steps do not reach in 100 steps.
    ("dps", "inpaint", 0.0): (0.72, 0.84, 1.14),  # measured 0.4710, 0.989
    ("dps", "sr-block", 0.0): (0.017, 0.76, 1.03),  # measured 0.0046, 0.895
    ("dps", "sr-bicubic", 0.0): (0.021, 0.75, 1.03),  # measured 0.0068, 0.890
    ("dps", "inpaint", 0.05): (0.19, 0.41, 0.56),  # measured 0.1170, 0.483
    ("dps", "blur", 0.05): (0.026, 0.55, 0.75),  # measured 0.0104, 0.649
    ("dps", "sr-block", 0.05): (0.22, 0.53, 0.73),  # measured 0.1392, 0.632
    ("dps", "sr-bicubic", 0.05): (0.14, 0.56, 0.76),  # measured 0.0843, 0.659
    # PiGDM (Algorithm 1 with the authors' adaptive weight: x0_hat moves by sqrt(abar_t) r_t^2 g, abar_t
    # times Tweedie's step, and the DDIM step keeps the network's eps): the damped guidance leaves the
    # noiseless chains overdispersed at mid noise (inpainting, blur) and the noisy ones underdispersed
    # (std ratio 0.65-0.70) with a small mean error (0.02-0.29). The Bayes-exact step (measured here
    # 0.004-1.68 excess, std 0.84-1.55 at commit e36b735) diverged on every trained prior (solvers/pigdm.py).
    ("pigdm", "inpaint", 0.0): (1.003, 0.97, 1.31),  # measured 0.6623, 1.142
    ("pigdm", "blur", 0.0): (2.696, 1.01, 1.36),  # measured 1.7906, 1.186
    ("pigdm", "sr-block", 0.0): (0.02, 0.71, 0.95),  # measured 0.0065, 0.830
    ("pigdm", "sr-bicubic", 0.0): (0.015, 0.71, 0.96),  # measured 0.0032, 0.833
    ("pigdm", "inpaint", 0.05): (0.038, 0.59, 0.80),  # measured 0.0189, 0.699
    ("pigdm", "blur", 0.05): (0.151, 0.56, 0.76),  # measured 0.0937, 0.657
    ("pigdm", "sr-block", 0.05): (0.284, 0.56, 0.76),  # measured 0.1826, 0.661
    ("pigdm", "sr-bicubic", 0.05): (0.448, 0.56, 0.75),  # measured 0.2921, 0.654
    # DiffPIR (lambda 7, zeta 0.3): noiseless it is the projection x0 + A^+(y - A x0) (as DDNM) with a
    # DDIM-like step; noisy, rho_t = lambda sigma^2 / sigma_bar_t^2 treats x0_hat as 1/sqrt(lambda)
    # sigma_bar_t accurate, so lambda = 7 under-weights the data for this prior: biased, overdispersed
    # (lambda = 1 measured 0.01-0.2 excess).
    ("diffpir", "inpaint", 0.0): (1.1, 1.72, 2.33),  # measured 0.7039, 2.024
    ("diffpir", "blur", 0.0): (0.62, 1.23, 1.68),  # measured 0.4021, 1.454
    ("diffpir", "sr-block", 0.0): (0.036, 0.78, 1.06),  # measured 0.0172, 0.920
    ("diffpir", "sr-bicubic", 0.0): (0.022, 0.74, 1.01),  # measured 0.0080, 0.874
    ("diffpir", "inpaint", 0.05): (1.1, 1.37, 1.86),  # measured 0.6620, 1.612
    ("diffpir", "blur", 0.05): (0.39, 1.14, 1.56),  # measured 0.2531, 1.350
    ("diffpir", "sr-block", 0.05): (0.81, 1.16, 1.58),  # measured 0.5298, 1.371
    ("diffpir", "sr-bicubic", 0.05): (0.72, 1.14, 1.55),  # measured 0.4716, 1.346
    # RePaint (j = 10, U = 10, NFE 910): the replacement of DDNM with resampling, which lets the
    # null space re-harmonise with the known pixels: better than DDNM, not exact.
    ("repaint", "inpaint", 0.0): (0.78, 1.28, 1.74),  # measured 0.5067, 1.509
}


@pytest.fixture(scope="module")
def problems():
    cache = {}

    def get(task, sigma_y, white=False):
        key = (task, sigma_y, white)
        if key not in cache:
            moments = (go.prior_moments()[0], torch.eye(go.D, dtype=torch.float64)) if white else None
            cache[key] = go.problem(task, sigma_y, moments=moments)
        return cache[key]

    return get


def _residual_over_sigma(prob, x):
    """RMS of y - A x over the measured entries (inpainting: the observed pixels), over sigma_y."""
    op = prob["operator"]
    r = op.A(x.reshape(len(x), *go.SHAPE)) - prob["y"]
    m = int((op.A(torch.ones(1, *go.SHAPE, dtype=torch.float64)) != 0).sum())
    return float(r.pow(2).flatten(1).sum(1).div(m).sqrt().mean()) / prob["sigma_y"]


@pytest.mark.parametrize("method,task,sigma_y", list(BOUNDS))
def test_matches_exact_gaussian_posterior(problems, method, task, sigma_y):
    prob = problems(task, sigma_y)
    x, nfe = go.run(method, prob, SAMPLES, STEPS)
    c = go.compare(x, prob)
    max_excess, lo, hi = BOUNDS[(method, task, sigma_y)]
    assert torch.isfinite(x).all()
    assert c["excess"] <= max_excess, c
    assert lo <= c["std_ratio"] <= hi, c
    assert nfe == (910 if method == "repaint" else STEPS)
    if sigma_y > 0:  # ||A x - y|| at the noise level; exact posterior draws: 1.02-1.59 sigma_y on these tasks
        # measured 0.24 (DDNM+ sr-bicubic) to 2.06 (DiffPIR inpainting)
        assert 0.2 < _residual_over_sigma(prob, x) < 2.5


@pytest.mark.parametrize("method", ["ddnm", "ddnm_plus", "pigdm", "diffpir", "repaint", "ddrm"])
@pytest.mark.parametrize("task", ["inpaint", "sr-bicubic"])
def test_exact_for_white_prior(problems, method, task):
    """C = I: pixels (and spectral components) are independent, so replacing the range space is exact
    and PiGDM's r_t^2 = 1 - abar_t is the true Cov(x0|x_t); only the 100-step discretisation remains.
    Measured excess 0.0014-0.0020; std ratio 0.93-0.97, DiffPIR 0.94 (zeta), DDRM 0.85 (eta 0.85
    draws eta sigma_{t-1} of fresh noise per step, more than the ancestral step: variance is lost)."""
    if method == "repaint" and task != "inpaint":
        pytest.skip("repaint is for inpainting")
    prob = problems(task, 0.0, white=True)
    c = go.compare(go.run(method, prob, SAMPLES, STEPS)[0], prob)
    assert c["excess"] < 0.01, c
    lo, hi = (0.8, 0.9) if method == "ddrm" else (0.9, 1.03)
    assert lo <= c["std_ratio"] <= hi, c


def test_pigdm_adaptive_weight_on_white_prior_noisy_blur(problems):
    """Noisy deblurring with C = I, where Cov(x0|x_t) = r_t^2 I holds: the unweighted (Tweedie) step
    would be exact (measured 0.0042, 0.942 at commit e36b735), the paper's adaptive weight sqrt(abar_t) r_t^2 leaves
    an error (measured 0.4155, 0.822; DDRM 1.92, DDNM+ 37 on the same problem). Pins the weight:
    the Tweedie step fails the lower bound on the error."""
    prob = problems("blur", 0.05, white=True)
    c = go.compare(go.run("pigdm", prob, SAMPLES, STEPS)[0], prob)
    assert 0.2 < c["excess"] < 0.63 and 0.70 <= c["std_ratio"] <= 0.95, c


# ---------------------------------------------------------------- data consistency

@pytest.mark.parametrize("method", ["ddnm", "ddnm_plus", "ddrm", "repaint"])
def test_noiseless_inpainting_reproduces_observed_pixels(problems, method):
    prob = problems("inpaint", 0.0)
    y = prob["y"].repeat(4, 1, 1, 1)
    x = METHODS[method](prob["prior"], prob["operator"], y, steps=20, sigma_y=0.0,
                        generator=torch.Generator().manual_seed(0))
    mask = prob["operator"].mask.bool().expand_as(x)
    assert (x - y)[mask].abs().max() < 1e-6
    assert (x - y)[~mask].abs().min() > 0  # the missing pixels are drawn, not copied


@pytest.mark.parametrize("method", ["ddnm", "ddrm"])
def test_noiseless_sr_is_consistent(problems, method):
    prob = problems("sr-bicubic", 0.0)
    y = prob["y"].repeat(4, 1, 1, 1)
    x = METHODS[method](prob["prior"], prob["operator"], y, steps=20, sigma_y=0.0,
                        generator=torch.Generator().manual_seed(0))
    assert (prob["operator"].A(x) - y).abs().max() < 1e-6


# ---------------------------------------------------------------- reproducibility, callback, errors

@pytest.mark.parametrize("method", sorted(METHODS))
def test_same_generator_same_output(problems, method):
    prob = problems("inpaint", 0.0)
    y = prob["y"].repeat(3, 1, 1, 1)

    def run(seed):
        return METHODS[method](prob["prior"], prob["operator"], y, steps=10, sigma_y=0.0,
                               generator=torch.Generator().manual_seed(seed))

    a, b, c = run(5), run(5), run(6)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert a.shape == y.shape and a.dtype == y.dtype


def test_callback_once_per_step_and_time_travel_nfe(problems):
    prob = problems("sr-block", 0.05)
    seen = []
    ddnm_plus(prob["prior"], prob["operator"], prob["y"], steps=10, sigma_y=0.05,
              generator=torch.Generator().manual_seed(0), callback=seen.append)
    assert [d["i"] for d in seen] == list(range(9, -1, -1))
    assert [d["t"] for d in seen] == prob["prior"].schedule.respace(10).t.flip(0).tolist()
    assert set(seen[0]) == {"i", "t", "x", "x0_hat"} and seen[0]["x"].shape == (1, *go.SHAPE)
    calls = []
    ddnm_plus(prob["prior"], prob["operator"], prob["y"], steps=10, sigma_y=0.05, travel_length=2, travel_repeat=3,
              generator=torch.Generator().manual_seed(0), callback=calls.append)
    assert len(calls) == 10 + 4 * 2 * 2  # jumps at levels 1, 3, 5, 7, twice each, 2 steps each


def test_levels_follow_repaint_schedule():
    assert levels(5) == [5, 4, 3, 2, 1, 0]
    assert levels(6, 2, 2) == [6, 5, 4, 3, 5, 4, 3, 2, 1, 3, 2, 1, 0]
    path = levels(250, 10, 10)  # RePaint's setting: 24 jump points, 9 jumps of 10 each
    assert sum(b < a for a, b in zip(path, path[1:])) == 250 + 24 * 9 * 10
    assert max(path) == 250 and path[-1] == 0


def test_ddnm_plus_noiseless_is_ddnm(problems):
    prob = problems("blur", 0.0)
    y = prob["y"].repeat(3, 1, 1, 1)
    a = ddnm(prob["prior"], prob["operator"], y, steps=15, sigma_y=0.0, generator=torch.Generator().manual_seed(1))
    b = ddnm_plus(prob["prior"], prob["operator"], y, steps=15, sigma_y=0.0, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(a, b, atol=1e-9)


def test_errors(problems):
    prob = problems("inpaint", 0.05)
    p, op, y = prob["prior"], prob["operator"], prob["y"]
    motion = Blur(motion_kernel(5, generator=torch.Generator().manual_seed(0)))
    assert not motion.has_svd
    with pytest.raises(ValueError, match="cheap SVD"):
        ddrm(p, motion, y, steps=5, sigma_y=0.05)
    with pytest.raises(ValueError, match="Inpainting"):
        repaint(p, Downsample(2), go.problem("sr-block", 0.0)["y"], steps=5, sigma_y=0.0)
    with pytest.raises(ValueError, match="no noisy"):
        repaint(p, op, y, steps=5, sigma_y=0.05)
    with pytest.raises(ValueError, match="ddnm_plus"):
        ddnm(p, op, y, steps=5, sigma_y=0.05)
    with pytest.raises(ValueError, match="steps"):
        dps(p, op, y, steps=2000, sigma_y=0.05)
    with pytest.raises(ValueError, match="sigma_y"):
        diffpir(p, op, y, steps=5, sigma_y=-1.0)
    with pytest.raises(ValueError, match="unknown method"):
        solve(p, op, y, method="nope", sigma_y=0.05)


# ---------------------------------------------------------------- shared pieces

def _dense(op, shape):
    n = torch.Size(shape).numel()
    eye = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
    return op.A(eye).reshape(n, -1).T


@pytest.mark.parametrize("name", ["inpaint", "circular", "blur-svd", "bicubic", "motion-cg", "linear-cg"])
def test_tikhonov_matches_dense(name):
    """(A^T A + rho I)^{-1} A^T r: closed form through the SVD (masks, circular blur, separable blur,
    bicubic) or CGLS (no SVD), against the dense solution."""
    g = torch.Generator().manual_seed(0)
    shape = (2, 6, 8)
    ops = {
        "inpaint": lambda: Inpainting(random_mask(6, 8, 0.5, generator=g)),
        "circular": lambda: CircularBlur(gaussian_kernel(3, 1.0)),
        "blur-svd": lambda: Blur(gaussian_kernel(3, 0.7)),
        "bicubic": lambda: Downsample(2),
        "motion-cg": lambda: Blur(motion_kernel(5, generator=g), tol=1e-10),
        "linear-cg": lambda: LinearOperator(lambda x: x[..., ::2, :] + 0.5 * x[..., 1::2, :], shape, tol=1e-10),
    }
    op = ops[name]()
    A = _dense(op, shape)
    x = torch.randn(3, *shape, generator=g, dtype=torch.float64)
    r = op.A(x) + 0.1 * torch.randn(op.A(x).shape, generator=g, dtype=torch.float64)
    for rho in (0.3, 0.01):
        want = torch.linalg.solve(A.T @ A + rho * torch.eye(A.shape[1], dtype=torch.float64), A.T @ r.flatten(1).T).T
        got = tikhonov(op, r, rho, x.shape, tol=1e-10).flatten(1)
        assert torch.allclose(got, want, atol=1e-7), (name, rho, (got - want).abs().max())
        loose = tikhonov(op, r, rho, x.shape).flatten(1)  # the chains' DATA_TOL
        assert (loose - want).norm() <= 1e-2 * want.norm(), (name, rho)


# ---------------------------------------------------------------- solve

def test_solve_batches_draws_and_matches_direct_call(problems):
    prob = problems("sr-bicubic", 0.05)
    y = torch.cat([prob["y"], prob["y"].flip(-1)])  # B = 2
    out = solve(prob["prior"], prob["operator"], y, "ddrm", num_samples=3, steps=10, sigma_y=0.05,
                generator=torch.Generator().manual_seed(0))
    assert out["samples"].shape == (3, 2, *go.SHAPE)
    assert out["mean"].shape == out["std"].shape == (2, *go.SHAPE)
    direct = ddrm(prob["prior"], prob["operator"], y.repeat(3, 1, 1, 1), steps=10, sigma_y=0.05,
                  generator=torch.Generator().manual_seed(0))
    # one batch of N * B, draw-major, unclamped (the Gaussian prior does not clip)
    assert torch.equal(out["samples"], direct.reshape(3, 2, *go.SHAPE))
    assert torch.allclose(out["mean"], out["samples"].mean(0)) and torch.allclose(out["std"], out["samples"].std(0))
    chunked = solve(prob["prior"], prob["operator"], y, "ddrm", num_samples=3, steps=10, sigma_y=0.05,
                    generator=torch.Generator().manual_seed(0), max_batch=2)
    assert chunked["samples"].shape == (3, 2, *go.SHAPE)


def test_solve_with_per_sample_masks(problems):
    prob = problems("inpaint", 0.0)
    g = torch.Generator().manual_seed(1)
    masks = torch.stack([random_mask(6, 6, 0.5, generator=g)[0] for _ in range(2)])  # (2, 1, 6, 6)
    op = Inpainting(masks)
    y = op.A(prob["x"].repeat(2, 1, 1, 1))
    out = solve(prob["prior"], op, y, "ddnm", num_samples=3, steps=10, sigma_y=0.0, generator=g)
    assert out["samples"].shape == (3, 2, *go.SHAPE)
    keep = masks.bool().expand(3, 2, *go.SHAPE)
    assert (out["samples"] - y)[keep].abs().max() < 1e-6


# ---------------------------------------------------------------- a tiny random UNet, end to end

@pytest.fixture(scope="module")
def unet_prior():
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1))
    for p in net.parameters():  # non-zero output layers so eps is not trivially 0
        torch.nn.init.normal_(p, std=0.05)
    return DDPM(net, linear_schedule())


def _tasks(h, w):
    g = torch.Generator().manual_seed(0)
    return {
        "inpaint": (Inpainting(random_mask(h, w, 0.5, generator=g)), 0.0),
        "sr": (Downsample(2, "bicubic"), 0.05),
        "motion": (Blur(motion_kernel(5, generator=g)), 0.05),  # no SVD: CG / A_pinv by CGLS
    }


@pytest.mark.parametrize("size", [(8, 8), (12, 16)])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_unet_end_to_end(unet_prior, method, size):
    h, w = size
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, h, w, generator=g)
    extra = {"repaint": {"jump_length": 2, "resample": 2}, "ddnm_plus": {"travel_length": 2, "travel_repeat": 2}}
    for task, (op, sigma_y) in _tasks(h, w).items():
        noisy_ok = method not in ("ddnm", "repaint")
        if (sigma_y > 0 and not noisy_ok) or (method == "repaint" and task != "inpaint"):
            continue
        if method == "ddrm" and not op.has_svd:
            with pytest.raises(ValueError, match="cheap SVD"):
                ddrm(unet_prior, op, op.A(x), steps=5, sigma_y=sigma_y)
            continue
        y = add_noise(op.A(x), sigma_y, g)
        nfe = []
        out = METHODS[method](unet_prior, op, y, steps=5, sigma_y=sigma_y, generator=torch.Generator().manual_seed(1),
                              callback=nfe.append, **extra.get(method, {}))
        assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all(), (method, task)
        assert len(nfe) >= 5
        if task == "inpaint" and method in ("ddnm", "ddnm_plus", "ddrm", "repaint"):
            m = op.mask.bool().expand_as(x)
            assert (out - y)[m].abs().max() < 1e-5  # the clipped prior still keeps the observed pixels
    assert all(p.grad is None for p in unet_prior.parameters())  # no parameter gradients (DPS, PiGDM)


def test_solve_clamps_when_prior_clips(unet_prior):
    op = Downsample(2, "bicubic")
    y = op.A(torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)))
    out = solve(unet_prior, op, y, "pigdm", num_samples=2, steps=5, sigma_y=0.05,
                generator=torch.Generator().manual_seed(0))
    assert out["samples"].shape == (2, 1, 3, 8, 8)
    assert out["samples"].min() >= 0 and out["samples"].max() <= 1


@pytest.mark.parametrize("method", sorted(METHODS))
def test_any_number_of_steps(problems, method):
    prob = problems("inpaint", 0.0)
    y = prob["y"].repeat(2, 1, 1, 1)
    for steps in (1, 2, 7):
        x = METHODS[method](prob["prior"], prob["operator"], y, steps=steps, sigma_y=0.0,
                            generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(x).all() and x.shape == y.shape


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(METHODS))
def test_all_T_steps(problems, method):
    """Every solver on the full, un-respaced chain (T = 1000 steps)."""
    prob = problems("sr-bicubic" if method != "repaint" else "inpaint", 0.0)
    kw = {"resample": 1} if method == "repaint" else {}
    x, nfe = go.run(method, prob, 64, 1000, **kw)
    assert nfe == 1000 and torch.isfinite(x).all()
    assert go.compare(x, prob)["excess"] < (1.0 if method == "repaint" else 0.05)  # as at 100 steps
