"""The DDPM's math against closed forms and an exact Gaussian prior (seed eqs. 10-35, supplement 1)."""
import math

import pytest
import torch

from restore.priors import (DDPM, UNet, UNetConfig, ancestral_sample, bits_per_dim, ddim_sample, gaussian_prior,
                            linear_schedule, posterior_mean, reverse_mean_eps, stationary_covariance)

SHAPE = (1, 4, 4)
D = 16


@pytest.fixture(scope="module")
def exact():
    """Data x0 ~ N(m, C) on 4x4 images: std 0.25, so P(|x| > 1) per pixel is 6e-5."""
    C = stationary_covariance(4, 4, 1, std=0.25, length=1.5)
    m = 0.1 * torch.sin(torch.arange(D, dtype=torch.float64))
    return gaussian_prior(m, C, SHAPE), m, C


def test_closed_form_matches_iterating_eq10():
    s = linear_schedule()
    mean, var = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    for a in s.alphas:  # x_t = sqrt(a_t) x_{t-1} + sqrt(1 - a_t) eps, exactly in mean and variance
        mean, var = a.sqrt() * mean, a * var + (1 - a)
    assert torch.allclose(mean, s.abar[-1].sqrt(), rtol=1e-10) and torch.allclose(var, 1 - s.abar[-1], rtol=1e-12)
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000,), 0.7, dtype=torch.float64)
    x = x0.clone()
    for a in s.alphas[:300]:  # Monte-Carlo iteration of seed eq. 10 vs eq. 12 at t = 300
        x = a.sqrt() * x + (1 - a).sqrt() * torch.randn(x.shape, generator=g, dtype=torch.float64)
    se = (1 - s.abar[299]).sqrt() / math.sqrt(len(x))
    assert abs(float(x.mean() - s.abar[299].sqrt() * 0.7)) < 5 * se
    assert abs(float(x.var() / (1 - s.abar[299])) - 1) < 5 * math.sqrt(2 / len(x))


