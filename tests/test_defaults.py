"""The API's defaults (restore.defaults: DEFAULTS, `default`, NO_SVD_BLUR_DEFAULT, SMALL_HOLES_DEFAULT and
`small_holes`): which chain each command runs, by tiles or on the whole image."""
import numpy as np
import pytest
import torch

import restore


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
            # the mirrored border keeps a streak without an SVD (a periodic one has one: test_blind)
            restore.deblur(y, kernel, boundary="reflect", prior=tiny_prior, sigma_y=0.02, callback=infos.append)
        d = default(command.split("-")[0], by_tiles, command != "deblur-streak")
        chain = warm_chain(tiny_prior.schedule, d.steps, d.strength, 0.02)
        # a patch prior's draws run one call each, a whole-image prior's as one batch; the natural look makes one
        draws = 1 if d.look == "natural" and command.startswith("inpaint") else d.samples
        assert len(infos) == len(chain) * (draws if by_tiles else 1) and {i["steps"] for i in infos} == {len(chain)}
        chains[by_tiles] = (len(chain), draws)
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
