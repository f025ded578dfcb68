"""restore.plan: a run's choices resolved once, and read (not re-derived) by the layers below."""
import ast
from pathlib import Path

import numpy as np
import pytest
import torch

import restore
from restore.defaults import (DEFAULTS, NATURAL_DENOISE_KEEP, NATURAL_DRAW_SHARE, NO_SVD_BLUR_DEFAULT, SMALL_HOLES_DEFAULT,
                              TILED_DEFAULTS)
from restore.operators import gaussian_kernel, motion_kernel
from restore.plan import COMMANDS, make_plan, observed_pixels
from restore.priors import UNet, UNetConfig, linear_schedule, load_prior, save_prior

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prior8(tmp_path_factory):
    """A patch prior of 8 x 8 pixels (random weights): tiled on anything larger."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("prior") / "tiny.safetensors"
    save_prior(path, UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)), linear_schedule(), 8)
    return load_prior(path)


def _observed(h, w, box):
    fill = np.zeros((h, w), bool)
    t, l, bh, bw = box
    fill[t:t + bh, l:l + bw] = True
    return observed_pixels(fill)


def test_defaults_follow_whether_the_prior_runs_by_tiles(prior8):
    big = (1, 3, 24, 24)
    for command, task in [("sr", {"scale": 2}), ("denoise", {}), ("deblur", {"kernel": gaussian_kernel(5, 1.0)})]:
        small = (1, 3, 4, 4) if command == "sr" else (1, 3, 8, 8)  # sr's x: 8 x 8
        tiled, whole = make_plan(command, prior8, task, big), make_plan(command, prior8, task, small)
        assert tiled.tiled and not whole.tiled
        d_tiled, d_whole = TILED_DEFAULTS[command], DEFAULTS[command]
        assert (tiled.steps, tiled.samples, tiled.strength) == (d_tiled.steps, d_tiled.samples, d_tiled.strength)
        assert (whole.steps, whole.samples, whole.strength) == (d_whole.steps, d_whole.samples, d_whole.strength)
        assert "auto" not in (tiled.method, whole.method)
    # sr's x is scale times y: a 5x5 observation is a 10x10 image, larger than the 8-pixel prior
    assert make_plan("sr", prior8, {"scale": 2}, (1, 3, 5, 5)).tiled
    k = motion_kernel(9, 0.5, generator=torch.Generator().manual_seed(0))
    shake = make_plan("deblur", prior8, {"kernel": k, "boundary": "reflect"}, big)  # a mirrored border: no SVD
    assert (shake.method, shake.steps, shake.strength) == ("pigdm", NO_SVD_BLUR_DEFAULT.steps, NO_SVD_BLUR_DEFAULT.strength)
    periodic = make_plan("deblur", prior8, {"kernel": k}, big)  # the default for it: periodic, the FFT's SVD
    d = TILED_DEFAULTS["deblur"]
    assert (periodic.method, periodic.steps, periodic.samples, periodic.pad > 0) == ("ddrm", d.steps, d.samples, True)


def test_inpainting_regions_and_small_holes(prior8):
    task = {"observed": _observed(40, 40, (2, 3, 1, 2))}
    whole = make_plan("inpaint", prior8, {"observed": _observed(8, 8, (2, 3, 1, 2))}, (1, 3, 8, 8))
    assert whole.samples == SMALL_HOLES_DEFAULT.samples and whole.steps == SMALL_HOLES_DEFAULT.steps
    boxed = make_plan("inpaint", prior8, task, (1, 3, 40, 40), margin=4, keep_observed=True)
    assert [box for box, _ in boxed.regions] == [(0, 0, 7, 9)]  # the hole plus 4 pixels, clipped at the border
    assert boxed.regions[0][1] is True and boxed.keep_observed
    assert make_plan("inpaint", prior8, task, (1, 3, 40, 40)).regions == ((None, True),)
    # the operator of a box sees that box's mask
    op = boxed.operator((0, 0, 7, 9))
    assert tuple(op.mask.shape[-2:]) == (7, 9) and op.mask[0, 0, 2, 3] == 0 and op.mask[0, 0, 0, 0] == 1


def test_the_look_is_resolved_once(prior8):
    """A fill of a photo (the prior by tiles) looks natural by default: one draw, with the ring's
    grain; faithful keeps the mean of the default's draws; an uncertainty map keeps the draws it
    needs; a photo's denoising, deblurring and sr are natural too (the mean of the default's draws,
    with some noise kept or moved toward one draw); a prior that sees the whole image is faithful
    by default."""
    task = {"observed": _observed(40, 40, (10, 10, 12, 12))}
    d = TILED_DEFAULTS["inpaint"]
    natural = make_plan("inpaint", prior8, task, (1, 3, 40, 40), margin=4)
    assert (natural.look, natural.samples, natural.grain) == ("natural", 1, True) and d.look == "natural"
    faithful = make_plan("inpaint", prior8, task, (1, 3, 40, 40), margin=4, look="faithful")
    assert (faithful.look, faithful.samples, faithful.grain) == ("faithful", d.samples, False)
    mapped = make_plan("inpaint", prior8, task, (1, 3, 40, 40), margin=4, return_std=True)
    assert (mapped.look, mapped.samples, mapped.grain) == ("natural", d.samples, True)
    assert make_plan("inpaint", prior8, task, (1, 3, 40, 40), samples=5).samples == 5
    whole = make_plan("inpaint", prior8, {"observed": _observed(8, 8, (2, 2, 4, 4))}, (1, 3, 8, 8))
    assert (whole.look, whole.grain) == ("faithful", False)
    assert make_plan("inpaint", prior8, {"observed": _observed(8, 8, (2, 2, 4, 4))}, (1, 3, 8, 8),
                     look="natural").grain is False  # one draw; grain only for a patch prior's fill
    for command, t in [("sr", {"scale": 2}), ("denoise", {}), ("deblur", {"kernel": gaussian_kernel(5, 1.0)})]:
        p = make_plan(command, prior8, t, (1, 3, 24, 24), look="faithful")
        assert (p.look, p.grain, p.samples, p.keep_noise, p.draw_share) == \
            ("faithful", False, TILED_DEFAULTS[command].samples, 0, 0)
        natural = make_plan(command, prior8, t, (1, 3, 24, 24), look="natural")
        assert make_plan(command, prior8, t, (1, 3, 24, 24)) == natural  # a photo's default
        assert natural.samples == TILED_DEFAULTS[command].samples  # the default's draws, not one
        if command == "denoise":  # the mean of the default's draws with some of the photo's noise kept
            assert (natural.keep_noise, natural.draw_share) == (NATURAL_DENOISE_KEEP, 0) and 0 < NATURAL_DENOISE_KEEP < 1
        else:  # the mean moved part of the way toward the first draw
            assert (natural.keep_noise, natural.draw_share) == (0, NATURAL_DRAW_SHARE) and 0 < NATURAL_DRAW_SHARE < 1
    with pytest.raises(ValueError, match="look must be one of faithful, natural"):
        make_plan("denoise", prior8, {}, (1, 3, 24, 24), look="pretty")


def test_a_plan_refuses_what_cannot_run(prior8):
    big = (1, 3, 24, 24)
    with pytest.raises(ValueError, match="at least 2 draws"):
        make_plan("deblur", prior8, {"kernel": motion_kernel(9, 0.5, generator=torch.Generator().manual_seed(0)),
                                     "boundary": "reflect"}, big, return_std=True)  # that default makes one draw
    assert make_plan("denoise", prior8, {}, big, return_std=True).samples >= 2
    for strength in (0, 1.5, "warm"):
        with pytest.raises(ValueError, match="strength"):
            make_plan("denoise", prior8, {}, big, strength=strength)
    assert make_plan("denoise", prior8, {}, big, strength="0.5").strength == 0.5
    with pytest.raises(ValueError, match="warm start"):
        make_plan("denoise", prior8, {}, big, strength=1, levels=2)
    with pytest.raises(ValueError, match="unknown command"):
        make_plan("colorize", prior8, {}, big)
    with pytest.raises(ValueError, match="margin"):
        make_plan("inpaint", prior8, {"observed": _observed(24, 24, (2, 2, 3, 3))}, big, margin=-1)


def test_workers_are_asked_for_not_taken(prior8):
    big = (1, 3, 24, 24)
    assert make_plan("denoise", prior8, {}, big).workers == 1  # a library call runs in its own process
    assert make_plan("denoise", prior8, {}, big, workers=3).workers == 3
    assert make_plan("denoise", prior8, {}, big, workers=0).workers >= 1  # the command line's "every core"


def test_commands_name_their_operator_and_estimate():
    assert set(COMMANDS) == set(DEFAULTS) == {"inpaint", "deblur", "sr", "denoise"}
    assert all(c.name == name and c.estimate for name, c in COMMANDS.items())
    assert COMMANDS["sr"].operator({"scale": 3}).x_shape_of((1, 3, 4, 5)) == (1, 3, 12, 15)


def _calls(path: Path, name: str) -> int:
    tree = ast.parse(path.read_text())
    return sum(isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == name
               for n in ast.walk(tree))


def test_tiled_or_not_is_answered_in_one_place():
    """Outside the tiling module itself, only the plan asks whether a prior runs by tiles."""
    callers = {p.relative_to(ROOT).as_posix() for folder in ("restore", "priors", "operators")
               for p in (ROOT / folder).rglob("*.py") if _calls(p, "runs_by_tiles")}
    assert callers == {"restore/plan.py", "priors/tiling.py"}


def test_library_defaults_are_the_plans(prior8):
    """restore.denoise with no options runs the plan's defaults (the NFE the callback sees)."""
    seen = []
    img = np.random.default_rng(0).uniform(0.2, 0.8, (24, 24, 3))
    restore.denoise(img, prior=prior8, sigma_y=0.05, callback=seen.append)
    plan = make_plan("denoise", prior8, {}, (1, 3, 24, 24))
    assert len(seen) == plan.samples * plan.steps
