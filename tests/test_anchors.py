"""The classical anchors of issue 32 (restore.benchmarks.baselines; the `anchors` extra): real
properties on small images where their packages are installed (.ci/run installs them and checks
that these tests run), a skip where not, and the one-line error naming the extra either way."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from restore.benchmarks import baselines
from restore.benchmarks.baselines import BASELINES, MissingExtra, run_baseline
from restore.benchmarks.tasks import Case

FILLS = ("telea", "navier_stokes", "fsr_fast", "fsr_best", "patchmatch")


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).permute(2, 0, 1)[None]


def _psnr(a, b) -> float:
    return float(10 * np.log10(1 / np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def _textured(h: int = 48, w: int = 48) -> np.ndarray:
    """(h, w, 3) on [0.15, 0.85]: stripes, a ramp and a disc, different in each channel."""
    i, j = np.mgrid[:h, :w].astype(np.float64)
    disc = ((i - h / 2) ** 2 + (j - w / 3) ** 2 < (h / 5) ** 2).astype(np.float64)
    return np.stack([0.5 + 0.25 * np.sin(j / 2.5) * (j < w / 2) + 0.1 * disc,
                     0.3 + 0.4 * i / h,
                     0.5 + 0.2 * np.cos((i + j) / 4) - 0.15 * disc], -1).clip(0.15, 0.85)


def _needs(module: str):
    pytest.importorskip(module.split(".")[0])
    return pytest.importorskip(module)


def _need_for(name: str):
    _needs({"fsr_fast": "cv2", "fsr_best": "cv2", "telea": "cv2", "navier_stokes": "cv2",
            "patchmatch": "patchmatch.patch_match"}[name])


def test_anchors_are_named_only():
    """The anchors never run by default (bench's baselines), and every one has its docstring's paper."""
    from restore.benchmarks.bench import Suite

    anchors = {"bm3d", "bm3d_deblur", "lanczos", *FILLS}
    assert anchors == {n for n, b in BASELINES.items() if b.anchor}
    assert not anchors & set(Suite.__dataclass_fields__["baselines"].default)


@pytest.mark.parametrize("name,module", [("bm3d", "bm3d"), ("bm3d_deblur", "bm3d"), ("telea", "cv2"),
                                         ("fsr_best", "cv2"), ("patchmatch", "patchmatch.patch_match")])
def test_missing_package_is_one_line(monkeypatch, name, module):
    for m in {module, module.split(".")[0]}:
        monkeypatch.setitem(sys.modules, m, None)  # import fails as if not installed
    x = _textured(16, 16)
    task = {"bm3d": "denoise", "bm3d_deblur": "gauss"}.get(name, "box")
    mask = np.ones((16, 16, 1))
    mask[4:8, 4:8] = 0
    from restore.operators import parse_kernel

    p = Case(task, 0.05, _t(x), None, _t(x * mask), "t", mask=_t(mask), kernel=parse_kernel("gaussian:1.0"))
    with pytest.raises(MissingExtra) as e:
        run_baseline(name, p)
    msg = str(e.value)
    assert "\n" not in msg and "restore[anchors]" in msg and name in msg


# bm3d's hard-thresholding stage costs about 1.5 s on any image, however small: one grey image each
# here; the colour paths (three channels, the opponent colour space) are marked slow and run by .ci/run


@pytest.mark.parametrize("channels", [1, pytest.param(3, marks=pytest.mark.slow)])
def test_bm3d_denoises(channels):
    _needs("bm3d")
    x = _textured(32, 32)[..., :channels]
    y = np.round(np.clip(x + 0.1 * np.random.default_rng(0).standard_normal(x.shape), 0, 1) * 255) / 255
    est, value = run_baseline("bm3d", Case("denoise", 0.1, _t(x), None, _t(y), "t"))
    assert value == 1.0 and est.shape == (1, channels, 32, 32) and est.dtype == torch.float32
    est = est[0].permute(1, 2, 0).numpy()
    assert _psnr(est, x) > _psnr(y, x) + 6  # measured +13.5 (grey) and +11.1 dB (colour)


@pytest.mark.parametrize("channels", [1, pytest.param(3, marks=pytest.mark.slow)])
def test_bm3d_deblurs(channels):
    _needs("bm3d")
    from lab.whole_photo import degrade

    x = _textured(40, 40)
    p = degrade(x, "deblur", 0.01, "t")  # the whole-photo task's gaussian:3.0 blur, 8-bit y
    p.x, p.y = p.x[:, :channels], p.y[:, :channels]
    est, _ = run_baseline("bm3d_deblur", p)
    assert est.shape == p.x.shape
    assert _psnr(est, p.x) > _psnr(p.y, p.x) + 3  # measured +6.4 (grey) and +6.0 dB (colour)


@pytest.mark.parametrize("name", FILLS)
def test_fill_keeps_observed_pixels_and_beats_zero(name):
    _need_for(name)
    x = _textured()
    mask = np.ones((48, 48, 1))
    mask[18:28, 20:32] = 0
    y = x * mask
    est, _ = run_baseline(name, Case("box", 0.0, _t(x), None, _t(y), "t", mask=_t(mask)))
    est = est[0].permute(1, 2, 0).double().numpy()
    known = mask[..., 0] > 0.5
    assert np.abs(est[known] - x[known]).max() < 1e-6  # every observed pixel as it was (float32)
    hole = ~known
    assert _psnr(est[hole], x[hole]) > _psnr(0 * x[hole], x[hole]) + 10


@pytest.mark.parametrize("name", FILLS)
def test_fill_keeps_colour_order_and_range(name):
    """A red image with a hole is filled red on [0, 1] (OpenCV's BGR order is undone)."""
    _need_for(name)
    x = np.zeros((32, 32, 3))
    x[..., 0] = 0.9
    x[..., 1] = np.linspace(0.0, 0.2, 32)[None]
    mask = np.ones((32, 32, 1))
    mask[10:20, 12:22] = 0
    est, _ = run_baseline(name, Case("box", 0.0, _t(x), None, _t(x * mask), "t", mask=_t(mask)))
    hole = est[0, :, 10:20, 12:22]
    assert hole[0].min() > 0.85 and hole[2].max() < 0.05 and hole[1].max() < 0.25


def test_whole_photo_runs_anchors_by_name():
    _needs("cv2")
    from lab.whole_photo import restore_one

    x = _textured(40, 40)
    fill = np.zeros((40, 40), bool)
    fill[10:20, 15:30] = True
    est = restore_one(x, fill, "telea@5", None)
    assert est.shape == x.shape and np.allclose(est[~fill], x[~fill], atol=1e-6)


def test_lanczos_keeps_a_constant_and_runs_in_whole_photo():
    from lab.whole_photo import super_resolve_one

    y = np.full((1, 3, 8, 10), 0.3)
    x = np.zeros((1, 3, 32, 40))
    est, _ = run_baseline("lanczos", Case("sr4", 0.0, torch.from_numpy(x), None, torch.from_numpy(y), "t", scale=4))
    assert est.shape == (1, 3, 32, 40) and torch.allclose(est, torch.full_like(est, 0.3), atol=1e-5)
    photo = _textured(32, 40)
    out = super_resolve_one(photo, "lanczos", None)
    assert out.shape == photo.shape and _psnr(out, photo) > 15


def test_trapz_is_lent_only_for_the_call():
    had = hasattr(np, "trapz")
    with baselines._trapz():
        assert hasattr(np, "trapz")
    assert hasattr(np, "trapz") == had


def test_anchors_table_margins_are_reference_minus_config(tmp_path):
    from lab.anchors_table import table
    from lab.whole_photo import FIELDS, append_row

    path = tmp_path / "rows.csv"
    for i, (ours, theirs) in enumerate([(30.0, 29.0), (31.0, 29.5), (32.0, 31.2)]):
        for cfg, v in (("ours", ours), ("bm3d@1", theirs)):
            append_row(path, FIELDS, {"image": f"{i}.png", "config": cfg, "psnr_hole": v, "seconds": 2.0,
                                      "megapixels": 0.5})
    lines = table(path, "ours", ["ours", "bm3d@1"]).splitlines()
    assert lines[2].startswith("| ours | 3 | 31.00 |  | 4.0 |")
    assert lines[3].startswith("| bm3d@1 | 3 | 29.90 | +1.10 (")


def test_anchors_table_over_replaces_the_configurations_it_holds(tmp_path):
    """--over: the reference rerun (another prior) replaces its rows; the anchors' rows stay."""
    from lab.anchors_table import table
    from lab.whole_photo import FIELDS, append_row

    path, over = tmp_path / "rows.csv", tmp_path / "over.csv"
    for i, (ours, theirs, new) in enumerate([(30.0, 29.0, 30.5), (31.0, 29.5, 31.5), (32.0, 31.2, 32.5)]):
        for p, cfg, v in ((path, "ours", ours), (path, "bm3d@1", theirs), (over, "ours", new)):
            append_row(p, FIELDS, {"image": f"{i}.png", "config": cfg, "psnr_hole": v, "seconds": 2.0,
                                   "megapixels": 0.5})
    lines = table(path, "ours", ["ours", "bm3d@1"], over=over).splitlines()
    assert lines[2].startswith("| ours | 3 | 31.50 |  |")
    assert lines[3].startswith("| bm3d@1 | 3 | 29.90 | +1.60 (")
