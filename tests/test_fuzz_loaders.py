"""Property-based tests of the image, mask and kernel loaders against hostile files.

Every case ends in either a ValueError with a one-line message or a result that is right (finite,
on [0, 1], of the declared size; for an untouched lossless file, exactly its pixels), within a
per-case time limit. The default suite runs a sample; `-m slow` runs thousands per loader and
prints how many ran (benchmarks/notes/reliability.md).
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from _hostile import (FORMATS, LOSSLESS, encode, mutate, npy_bytes, npy_header_only, one_line_error,
                      png_with_size, tiff_float, time_limit)
from restore import operators
from restore import images
from restore.files import _read_checked
from restore.fill import fill_region, fit_mask, read_mask
from restore.operators.kernels import MAX_KERNEL_SIDE, load_kernel

LIMIT = 4096  # --max-pixels in these cases: any declared size above it must be refused unread
CASE_SECONDS = 10
FAST, SLOW = 70, 2000  # cases per loader: default suite (210 in all), -m slow
COUNTS: dict[str, int] = {}
_DIR = Path(tempfile.mkdtemp(prefix="restore-fuzz-"))
atexit.register(shutil.rmtree, _DIR, True)


def _write(name: str, data: bytes) -> Path:
    p = _DIR / name
    p.write_bytes(data)
    return p


def _rng_array(seed: int, shape, dtype=np.uint8) -> np.ndarray:
    g = np.random.default_rng(seed)
    hi = 65536 if dtype == np.uint16 else 256
    return g.integers(0, hi, shape).astype(dtype)


MODES = {"L": ((), np.uint8), "RGB": ((3,), np.uint8), "RGBA": ((4,), np.uint8), "I;16": ((), np.uint16)}


@st.composite
def image_files(draw):
    """(kind, file name, bytes, expected (C, H, W) on [0, 1] or None, must_fail)."""
    kind = draw(st.sampled_from(["random", "valid", "mutated", "bomb", "zero", "float"]))
    ext = draw(st.sampled_from(sorted(FORMATS)))
    if kind == "random":
        return kind, f"r.{ext}", draw(st.binary(max_size=4096)), None, False
    if kind in ("valid", "mutated"):
        h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
        mode = draw(st.sampled_from(sorted(MODES)))
        extra, dtype = MODES[mode]
        a = _rng_array(draw(st.integers(0, 2**16)), (h, w, *extra), dtype)
        try:
            data = encode(a, ext, mode if mode == "I;16" else None)
        except (OSError, KeyError, ValueError, TypeError):
            assume(False)  # the format cannot hold this mode
        if kind == "mutated":
            how = draw(st.sampled_from(["truncate", "flip", "insert"]))
            return kind, f"m.{ext}", mutate(data, how, draw(st.floats(0, 1)), draw(st.integers(0, 255))), None, False
        expected = None
        if ext in LOSSLESS and mode != "I;16":
            f = a.astype(np.float64) / 255
            f = f[..., :3] if f.ndim == 3 else f[..., None]
            expected = torch.from_numpy(f).permute(2, 0, 1)
        return kind, f"v.{ext}", data, expected, False
    if kind == "bomb":
        w = draw(st.integers(1, 2**31 - 1))
        h = draw(st.integers(LIMIT // w + 1, 2**31 - 1))
        return kind, "bomb.png", png_with_size(w, h), None, True
    if kind == "zero":
        w, h = draw(st.sampled_from([(0, 5), (5, 0), (0, 0)]))
        return kind, "zero.png", png_with_size(w, h), None, True
    h, w = draw(st.integers(1, 16)), draw(st.integers(1, 16))
    g = np.random.default_rng(draw(st.integers(0, 2**16)))
    a = g.uniform(0, 1, (h, w))
    bad = draw(st.sampled_from(["none", "nan", "inf", "-inf", "range"]))
    if bad != "none":
        a[g.integers(h), g.integers(w)] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "range": 7.5}[bad]
    expected = torch.from_numpy(a.astype(np.float32).astype(np.float64))[None] if bad == "none" else None
    return kind, "f.tif", tiff_float(a), expected, bad != "none"


def _check_image(case):
    kind, name, data, expected, must_fail = case
    p = _write(name, data)
    COUNTS["image"] = COUNTS.get("image", 0) + 1
    try:
        with time_limit(CASE_SECONDS):
            x = images.load_image(_read_checked(p, LIMIT)).x
    except ValueError as e:
        assert one_line_error(str(e)) and str(p) in str(e), repr(e)
        assert expected is None, f"a valid {name} was refused: {e}"
        return
    assert not must_fail, f"{kind} {name} was accepted"
    assert x.ndim == 3 and x.shape[0] in (1, 3) and 1 <= x.shape[1] * x.shape[2] <= LIMIT
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    if expected is not None:
        assert x.shape == expected.shape and torch.equal(x, expected), name


@st.composite
def mask_files(draw):
    """(name, bytes, must_fail): image masks, .npy masks of random dtype and values, hostile files."""
    kind = draw(st.sampled_from(["random", "image", "mutated", "npy", "npy-huge", "bomb"]))
    if kind == "random":
        return f"m.{draw(st.sampled_from(['png', 'npy', 'jpg']))}", draw(st.binary(max_size=2048)), False
    if kind == "bomb":
        return "m.png", png_with_size(draw(st.integers(100, 2**31 - 1)), draw(st.integers(100, 2**31 - 1))), True
    if kind == "npy-huge":
        shape = (draw(st.integers(70, 2**20)), draw(st.integers(70, 2**20)))
        return "m.npy", npy_header_only(shape, draw(st.sampled_from(["<f8", "|u1", "|b1"])), b"\0" * 64), True
    h, w = draw(st.sampled_from([(16, 16), (16, 16), (8, 16), (16, 17)]))
    g = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "npy":
        dtype = draw(st.sampled_from(["bool", "uint8", "float64", "float32", "int64", "complex64"]))
        a = (g.uniform(-0.5, 1.5, (h, w)) if dtype.startswith(("float", "complex")) else g.integers(0, 2, (h, w))).astype(dtype)
        if dtype.startswith("float") and draw(st.booleans()):
            a[0, 0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        shape = draw(st.sampled_from(["2d", "3d", "1d"]))
        a = a[None] if shape == "3d" else (a.ravel() if shape == "1d" else a)
        return "m.npy", npy_bytes(a), False
    a = (g.integers(0, 2, (h, w)) * 255).astype(np.uint8)
    a[0, 0], a[-1, -1] = 0, 255
    data = encode(a, draw(st.sampled_from(["png", "bmp", "tif"])))
    if kind == "mutated":
        data = mutate(data, draw(st.sampled_from(["truncate", "flip", "insert"])), draw(st.floats(0, 1)),
                      draw(st.integers(0, 255)))
    return "m.png", data, False


def _check_mask(case):
    name, data, must_fail = case
    p = _write(name, data)
    COUNTS["mask"] = COUNTS.get("mask", 0) + 1
    try:
        with time_limit(CASE_SECONDS), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # grey masks warn (thresholded at 0.5); not an error
            # as the file layer reads a mask (restore.files._inpaint_fill): read, fitted, checked
            fill, _ = fill_region(images.load_image(np.zeros((16, 16), np.uint8)),
                                  fit_mask(read_mask(p, max_pixels=LIMIT), p, (16, 16)))
    except ValueError as e:
        assert one_line_error(str(e)), repr(e)
        return
    assert not must_fail, name
    assert fill.shape == (16, 16) and fill.dtype == bool and fill.any() and not fill.all()


@st.composite
def kernel_inputs(draw):
    """('spec', string) for parse_kernel or ('file', name, bytes) for load_kernel; must_fail last."""
    kind = draw(st.sampled_from(["spec", "npy", "npy-huge", "npz", "png", "random"]))
    num = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**12, 10**12),
                    st.sampled_from(["x", "", "1e400", "nan", "-0", "3"]))
    if kind == "spec":
        name = draw(st.sampled_from(["gaussian", "motion", "uniform", "box", ""]))
        parts = [str(draw(num)) for _ in range(draw(st.integers(0, 3)))]
        return "spec", ":".join([name, *parts]), False
    if kind == "npy-huge":
        side = draw(st.integers(MAX_KERNEL_SIDE + 1, 2**24))
        return "file", "k.npy", npy_header_only((side, draw(st.integers(1, side))), "<f8", b"\0" * 80), True
    if kind == "random":
        return "file", f"k.{draw(st.sampled_from(['npy', 'npz', 'png', 'tif']))}", draw(st.binary(max_size=2048)), False
    g = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = draw(st.sampled_from([(5, 5), (3, 7), (1, 1), (0, 3), (4,), (2, 2, 2)]))
    a = g.uniform(-0.2, 1, shape)
    if a.size and draw(st.booleans()):
        a.flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 0.0]))
    if kind == "png":
        img = (np.clip(a if a.ndim == 2 and a.size else np.ones((3, 3)), 0, 1) * 255).astype(np.uint8)
        return "file", "k.png", encode(img, "png"), False
    if kind == "npz":
        import io

        buf = io.BytesIO()
        np.savez(buf, k=a.astype(draw(st.sampled_from(["float64", "float32", "int8", "complex128"]))))
        return "file", "k.npz", buf.getvalue(), False
    return "file", "k.npy", npy_bytes(a), False


def _check_kernel(case):
    COUNTS["kernel"] = COUNTS.get("kernel", 0) + 1
    try:
        with time_limit(CASE_SECONDS):
            if case[0] == "spec":
                k = operators.parse_kernel(case[1])
            else:
                k = load_kernel(_write(case[1], case[2]))
    except ValueError as e:
        assert one_line_error(str(e)), repr(e)
        return
    assert not case[-1], case[:2]
    assert k.ndim == 2 and max(k.shape) <= MAX_KERNEL_SIDE and k.dtype == torch.float64
    assert torch.isfinite(k).all() and (k >= 0).all() and abs(float(k.sum()) - 1) < 1e-9


_HC = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]


@pytest.mark.parametrize("n", [FAST, pytest.param(SLOW, marks=pytest.mark.slow)])
def test_loaders_fuzzed(capsys, n):
    """n cases per loader (image, mask, kernel): FAST (a fixed sample, derandomized) in the default
    suite, SLOW (fresh random cases) with -m slow; prints how many ran of each."""
    COUNTS.clear()
    for strategy, check in [(image_files(), _check_image), (mask_files(), _check_mask), (kernel_inputs(), _check_kernel)]:
        settings(max_examples=n, deadline=None, suppress_health_check=_HC, database=None,
                 derandomize=n == FAST)(given(strategy)(check))()
    with capsys.disabled():
        print(f"\nfuzzed loader cases: {COUNTS}")
    assert all(COUNTS.get(k, 0) >= n for k in ("image", "mask", "kernel")), COUNTS


def test_known_hostile_files():
    """The cases named in the issue, one by one (not left to chance)."""
    png = encode(_rng_array(0, (20, 20, 3)), "png")
    cases = {
        "truncated.png": png[: len(png) // 2], "truncated.jpg": encode(_rng_array(0, (20, 20, 3)), "jpg")[:300],
        "truncated.tif": encode(_rng_array(0, (20, 20)), "tif")[:150], "bomb.png": png_with_size(200000, 200000),
        "zero.png": png_with_size(0, 10), "nan.tif": tiff_float(np.full((4, 4), np.nan)),
        "inf.tif": tiff_float(np.full((4, 4), np.inf)), "random.png": bytes(range(256)) * 4,
    }
    for name, data in cases.items():
        with pytest.raises(ValueError) as e:
            images.load_image(_read_checked(_write(name, data), 64_000_000))
        assert one_line_error(str(e.value)), name
    for name, data in {"nan.npy": npy_bytes(np.array([[np.nan, 1.0], [1, 1]])), "inf.npy": npy_bytes(np.full((3, 3), np.inf)),
                       "huge.npy": npy_header_only((100_000, 100_000))}.items():
        with pytest.raises(ValueError, match="NaN or infinite|limit"):
            load_kernel(_write(name, data))
    for spec in ["gaussian:inf", "gaussian:1e9", "uniform:100000", "gaussian:nan"]:
        with pytest.raises(ValueError, match="bad kernel|limit"):
            operators.parse_kernel(spec)
