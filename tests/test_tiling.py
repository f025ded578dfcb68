"""The tiled evaluation of eps for patch priors (restore.priors.tiling.TiledPrior). Any image size in
the solvers (the padded latent): tests/test_problem.py."""
import pytest
import torch
from torch import nn

from restore.operators import Inpainting, random_mask
from restore.priors import DDPM, UNet, UNetConfig, linear_schedule
from restore.priors.tiling import TiledPrior, tile_index
from restore.solvers import METHODS, pose, respaced


class Pointwise(nn.Module):
    """eps = 0.5 x: translation-equivariant and local (a pixel's eps depends on that pixel only)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.5))

    def forward(self, x, t):
        return self.scale * x


class Counting(nn.Module):
    """Wraps a net and records the batch size of every call."""

    def __init__(self, net):
        super().__init__()
        self.inner, self.sizes = net, []
        self.config = getattr(net, "config", None)

    def forward(self, x, t):
        self.sizes.append(x.shape[0])
        return self.inner(x, t)


def test_tile_index():
    assert tile_index(4, -2, 8, "wrap").tolist() == [2, 3, 0, 1, 2, 3, 0, 1]
    assert tile_index(4, -2, 8, "reflect").tolist() == [2, 1, 0, 1, 2, 3, 2, 1]
    assert tile_index(4, -2, 8, "zeros").tolist() == [4, 4, 0, 1, 2, 3, 4, 4]
    assert tile_index(3, -5, 12, "reflect").tolist() == [1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2]


@pytest.mark.parametrize("boundary", ["reflect", "wrap", "zeros"])
@pytest.mark.parametrize("overlap", [0, 3])
def test_pointwise_prior_tiled_equals_untiled(boundary, overlap):
    prior = DDPM(Pointwise(), linear_schedule(), image_size=16)
    tp = TiledPrior(prior, tile=16, overlap=overlap, batch=5, generator=torch.Generator().manual_seed(0),
                    boundary=boundary)
    x = torch.randn(2, 3, 37, 23, generator=torch.Generator().manual_seed(1))
    for t in (1, 500, torch.tensor([3, 900])):
        assert torch.equal(tp.eps(x, t), prior.eps(x, t))
        assert torch.equal(tp.x0_hat(x, t), prior.x0_hat(x, t))
    # gradients through the tiles (checkpointed per tile batch) equal the untiled ones
    xg = x.clone().requires_grad_(True)
    with torch.enable_grad():
        ga = torch.autograd.grad(tp.x0_hat(xg, 400, clip=False).pow(2).sum(), xg)[0]
        gb = torch.autograd.grad(prior.x0_hat(xg, 400, clip=False).pow(2).sum(), xg)[0]
    assert torch.allclose(ga, gb)


@pytest.fixture(scope="module")
def unet_patch():
    torch.manual_seed(1)
    net = UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1))
    for p in net.parameters():
        nn.init.normal_(p, std=0.05)
    net.eval()
    return DDPM(net, linear_schedule(), image_size=16)


def test_unet_tiled_eps(unet_patch):
    x = torch.randn(2, 3, 40, 56, generator=torch.Generator().manual_seed(0))

    def tiled(seed, **kw):
        return TiledPrior(unet_patch, tile=16, batch=4, generator=torch.Generator().manual_seed(seed), **kw)

    with torch.no_grad():
        tp = tiled(0)
        a = tp.eps(x, 300)
        o1 = tp.last_offset
        b = tp.eps(x, 300)  # a new offset
        c = tiled(0).eps(x, 300)  # the same generator state: the same offsets
        full = unet_patch.eps(x, 300)
    assert a.shape == x.shape and torch.isfinite(a).all()
    assert torch.equal(a, c)
    assert tp.last_offset != o1 and not torch.allclose(a, b)
    assert (a - full).abs().mean() < 0.5 * full.abs().mean()  # mostly the same field, seams aside
    # a tile that is the whole image, at offset 0: exactly the untiled network
    x16 = x[..., :16, :16]
    with torch.no_grad():
        assert torch.allclose(tiled(0).eps(x16, 300, offset=(0, 0)), unet_patch.eps(x16, 300), atol=1e-6)


class Ones(nn.Module):
    def forward(self, x, t):
        return torch.ones_like(x)


def test_every_pixel_covered_once():
    prior = DDPM(Ones(), linear_schedule(), image_size=8)
    for overlap in (0, 2):
        tp = TiledPrior(prior, tile=8, overlap=overlap, batch=3, generator=torch.Generator().manual_seed(0))
        # the core positions each pixel is taken from: assemble an index image through an identity net
        for _ in range(5):
            assert torch.equal(tp.eps(torch.zeros(1, 1, 21, 13), 10), torch.ones(1, 1, 21, 13))
        ident = TiledPrior(DDPM(Pointwise(), linear_schedule()), tile=8, overlap=overlap, batch=3,
                           generator=torch.Generator().manual_seed(1))
        x = torch.arange(21 * 13, dtype=torch.float64).reshape(1, 1, 21, 13)
        for _ in range(5):
            assert torch.equal(ident.eps(x, 10), 0.5 * x)  # every pixel from its own core position


def test_tile_batch_bounds_memory(unet_patch):
    counting = Counting(unet_patch.net)
    prior = DDPM(counting, linear_schedule(), image_size=16)
    tp = TiledPrior(prior, tile=16, batch=5, generator=torch.Generator().manual_seed(0), keep=0)
    x = torch.randn(2, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        tp.eps(x, 100)
    oy, ox = tp.last_offset
    ny, nx = tp.tiles_for(40, 56, (oy, ox))
    assert sum(counting.sizes) == 2 * ny * nx and max(counting.sizes) <= 5
    counting.sizes.clear()
    xg = x.clone().requires_grad_(True)
    with torch.enable_grad():  # DPS: autograd through the tiles, recomputed one tile batch at a time
        g = torch.autograd.grad(tp.x0_hat(xg, 100, clip=False).sum(), xg)[0]
    assert g.shape == x.shape and torch.isfinite(g).all()
    assert max(counting.sizes) <= 5
    oy, ox = tp.last_offset  # drawn afresh by that call
    ny, nx = tp.tiles_for(40, 56, (oy, ox))
    assert sum(counting.sizes) == 2 * 2 * ny * nx  # forward + recomputation in the backward pass
    counting.sizes.clear()  # all tiles in one batch: nothing to recompute
    with torch.enable_grad():
        torch.autograd.grad(TiledPrior(prior, tile=16, batch=200).eps(xg, 100).sum(), xg)
    assert len(counting.sizes) == 1
    # without checkpointing: the same gradient at the same offset
    counting.sizes.clear()
    tp2 = TiledPrior(prior, tile=16, batch=5, checkpoint=False)
    with torch.enable_grad():
        eps_a = tp.eps(xg, 100, offset=(oy, ox))
        eps_b = tp2.eps(xg, 100, offset=(oy, ox))
        ga = torch.autograd.grad(eps_a.sum(), xg)[0]
        gb = torch.autograd.grad(eps_b.sum(), xg)[0]
    assert torch.allclose(ga, gb, atol=1e-6)
    # up to `keep` tiles (the default 256 here): batches of 5, kept, nothing recomputed, same gradient
    counting.sizes.clear()
    tp3 = TiledPrior(prior, tile=16, batch=5)
    with torch.enable_grad():
        gc = torch.autograd.grad(tp3.eps(xg, 100, offset=(oy, ox)).sum(), xg)[0]
    assert sum(counting.sizes) == 2 * ny * nx and max(counting.sizes) <= 5
    assert torch.equal(gc, gb)
    counting.sizes.clear()  # one tile past `keep`: recomputed
    with torch.enable_grad():
        torch.autograd.grad(TiledPrior(prior, tile=16, batch=5, keep=2 * ny * nx - 1).eps(xg, 100, offset=(oy, ox)).sum(), xg)
    assert sum(counting.sizes) == 2 * 2 * ny * nx
    with pytest.raises(ValueError, match="keep"):
        TiledPrior(prior, tile=16, keep=-1)


def test_solvers_with_tiled_prior(unet_patch):
    """DPS (gradients through the tiles) and DDNM on a 20 x 28 image with 16 x 16 tiles."""
    tp = TiledPrior(unet_patch, tile=16, batch=8, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 20, 28, generator=g)
    op = Inpainting(random_mask(20, 28, 0.5, generator=g))
    y = op.A(x)
    for method in ("dps", "ddnm", "pigdm"):
        out = METHODS[method](tp, pose(tp, op, y, 0.0), respaced(tp, 3), generator=torch.Generator().manual_seed(1))
        assert out.shape == x.shape and torch.isfinite(out).all(), method
    assert all(p.grad is None for p in unet_patch.net.parameters())


def test_tiled_prior_errors(unet_patch):
    with pytest.raises(ValueError, match="overlap"):
        TiledPrior(unet_patch, tile=16, overlap=8)
    with pytest.raises(ValueError, match="multiple"):
        TiledPrior(unet_patch, tile=15)
    with pytest.raises(ValueError, match="boundary"):
        TiledPrior(unet_patch, boundary="mirror")
    tp = TiledPrior(unet_patch)
    assert tp.tile == 16 and tp.image_size == 16 and tp.schedule is unet_patch.schedule
    assert tp.channels == unet_patch.channels and tp.clip == unet_patch.clip and tp.meta == unet_patch.meta
    with pytest.raises(ValueError, match="t must be"):
        tp.eps(torch.zeros(1, 3, 16, 16), 0)


@pytest.mark.parametrize("boundary", ["reflect", "wrap", "zeros"])
def test_tile_workers_give_identical_eps(unet_patch, boundary):
    """Tiles split across worker processes: the same tiles in the same batches, bit for bit the
    in-process eps, at every boundary, with and without overlap, on sizes that are not multiples."""
    from restore.priors.parallel import TileWorkers

    x = torch.randn(2, 3, 45, 37, generator=torch.Generator().manual_seed(3))
    with TileWorkers(unet_patch, 2) as pool:
        assert pool.running
        for overlap in (0, 3):
            one = TiledPrior(unet_patch, tile=16, overlap=overlap, batch=3, boundary=boundary,
                             generator=torch.Generator().manual_seed(7))
            many = TiledPrior(unet_patch, tile=16, overlap=overlap, batch=3, boundary=boundary,
                              generator=torch.Generator().manual_seed(7), workers=pool)
            with torch.no_grad():
                for t in (10, 600):
                    a, b = one.eps(x, t), many.eps(x, t)
                    assert one.last_offset == many.last_offset
                    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="workers"):
        TiledPrior(unet_patch, tile=16, workers=2)  # a number is no pool
    with pytest.raises(ValueError, match="workers"):
        TileWorkers(unet_patch, 0)


def test_precision_option(unet_patch):
    """bf16: the forward under autocast, eps in the chain's dtype and within a stated tolerance of
    fp32 on a tiny random prior; the caller's prior is unchanged; fp16 needs CUDA; bad names refused."""
    from restore.priors.ddpm import with_precision

    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    bf = with_precision(unet_patch, "bf16")
    assert bf is not unet_patch and bf.net is unet_patch.net and unet_patch.precision == "fp32"
    assert with_precision(unet_patch, "fp32") is unet_patch and with_precision(unet_patch, None) is unet_patch
    with torch.no_grad():
        e32, e16 = unet_patch.eps(x, 300), bf.eps(x, 300)
        e64 = bf.eps(x.double(), 300)
    assert e16.dtype == torch.float32 and e64.dtype == torch.float64
    assert not torch.equal(e16, e32)  # it does round
    assert (e16 - e32).abs().max() < 0.05 * e32.abs().max()
    tp = TiledPrior(unet_patch, tile=16, batch=3, generator=torch.Generator().manual_seed(0), precision="bf16")
    assert tp.precision == "bf16" and unet_patch.precision == "fp32"
    xl = torch.randn(1, 3, 40, 24, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = tp.eps(xl, 300, offset=(2, 5))
        b = TiledPrior(unet_patch, tile=16, batch=3).eps(xl, 300, offset=(2, 5))
    assert (a - b).abs().max() < 0.05 * b.abs().max()
    assert with_precision(tp, "fp32").precision == "fp32" and tp.precision == "bf16"
    with pytest.raises(ValueError, match="CUDA"):
        with_precision(unet_patch, "fp16")
    with pytest.raises(ValueError, match="precision"):
        with_precision(unet_patch, "fp8")


def test_bf16_copy_follows_the_weights(unet_patch):
    """bf16 runs a bfloat16 channels_last copy of the network: not part of the prior's state_dict or
    parameters, eps in x_t's dtype and standard layout, remade after the weights change in place
    (as a training step or EMA update does), and not used while the network trains (autocast)."""
    from restore.priors.ddpm import with_precision

    bf = with_precision(unet_patch, "bf16")
    keys = set(bf.state_dict())
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        e1 = bf.eps(x, 300)
        assert e1.dtype == torch.float32 and e1.is_contiguous()
        assert set(bf.state_dict()) == keys and all(p.dtype == torch.float32 for p in bf.net.parameters())
        copy1 = bf._bf16_net()
        assert bf._bf16_net() is copy1  # kept while the weights are unchanged
        assert next(copy1.parameters()).dtype == torch.bfloat16
        before = [p.clone() for p in unet_patch.net.parameters()]
        try:
            for p in unet_patch.net.parameters():
                p.mul_(0.5)
            e2 = bf.eps(x, 300)
            assert bf._bf16_net() is not copy1
            e32 = unet_patch.eps(x, 300)
            assert not torch.equal(e1, e2) and (e2 - e32).abs().max() < 0.05 * e32.abs().max()
            copy2 = bf._bf16_net()
            for p in unet_patch.net.parameters():
                p.data = p.data * 2  # new storage, as module conversions make (no in-place version bump)
            assert bf._bf16_net() is not copy2 and torch.allclose(bf.eps(x, 300), e1, atol=0.05)
        finally:
            for p, b in zip(unet_patch.net.parameters(), before):
                p.copy_(b)
        bf.__dict__.pop("_bf16_copy")
        unet_patch.net.train()
        bf.eps(x, 300)
        assert "_bf16_copy" not in bf.__dict__  # training: autocast on the network itself


def test_default_workers_share_the_cores_among_local_ranks(monkeypatch):
    from restore.priors.parallel import default_workers

    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    alone = default_workers("cpu")
    assert alone >= 1 and default_workers("meta") == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(2 * alone))  # more processes than cores: one worker each
    assert default_workers("cpu") == 1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert default_workers("cpu") == alone
