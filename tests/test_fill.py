"""restore/fill.py: what an inpainting fills, marked as image editors mark it: a transparent region
(no mask), --box rectangles, a mask in any colour, --grow; through the API and the command line."""
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from skimage import data as skdata

import restore
from restore.cli import main
from restore.fill import check_boxes, fill_region, grow_fill
from restore.images import load_image
from restore.priors import UNet, UNetConfig, linear_schedule, save_prior


@pytest.fixture(scope="module")
def prior_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("prior") / "tiny.safetensors"
    save_prior(path, UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)), linear_schedule(), 8)
    return path


def _photo():
    return skdata.astronaut()[::16, ::16].copy()  # 32x32 RGB


def _erased(alpha_hole=0):
    """The photo with an object 'erased' to transparency (alpha 0) and a soft edge (alpha 128)."""
    rgba = np.dstack([_photo(), np.full((32, 32), 255, np.uint8)])
    rgba[8:16, 10:20, 3] = alpha_hole
    rgba[7, 10:20, 3] = 128  # a soft eraser's edge: not fully opaque, filled too
    rgba[8:16, 10:20, :3] = 0  # what an editor leaves under transparency
    return rgba


def run(prior_file, *args):
    return CliRunner().invoke(main, [*args, "--prior", str(prior_file), "--steps", "2"])


def test_transparency_is_the_mask_and_the_result_is_opaque(tiny_prior):
    """No mask: every pixel that is not fully opaque is filled, every opaque one comes back
    bit-identical, and the result has no alpha channel (numpy RGBA -> RGB, PIL RGBA -> RGB, LA -> L)."""
    rgba = _erased()
    opaque = rgba[..., 3] == 255
    out = restore.inpaint(rgba, prior=tiny_prior, steps=2, sigma_y=0.0)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.array_equal(out[opaque], rgba[..., :3][opaque])
    assert (out[~opaque] != 0).any(-1).mean() > 0.9  # the hole is filled, not left black
    pil = restore.inpaint(Image.fromarray(rgba), prior=tiny_prior, steps=2, sigma_y=0.0)
    assert pil.mode == "RGB" and np.array_equal(np.asarray(pil)[opaque], rgba[..., :3][opaque])
    la = Image.fromarray(np.dstack([rgba[..., 0], rgba[..., 3]]), "LA")
    gray = restore.inpaint(la, prior=tiny_prior, steps=2, sigma_y=0.0)
    assert gray.mode == "L" and np.array_equal(np.asarray(gray)[opaque], rgba[..., 0][opaque])
    with pytest.raises(ValueError, match="no pixel is transparent"):
        restore.inpaint(np.dstack([_photo(), np.full((32, 32), 255, np.uint8)]), prior=tiny_prior)
    with pytest.raises(ValueError, match="nothing to fill"):
        restore.inpaint(_photo(), prior=tiny_prior)
    # a mask given: the alpha channel is the image's, carried through unchanged
    fill = np.zeros((32, 32), bool)
    fill[2:5, 2:5] = True
    kept = restore.inpaint(rgba, fill, prior=tiny_prior, steps=2, sigma_y=0.0)
    assert kept.shape == (32, 32, 4) and np.array_equal(kept[..., 3], rgba[..., 3])


def test_the_command_line_fills_the_transparent_pixels(prior_file, tmp_path):
    rgba = _erased()
    Image.fromarray(rgba).save(tmp_path / "erased.png")
    r = run(prior_file, "inpaint", str(tmp_path / "erased.png"), "--sigma-y", "0")
    assert r.exit_code == 0, r.output
    out = Image.open(tmp_path / "erased_restored.png")
    assert out.mode == "RGB"
    opaque = rgba[..., 3] == 255
    assert np.array_equal(np.asarray(out)[opaque], rgba[..., :3][opaque])
    r = run(prior_file, "inpaint", str(tmp_path / "erased.png"), "-o", str(tmp_path / "erased.jpg"))
    assert r.exit_code == 0, r.output  # opaque: a JPEG can hold it
    Image.fromarray(_photo()).save(tmp_path / "plain.png")
    r = run(prior_file, "inpaint", str(tmp_path / "plain.png"))
    assert r.exit_code == 2 and "nothing to fill" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "plain_restored.png").exists()