@pytest.mark.parametrize("steps", [None, 17])
def test_eq21_is_posterior_mean_at_x0_hat(steps):
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=1, width=8, mults=(1, 2), num_res_blocks=1))
    for p in net.parameters():  # non-zero output layers so eps is not trivially 0
        torch.nn.init.normal_(p, std=0.05)
    prior = DDPM(net.double(), linear_schedule(), clip=False)
    s = prior.schedule if steps is None else prior.schedule.respace(steps)
    x_t = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    for i in [0, 1, len(s) // 2, len(s) - 1]:
        t = int(s.t[i])
        eps = prior.eps(x_t, t)
        assert eps.abs().max() > 1e-3
        mu = reverse_mean_eps(s, i, x_t, eps)
        assert torch.allclose(mu, posterior_mean(s, i, prior.x0_hat(x_t, t), x_t), atol=1e-10)


def _check_moments(x, m, C, slack=0.0):
    """Mean and covariance of n draws within 5 Monte-Carlo standard errors (+ slack * max C)."""
    n = len(x)
    x = x.flatten(1).double()
    se_m = (C.diagonal() / n).sqrt()
    assert ((x.mean(0) - m).abs() / se_m).max() < 5
    d = C.diagonal()
    se_c = ((d[:, None] * d[None, :] + C**2) / n).sqrt()
    assert ((torch.cov(x.T) - C).abs() - slack * C.abs().max()).div(se_c).max() < 5


@pytest.mark.parametrize("variance", ["beta", "beta_tilde", 0.5])
def test_ancestral_sampling_reproduces_gaussian(exact, variance):
    prior, m, C = exact
    g = torch.Generator().manual_seed(1)
    x_T = torch.randn(3000, *SHAPE, generator=g, dtype=torch.float64)
    x = ancestral_sample(prior, x_T.shape, variance=variance, generator=g, x_T=x_T)
    _check_moments(x, m, C)


def test_ddim_is_affine_and_close_to_gaussian(exact):
    """With the exact eps, 50-step DDIM (eta = 0) is an affine map x_0 = M x_T + b: its output law
    N(b, M M^T) is computed exactly, and its distance to N(m, C) is the discretisation error."""
    prior, m, C = exact
    basis = torch.cat([torch.zeros(1, D), torch.eye(D)]).double().reshape(-1, *SHAPE)
    errors = {}
    for steps, spacing in [(50, "uniform"), (50, "quadratic"), (200, "uniform")]:
        out = ddim_sample(prior, basis.shape, steps=steps, x_T=basis, spacing=spacing).flatten(1)
        b, M = out[0], (out[1:] - out[0]).T
        assert (b - m).abs().max() < 1e-3  # abar_T > 0 leaves ~1e-4 even at 1000 steps
        errors[steps, spacing] = float((M @ M.T - C).norm() / C.norm())
    # measured relative covariance errors: 0.103 (50 uniform), 0.064 (50 quadratic), 0.027 (200),
    # 0.006 (1000): first-order convergence of the deterministic sampler, as expected
    assert errors[50, "uniform"] < 0.12
    assert errors[50, "quadratic"] < 0.08
    assert errors[200, "uniform"] < 0.035


def test_bound_above_exact_nll(exact):
    """Exact discretized NLL of 8-bit data ~ -log p(x) - D log(2/255); the bound must exceed it."""
    prior, m, C = exact
    g = torch.Generator().manual_seed(2)
    x0 = prior.net.sample(300, g)
    xq = torch.clamp(torch.round((x0 + 1) * 127.5), 0, 255) / 127.5 - 1
    exact_bpd = -(prior.net.log_prob(xq) + D * math.log(2 / 255)) / (D * math.log(2))
    r = bits_per_dim(prior, xq, strata=None, generator=g)
    gap = r["bpd"] - exact_bpd
    se = float(gap.std() / math.sqrt(len(gap)))
    # measured: gap 0.113 +- 0.015 bits/dim (400 images): the fixed reverse variances and the decoder
    assert float(gap.mean()) > 3 * se
    assert 0.04 < float(gap.mean()) < 0.2
    mc = bits_per_dim(prior, xq[:100], strata=40, generator=g)["bpd"]  # unbiased, noisier
    assert abs(float(mc.mean() - r["bpd"][:100].mean())) < 4 * float(mc.std() / 10) + 0.05


def test_mean_pass_is_near_one_for_the_exact_prior_and_zero_for_a_mean_blind_network(exact):
    """benchmarks/mean_pass: the exact eps passes the noise's image-wide mean at t = T (slope ~1)
    and x0_hat from pure noise stays within the data's spread of means; a network whose output has
    no image-wide mean (what a per-channel norm before the output layer leans to) gives slope 0 and
    x0_hat means 1/sqrt(abar_T) times the noise's."""
    from lab.mean_pass import measure

    prior, m, C = exact
    g = torch.Generator().manual_seed(1)
    x0 = (m[:, None] + torch.linalg.cholesky(C) @ torch.randn(D, 256, generator=g, dtype=torch.float64)).T.reshape(256, *SHAPE)
    r = measure(prior, x0, [1000, 500])
    assert r["slope t=1000"] > 0.99 and r["x0 spread"] < r["data spread"], r

    class MeanBlind(torch.nn.Module):
        def forward(self, x, t):
            return prior.net(x, t) - prior.net(x, t).mean((-2, -1), keepdim=True)

    blind = measure(DDPM(MeanBlind(), prior.schedule, image_size=4, channels=1, clip=False), x0, [1000])
    assert abs(blind["slope t=1000"]) < 1e-6 and blind["x0 spread"] > 10 * r["data spread"], blind


@pytest.mark.parametrize("kind", ["stationary", "white", "singular"])
def test_draws_and_eps_do_not_depend_on_the_eigenbasis(monkeypatch, kind):
    """LAPACK's eigenvectors are fixed only up to sign, and up to rotation within a repeated
    eigenvalue, and MKL's choice differs by CPU. Another valid basis (signs flipped; the repeated
    eigenspace rotated: all of it for C = I, the null space of a rank-6 C) must give the same draws
    for the same generator (Cholesky factor, or the symmetric square root when C is singular) and
    the same eps. With draws m + Q lam^1/2 z they differed by O(1)."""
    from restore.priors.gaussian import GaussianEps

    g = torch.Generator().manual_seed(0)
    B = torch.randn(D, 6, generator=g, dtype=torch.float64) * 0.1
    C = {"stationary": stationary_covariance(4, 4, 1, std=0.25, length=1.5), "white": torch.eye(D, dtype=torch.float64),
         "singular": B @ B.T}[kind]
    m = 0.1 * torch.sin(torch.arange(D, dtype=torch.float64))
    a = GaussianEps(m, C, linear_schedule(), SHAPE)
    eigh = torch.linalg.eigh

    def other_basis(A):
        lam, Q = eigh(A)
        Q = Q * torch.where(torch.arange(D) % 2 == 0, -1.0, 1.0).double()  # flip every other sign
        free = (lam - lam.max()).abs() < 1e-9 if kind == "white" else lam.abs() < 1e-9 * lam.abs().max()
        R = torch.linalg.qr(torch.randn(int(free.sum()), int(free.sum()), generator=g, dtype=torch.float64)).Q
        Q[:, free] = Q[:, free] @ R
        return lam, Q

    monkeypatch.setattr(torch.linalg, "eigh", other_basis)
    b = GaussianEps(m, C, linear_schedule(), SHAPE)
    assert not torch.allclose(a.Q, b.Q)  # the bases do differ
    xa, xb = a.sample(5, torch.Generator().manual_seed(1)), b.sample(5, torch.Generator().manual_seed(1))
    # singular C: the zero eigenvalues come out as +-1e-17, whose square roots (3e-9) remain
    assert (xa - xb).abs().max() < (1e-7 if kind == "singular" else 1e-12)
    assert (xa[1:] - xa[:1]).abs().amax((1, 2, 3)).min() > 1e-3  # distinct draws
    t = torch.tensor([0, 300, 999, 5, 500])
    assert (a(xa, t) - b(xa, t)).abs().max() < 1e-10


def test_eval_runs_the_network_in_float32_and_the_bound_in_float64(tiny_npz, tmp_path, monkeypatch):
    """`restore eval`'s network runs in float32, the bound's arithmetic in float64 (the images, the
    noise, the KL terms, the decoder's likelihood, the sums): per image within 0.01 bits/dim of the
    all-float64 bound, with the same t and noise draws."""
    from restore.priors import evaluate as ev, load_prior
    from restore.priors.checkpoint import save_prior
    from restore.priors.likelihood import bound_terms

    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=1, width=8, mults=(1, 2), num_res_blocks=1))
    for p in net.parameters():  # a random network whose eps is far from 0
        torch.nn.init.normal_(p, std=0.05)
    path = tmp_path / "random.safetensors"
    save_prior(path, net, linear_schedule(), 8)
    seen, real = [], ev.bits_per_dim

    def spy(prior, x0, **kw):
        r = real(prior, x0, **kw)
        seen.append((prior.dtype, x0.dtype, r["bpd"].dtype, r["mse"].dtype))
        return r

    monkeypatch.setattr(ev, "bits_per_dim", spy)
    r32 = ev.evaluate(path, tiny_npz, num=16, strata=20, batch=8, device="cpu")
    r64 = ev.evaluate(path, tiny_npz, num=16, strata=20, batch=8, device="cpu", net_dtype=torch.float64)
    f32, f64 = torch.float32, torch.float64
    assert seen == [(f32, f64, f64, f64)] * 2 + [(f64, f64, f64, f64)] * 2
    assert r32["bits_per_dim"] != r64["bits_per_dim"] and abs(r32["bits_per_dim"] - r64["bits_per_dim"]) < 0.01
    assert r32["bits_per_dim"] > 1  # a random network: far from the data, the test is not of a tiny bound

    x0 = ev.held_out(load_prior(path), tiny_npz, num=16)
    per_image = []
    for dtype in (f32, f64):
        prior = load_prior(path, dtype=dtype)
        noise = torch.randn(x0.shape, dtype=f64, generator=torch.Generator().manual_seed(1))
        terms, mse = bound_terms(prior, x0, torch.arange(16) * 60 + 1, noise)  # t = 1 (the decoder), 61, ..., 901
        assert prior.dtype == dtype and terms.dtype == mse.dtype == f64
        per_image.append(bits_per_dim(prior, x0, strata=20, generator=torch.Generator().manual_seed(0))["bpd"])
    assert (per_image[0] - per_image[1]).abs().max() < 0.01


def test_held_out_downscales_whole_images_to_8_bits_before_the_crop(tmp_path):
    from types import SimpleNamespace

    import numpy as np
    from PIL import Image

    from restore.priors import evaluate as ev

    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    prior = SimpleNamespace(channels=3, image_size=8)
    full = ev.held_out(prior, tmp_path)
    assert full.shape == (1, 3, 8, 8) and torch.equal(full, ev.held_out(prior, tmp_path, scale=1.0))
    half = ev.held_out(prior, tmp_path, scale=0.5)
    blocks = img.astype(np.float64).reshape(20, 2, 24, 2, 3).mean((1, 3))  # 2x2 area average
    want = np.round(blocks)[6:14, 8:16]  # the central 8x8 of the 20x24 image
    assert torch.equal(half[0], torch.from_numpy(want).permute(2, 0, 1) / 127.5 - 1)
    with pytest.raises(ValueError, match="scale"):
        ev.held_out(prior, tmp_path, scale=0)
