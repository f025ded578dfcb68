"""The whole-photo benchmark (lab.whole_photo): its holes, scores and interval, the
freeform track's masks, the SR baselines, and the configurations it parses."""
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as skdata


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


def test_whole_photo_configurations_parse_with_levels_and_solver_options():
    from lab.whole_photo import parse_config

    assert parse_config("ddrm:15:0.1:1") == {"method": "ddrm", "steps": 15, "strength": 0.1, "samples": 1,
                                             "look": "faithful"}
    assert parse_config("ddrm:1:noise:4:2")["levels"] == 2
    assert parse_config("ddrm:15:0.1:1:eta=0.5:look=natural") == {"method": "ddrm", "steps": 15, "strength": 0.1,
                                                                 "samples": 1, "look": "natural",
                                                                 "method_options": {"eta": 0.5}}
    with pytest.raises(SystemExit):
        parse_config("ddrm:15:eta=0.5")


def test_whole_photo_lpips_columns_from_files(tmp_path):
    """--lpips BACKBONE,LINEAR: random weights in the two files' layouts give an `lpips` column and,
    for a fill, `lpips_hole`; a bad pair of files or a rows.csv without the columns is a one-line exit."""
    from lab.whole_photo import FIELDS, LPIPS_FIELDS, holes, lpips_option, scores
    from restore.benchmarks.lpips import lpips, lpips_in
    from _helpers import lpips_files, smooth_photo

    bb, lin = lpips_files(tmp_path)
    net, fields = lpips_option(f"{bb},{lin}", tmp_path / "rows.csv")
    assert fields == FIELDS + LPIPS_FIELDS and lpips_option(None, tmp_path / "rows.csv") == (None, FIELDS)
    x = smooth_photo(0, 160)
    fill = holes("x.jpg", 160, 160, lo=32, hi=48)
    est = np.where(fill[..., None], 0.5, x)
    s = scores(x, est, fill, perceptual=False, lpips_net=net)
    assert s["lpips"] == lpips(est, x, net) and s["lpips_hole"] == lpips_in(est, x, net, fill) > s["lpips"] > 0
    assert "lpips_hole" not in scores(x, est, np.ones_like(fill), perceptual=False, lpips_net=net)
    for spec, match in ((f"{bb}", "two files"), (f"{lin},{bb}", "no features.0.weight")):
        with pytest.raises(SystemExit, match=match):
            lpips_option(spec, tmp_path / "rows.csv")
    (tmp_path / "rows.csv").write_text(",".join(FIELDS) + "\n")
    with pytest.raises(SystemExit, match="no lpips column"):
        lpips_option(f"{bb},{lin}", tmp_path / "rows.csv")


def test_whole_photo_grid_crops_a_row_per_hole(tmp_path):
    """--grid-crops: one row per hole box (16 px around it), at full size, the holes grey first,
    each configuration's saved result, the photo itself last."""
    from lab.whole_photo import fill_mask, grid
    from restore.starts import hole_regions

    x = np.ascontiguousarray(skdata.astronaut()[:200, :300])
    Image.fromarray(x).save(tmp_path / "p.png")
    (tmp_path / "a").mkdir()
    Image.fromarray(255 - x).save(tmp_path / "a" / "p.png")
    grid(tmp_path, [tmp_path / "p.png"], ["a"], tmp_path / "g.jpg", crops=True)
    boxes = hole_regions(fill_mask("holes", "p.png", 200, 300), 16)
    im = np.asarray(Image.open(tmp_path / "g.jpg"))
    assert im.shape[0] == sum(h + 4 for _, _, h, _ in boxes)
    assert im.shape[1] == max(3 * (w + 4) for _, _, _, w in boxes)
    top, left, h, w = boxes[0]
    last = im[2: 2 + h, 2 * (w + 4) + 2: 2 * (w + 4) + 2 + w].astype(float)  # the photo's crop, JPEG-coded
    assert np.abs(last - x[top: top + h, left: left + w]).mean() < 8
    assert np.abs(last - (255 - x[top: top + h, left: left + w])).mean() > 50