def test_boxes_and_grow_mark_exactly_their_pixels():
    im = load_image(_photo())
    fill, same = fill_region(im, None, boxes=[(3, 5, 4, 2), (30, 0, 2, 32)])
    expected = np.zeros((32, 32), bool)
    expected[5:7, 3:7] = True
    expected[:, 30:32] = True
    assert same is im and np.array_equal(fill, expected)
    point = np.zeros((32, 32), bool)
    point[16, 16] = True
    rows, cols = np.mgrid[:32, :32]
    for n in (0, 1, 2, 5):
        assert np.array_equal(grow_fill(point, n), (rows - 16) ** 2 + (cols - 16) ** 2 <= n * n), n
    mask = np.zeros((32, 32), bool)
    mask[20, 20] = True
    fill, _ = fill_region(im, mask, boxes=[(0, 0, 1, 1)], grow=1)
    assert fill.sum() == 8 and fill[19:22, 20].all() and fill[20, 19:22].all() and fill[1, 0] and fill[0, 1]
    for bad in ((-1, 0, 2, 2), (0, 0, 0, 2), (31, 0, 2, 2), (0, 0, 2), (0.5, 0, 2, 2)):
        with pytest.raises(ValueError, match="box"):
            check_boxes([bad], 32, 32)
    with pytest.raises(ValueError, match="whole image once grown by 40 px"):
        fill_region(im, mask, grow=40)
    with pytest.raises(ValueError, match="grow"):
        fill_region(im, mask, grow=-1)


def test_box_and_grow_on_the_command_line(prior_file, tmp_path, monkeypatch):
    """--box X,Y,W,H (repeatable) and --grow N reach the restoration as exactly the pixels meant
    (the plan's observed pixels), added to a mask; only those change."""
    import restore.files as files

    seen = []
    make_plan = files.make_plan
    monkeypatch.setattr(files, "make_plan", lambda *a, **k: seen.append(a[2]["observed"][0].numpy().copy())
                        or make_plan(*a, **k))
    Image.fromarray(_photo()).save(tmp_path / "p.png")
    mask = np.zeros((32, 32), np.uint8)
    mask[25, 25] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    r = run(prior_file, "inpaint", str(tmp_path / "p.png"), str(tmp_path / "m.png"), "--box", "2,3,4,5",
            "--box", "10,0,1,1", "--grow", "1", "--sigma-y", "0", "-o", str(tmp_path / "o.png"))
    assert r.exit_code == 0, r.output
    expected = np.zeros((32, 32), bool)
    expected[3:8, 2:6] = True
    expected[0, 10] = True
    expected[25, 25] = True
    expected = grow_fill(expected, 1)
    assert len(seen) == 1 and np.array_equal(~seen[0], expected)
    out = np.asarray(Image.open(tmp_path / "o.png"))
    assert np.array_equal(out[~expected], _photo()[~expected])
    r = run(prior_file, "inpaint", str(tmp_path / "p.png"), "--box", "0,0,40,4", "-o", str(tmp_path / "b.png"))
    assert r.exit_code == 2 and "goes past the 32x32 image" in r.output and len(r.output.strip().splitlines()) == 1
    r = run(prior_file, "inpaint", str(tmp_path / "p.png"), "--box", "1,2,3", "-o", str(tmp_path / "b.png"))
    assert r.exit_code == 2 and "X,Y,WIDTH,HEIGHT" in r.output and len(r.output.strip().splitlines()) == 1


def test_a_red_stroke_on_an_rgb_mask_is_filled(prior_file, tmp_path, tiny_prior):
    """A mask in colour (a red stroke on black), in the API (array, PIL) and from a file; with
    --mask-keeps the same stroke marks what to keep."""
    photo = _photo()
    stroke = np.zeros((32, 32, 3), np.uint8)
    stroke[10:14, 4:28] = (220, 0, 0)
    fill = stroke.any(-1)
    Image.fromarray(stroke).save(tmp_path / "red.png")
    Image.fromarray(photo).save(tmp_path / "p.png")
    r = run(prior_file, "inpaint", str(tmp_path / "p.png"), str(tmp_path / "red.png"), "--sigma-y", "0")
    assert r.exit_code == 0, r.output
    out = np.asarray(Image.open(tmp_path / "p_restored.png"))
    assert np.array_equal(out[~fill], photo[~fill]) and (out[fill] != photo[fill]).any(-1).mean() > 0.5
    r = run(prior_file, "inpaint", str(tmp_path / "p.png"), str(tmp_path / "red.png"), "--mask-keeps", "--sigma-y", "0",
            "-o", str(tmp_path / "k.png"))
    assert r.exit_code == 0, r.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "k.png"))[fill], photo[fill])
    for mask in (stroke, Image.fromarray(stroke), torch.from_numpy(stroke).permute(2, 0, 1).float() / 255):
        out = restore.inpaint(photo, mask, prior=tiny_prior, steps=2, sigma_y=0.0)
        assert np.array_equal(out[~fill], photo[~fill])


def test_mask_options_without_a_mask_are_refused(prior_file, tmp_path):
    Image.fromarray(_erased()).save(tmp_path / "e.png")
    for flag in ("--mask-keeps", "--resize-mask"):
        r = run(prior_file, "inpaint", str(tmp_path / "e.png"), flag)
        assert r.exit_code == 2 and f"{flag} applies to a MASK file" in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "e_restored.png").exists()
