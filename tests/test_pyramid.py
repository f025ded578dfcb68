"""restore/solvers/pyramid.py: coarse to fine (image pyramids): one level is the plain solver, and a
pyramid keeps the observed pixels, one chain per level. Through restore.inpaint: tests/test_api.py."""
import pytest
import torch

from restore.operators import Inpainting
from restore.starts import warm_schedule


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
