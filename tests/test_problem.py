"""restore/solvers/problem.py: any image size in the solvers (the latent padded to a size the prior
takes, the padding unobserved; the warm start's estimate mirrored into it). The padded operator's
SVD: tests/test_operators.py."""
import pytest
import torch
from torch import nn

from restore.operators import (Blur, Colorize, Downsample, Inpainting, LinearOperator, add_noise, gaussian_kernel,
                               motion_kernel, random_mask)
from restore.operators import Padded
from restore.priors import DDPM, UNet, UNetConfig, linear_schedule
from restore.priors.tiling import TiledPrior
from restore.solvers import METHODS, ddnm, ddrm, dps, pose, respaced, solve
from restore.solvers.problem import padded_size
from restore.starts import warm_schedule


@pytest.fixture(scope="module")
def unet4():
    """A tiny random UNet whose sides must be multiples of 4."""
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=3, width=8, mults=(1, 2, 4), num_res_blocks=1))
    for p in net.parameters():
        nn.init.normal_(p, std=0.05)
    net.eval()
    assert net.config.multiple == 4
    return DDPM(net, linear_schedule(), image_size=16)


def _ops(h, w, g):
    return {
        "inpaint": Inpainting(random_mask(h, w, 0.5, generator=g)),
        "blur": Blur(gaussian_kernel(5, 1.0)),  # separable: SVD
        "motion": Blur(motion_kernel(5, generator=g)),  # no SVD: CGLS
        "colorize": Colorize(),
    }


# ---------------------------------------------------------------- padding

def test_padded_size(unet4):
    assert padded_size(unet4, 10, 14) == (12, 16)
    assert padded_size(unet4, 13, 9) == (16, 12)
    assert padded_size(unet4, 12, 16) == (12, 16)
    assert padded_size(TiledPrior(unet4, tile=16), 13, 9) == (16, 16)  # a patch prior: at least its tile
    assert padded_size(TiledPrior(unet4, tile=16), 40, 9) == (40, 16)


@pytest.mark.parametrize("size", [(10, 14), (13, 9)])
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_solver_any_size(unet4, method, size):
    h, w = size
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, h, w, generator=g)
    extra = {"repaint": {"jump_length": 1, "resample": 2}}
    for task, op in _ops(h, w, g).items():
        if method == "repaint" and task != "inpaint":
            continue
        if method == "ddrm" and not op.has_svd:
            with pytest.raises(ValueError, match="cheap SVD"):
                ddrm(unet4, pose(unet4, op, op.A(x), 0.0), respaced(unet4, 3))
            continue
        y = op.A(x)
        seen = []
        out = METHODS[method](unet4, pose(unet4, op, y, 0.0), respaced(unet4, 3), generator=torch.Generator().manual_seed(1),
                              callback=seen.append, **extra.get(method, {}))
        assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all(), (method, task)
        assert seen and seen[0]["x"].shape == x.shape and seen[0]["x0_hat"].shape == x.shape  # cropped too
        if task == "inpaint" and method in ("ddnm", "ddnm_plus", "ddrm", "repaint", "diffpir"):
            m = op.mask.bool().expand_as(x)
            assert (out - y)[m].abs().max() < 1e-6, (method, (out - y)[m].abs().max())


def test_noiseless_ddnm_inpainting_keeps_observed_pixels_exactly(unet4):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(3, 3, 13, 9, generator=g)
    op = Inpainting(random_mask(13, 9, 0.6, generator=g))
    y = op.A(x)
    out = ddnm(unet4, pose(unet4, op, y, 0.0), respaced(unet4, 3), generator=torch.Generator().manual_seed(0))
    m = op.mask.bool().expand_as(x)
    assert (out - y)[m].abs().max() < 1e-6  # float32 rounding of x0 + (y' - x0) only
    assert (out - y)[~m].abs().max() > 0.1  # the missing pixels are drawn


def test_noisy_solvers_any_size(unet4):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 13, 9, generator=g)
    op = Blur(gaussian_kernel(5, 1.0))
    y = add_noise(op.A(x), 0.05, g)
    for method in ("ddnm_plus", "ddrm", "dps", "pigdm", "diffpir"):
        out = METHODS[method](unet4, pose(unet4, op, y, 0.05), respaced(unet4, 3), generator=torch.Generator().manual_seed(1))
        assert out.shape == x.shape and torch.isfinite(out).all(), method


def test_solve_any_size(unet4):
    g = torch.Generator().manual_seed(0)
    op = Downsample(2, "bicubic")
    y = op.A(torch.rand(2, 3, 26, 18, generator=g))  # image 26 x 18 -> latent 28 x 20
    out = solve(unet4, op, y, "ddrm", num_samples=3, steps=3, sigma_y=0.05, generator=g)
    assert out["samples"].shape == (3, 2, 3, 26, 18) and out["mean"].shape == (2, 3, 26, 18)


def test_inpainting_padded_as_inpainting_and_others_composed(unet4):
    g = torch.Generator().manual_seed(0)
    mask = random_mask(13, 9, 0.5, generator=g)
    y = torch.rand(2, 3, 13, 9, generator=g)
    p = pose(unet4, Inpainting(mask), y, 0.0)
    assert type(p.operator) is Inpainting and p.x_shape == (2, 3, 16, 12) and p.box == (1, 1, 13, 9)
    assert p.y.shape == (2, 3, 16, 12) and torch.equal(p.crop(p.y), 2 * y - Inpainting(mask).A(torch.ones_like(y)))
    pm = p.operator.mask[0, 0]
    assert pm.sum() == mask.sum() and torch.equal(p.crop(pm), mask.reshape(13, 9).to(pm))  # padding: mask 0
    q = pose(unet4, Blur(gaussian_kernel(3, 1.0)), y, 0.0)
    assert isinstance(q.operator, Padded) and q.operator.has_svd
    z = torch.rand(2, 3, 16, 12, generator=g)
    z_pad = z.clone()
    z_pad[..., 1:14, 1:10] = 0
    assert q.operator.A(z_pad).abs().max() == 0  # the padding is unobserved
    fits = pose(unet4, Inpainting(random_mask(12, 16, 0.5, generator=g)), torch.rand(1, 3, 12, 16), 0.0)
    assert fits.x_shape == (1, 3, 12, 16) and fits.box == (0, 0, 12, 16)


def test_no_svd_padded_is_a_clear_error(unet4):
    op = LinearOperator(lambda x: x[..., ::2, :], (3, 10, 14))
    y = op.A(torch.rand(1, 3, 10, 14))
    with pytest.raises(ValueError, match="cheap SVD"):
        ddrm(unet4, pose(unet4, op, y, 0.0), respaced(unet4, 3))
    out = dps(unet4, pose(unet4, op, y, 0.0), respaced(unet4, 3), generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 3, 10, 14)


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
