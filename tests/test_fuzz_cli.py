"""Property-based tests of the command line's argument handling, in-process (click's CliRunner,
a per-case time limit) and a few cases as real subprocesses.

Arguments are drawn from valid and hostile values (files: truncated, random bytes, bombs, NaN
TIFFs, zero-size, masks of the wrong size, NaN and huge kernels; numbers: 0, negative, NaN, huge,
not numbers). Every case ends in exit code 0 with a right output file, or exit code 2 with one
error line and nothing written; never a traceback (exit 1) or a hang.
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from skimage import data as skdata

from _hostile import encode, npy_bytes, npy_header_only, png_with_size, tiff_float, time_limit
from restore.cli import main
from restore.priors import UNet, UNetConfig, linear_schedule, save_prior

CASE_SECONDS = 30
# restoration cases (and a quarter as many others): default, -m slow. FAST: 100 cases, 54 run and 46
# refused, 5.9 s on 2 shared cores (9.8 s there before the cases ran one tile worker: --workers below)
FAST, SLOW = 80, 1000
COUNTS = {"cases": 0, "ok": 0, "refused": 0}


def _pool() -> Path:
    d = Path(tempfile.mkdtemp(prefix="restore-cli-fuzz-"))
    torch.manual_seed(0)
    save_prior(d / "tiny.safetensors", UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)),
               linear_schedule(), 8)
    astro = skdata.astronaut()[::32, ::32]  # 16x16 RGB
    files = {
        "rgb.png": encode(astro, "png"), "gray.jpg": encode(astro[..., 0], "jpg"),
        "rgba.png": encode(np.dstack([astro, astro[..., :1]]), "png"),
        "f.tif": tiff_float(astro[..., 0] / 255.0), "nan.tif": tiff_float(np.where(astro[..., 0] > 100, np.nan, 0.5)),
        "trunc.png": encode(astro, "png")[:120], "random.jpg": bytes(np.random.default_rng(0).integers(0, 256, 900, dtype=np.uint8)),
        "bomb.png": png_with_size(100_000, 100_000), "zero.png": png_with_size(0, 16),
        "mask.png": encode(np.pad(np.full((6, 6), 255, np.uint8), 5), "png"),
        "mask_small.png": encode(np.pad(np.full((2, 2), 255, np.uint8), 3), "png"),
        "mask_empty.png": encode(np.zeros((16, 16), np.uint8), "png"),
        "k.npy": npy_bytes(np.ones((3, 3))), "knan.npy": npy_bytes(np.array([[1, np.nan], [1, 1]])),
        "khuge.npy": npy_header_only((10**6, 10**6)), "evil.pt": b"\x80\x04\x95" + bytes(40),
        "data.npz": b"", "junk.npz": b"PK\x03\x04 not a zip",
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
    np.savez(d / "data.npz", images=np.random.default_rng(0).integers(0, 256, (16, 8, 8), dtype=np.uint8))
    return d


POOL = _pool()
atexit.register(shutil.rmtree, POOL, True)
IMAGES = ["rgb.png", "gray.jpg", "rgba.png", "f.tif", "nan.tif", "trunc.png", "random.jpg", "bomb.png", "zero.png",
          "missing.png"]
GOOD = {"rgb.png", "gray.jpg", "rgba.png", "f.tif"}
NUM = ["0", "-1", "nan", "inf", "-inf", "1e400", "x", "", "1.5", "1e9", "999999999999"]


def _pick(draw, name, bad: set, good, hostile=NUM):
    """A valid value for `name`, or a hostile one when `name` is among the fields drawn as bad."""
    return draw(st.sampled_from(list(hostile) if name in bad else list(good)))


def _bad_fields(draw, fields):
    """Half of the cases are valid throughout (the success path), the others have 1 or 2 hostile fields."""
    return set(draw(st.lists(st.sampled_from(fields), min_size=1, max_size=2, unique=True))) if draw(st.booleans()) else set()


RESTORE_FIELDS = ["image", "mask", "out", "--steps", "--sigma-y", "--seed", "--samples", "--method", "--max-pixels",
                  "--device", "--prior", "--kernel", "--scale", "--batch-files", "--workers", "extra"]


@st.composite
def restoration_args(draw):
    cmd = draw(st.sampled_from(["denoise", "deblur", "sr", "inpaint"]))
    bad = _bad_fields(draw, RESTORE_FIELDS)
    n = 1 if cmd == "inpaint" else draw(st.integers(1, 2))
    images = [_pick(draw, "image", bad, sorted(GOOD), IMAGES) for _ in range(n)]
    args = [cmd, *[str(POOL / i) for i in images]]
    if cmd == "inpaint":
        args.append(str(POOL / _pick(draw, "mask", bad, ["mask.png"], ["mask_small.png", "mask_empty.png", "random.jpg",
                                                                           "k.npy", "bomb.png", "missing.png"])))
        if draw(st.booleans()):
            args.append(draw(st.sampled_from(["--resize-mask", "--mask-keeps"])))
    out = "." if n > 1 else _pick(draw, "out", bad, ["o.png", "o.tif"], ["o.jpg", "o.txt", "nodir/o.png", "", "."])
    args += ["-o", out]
    NUMS = NUM
    opts = {
        "--steps": (["1", "2"], NUMS), "--sigma-y": (["0", "0.02", "0.1"], NUMS), "--seed": (["0", "7"], ["x", "1.5", ""]),
        "--samples": (["1", "2"], ["0", "-2", "1000000", "x"]),
        "--method": (["ddrm", "ddnm_plus", "dps", "pigdm", "diffpir"], ["repaint", "ddnm", "bogus", ""]),
        "--max-pixels": (["100000"], ["0", "-1", "100", "x"]), "--device": (["cpu"], ["cuda", "gpu", ""]),
        # one tile worker: each case loads its prior anew, and 2 workers would fork this process twice per case
        "--workers": (["1"], ["-1", "x", "", "1.5"]),
        "--prior": ([str(POOL / "tiny.safetensors")], ["nosuch", str(POOL / "evil.pt"), str(POOL / "random.jpg"),
                                                        str(POOL / "k.npy"), str(POOL / "missing.safetensors")]),
    }
    if cmd == "deblur":
        opts["--kernel"] = (["gaussian:1.0", "uniform:3", str(POOL / "k.npy")],
                            ["gaussian:inf", "gaussian:1e9", "uniform:100000", "motion:2", str(POOL / "knan.npy"),
                             str(POOL / "khuge.npy"), "gaussian:x", "motion", "gaussian:-1"])
    if cmd == "sr":
        opts["--scale"] = (["2"], ["0", "1", "17", "-2", "1000000000", "x"])
    if cmd != "inpaint":
        opts["--batch-files"] = (["1", "2"], ["0", "-1", "x", ""])
    for name, (good, hostile) in opts.items():
        if name in bad or name in ("--prior", "--steps", "--device", "--workers") or draw(st.booleans()):
            args += [name, _pick(draw, name, bad, good, hostile)]
    if "--samples" in args and args[args.index("--samples") + 1] == "2" and n == 1 and draw(st.booleans()):
        args += ["--uncertainty", "u.png"]
    if draw(st.integers(0, 5)) == 0:
        args.append("--degrade")
    if "extra" in bad:
        args.append(draw(st.sampled_from(["--bogus-option", "--steps", "-o", "--uncertainty"])))
    return args, cmd


@st.composite
def other_args(draw):
    cmd = draw(st.sampled_from(["train", "sample"]))
    NUMS = ["0", "-1", "nan", "inf", "x", "", "1e9"]
    if cmd == "sample":
        bad = _bad_fields(draw, ["prior", "out", "--num", "--steps", "--size", "--eta", "--variance"])
        args = ["sample", _pick(draw, "prior", bad, [str(POOL / "tiny.safetensors")], [str(POOL / "evil.pt"), "nosuch"]),
                "-o", _pick(draw, "out", bad, ["g.png"], ["g.xyz", "nodir/g.png"])]
        for name, good, hostile in [("--num", ["1", "4"], NUMS), ("--steps", ["1", "3"], NUMS),
                                    ("--size", ["8", "16"], ["7", "0", "-8", "100000", "x"]), ("--eta", ["0", "1"], NUMS),
                                    ("--variance", ["beta", "beta_tilde", "0.5"], ["nan", "-1", "2", "x", ""])]:
            args += [name, _pick(draw, name, bad, good, hostile)]
        return [*args, "--device", "cpu"], cmd
    bad = _bad_fields(draw, ["data", "--mults", "--size", "--batch", "--steps", "--ckpt-every", "--log-every", "--lr",
                             "--warmup", "--ema"])
    args = ["train", str(POOL / _pick(draw, "data", bad, ["data.npz"], ["junk.npz", "missing.npz", "rgb.png", "evil.pt"])),
            "-o", "run", "--channels", "1", "--width", "8", "--res-blocks", "1", "--sample-every", "0", "--device", "cpu"]
    for name, good, hostile in [("--mults", ["1,2"], ["1,x", "0", "", "1,2,2,2,2,2,2,2,2"]), ("--size", ["8"], ["7", "0", "-8"]),
                                ("--batch", ["4"], NUMS), ("--steps", ["1", "2"], NUMS), ("--ckpt-every", ["1", "5"], NUMS),
                                ("--log-every", ["1"], NUMS), ("--lr", ["0.001"], NUMS), ("--warmup", ["0", "2"], NUMS),
                                ("--ema", ["0.9"], NUMS + ["1", "2"])]:
        args += [name, _pick(draw, name, bad, good, hostile)]
    return args, cmd


def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.stat().st_mtime_ns for p in d.rglob("*")}


def _check(case):
    argv, cmd = case
    work = Path(tempfile.mkdtemp(prefix="case-", dir=POOL))
    before_pool = {p.name: p.stat().st_mtime_ns for p in POOL.iterdir() if p.is_file()}
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(work)
    try:
        with time_limit(CASE_SECONDS):
            r = runner.invoke(main, argv, catch_exceptions=True)
    finally:
        os.chdir(cwd)
    COUNTS["cases"] += 1
    assert r.exit_code in (0, 2), f"exit {r.exit_code} for {argv}: {r.exception!r}\n{r.output[-1500:]}"
    assert "Traceback" not in r.output, argv
    assert {p.name: p.stat().st_mtime_ns for p in POOL.iterdir() if p.is_file()} == before_pool, argv
    written = _snapshot(work)
    if r.exit_code == 2:
        COUNTS["refused"] += 1
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.lower().startswith("error")]  # a progress bar may stand above it
        assert errors == lines[-1:] and errors[0].startswith("error: "), f"{argv}\n{r.stderr[-1500:]}"  # click's too
        assert not any(line.startswith(("Usage:", "Try ")) for line in lines), f"{argv}\n{r.stderr[-1500:]}"
        if cmd != "train":  # a refused train may have made its empty run folder; nothing else is written
            assert not written, (argv, written)
        else:
            assert not any(p.endswith(".safetensors") for p in written), (argv, written)
        return
    COUNTS["ok"] += 1
    if cmd in ("denoise", "deblur", "sr", "inpaint"):
        out = work / argv[argv.index("-o") + 1]
        src = Image.open(argv[1])
        scale = int(argv[argv.index("--scale") + 1]) if "--scale" in argv else (4 if cmd == "sr" else 1)
        outs = [out / Path(a).name for a in argv[1:argv.index("-o")] if a.startswith(str(POOL))] if out.is_dir() else [out]
        if cmd == "inpaint":
            outs = outs[:1]
        w, h = src.size
        size = (w // scale * scale, h // scale * scale) if "--degrade" in argv else (w * scale, h * scale)
        for o in outs:
            res = Image.open(o)
            assert res.size == size, (argv, res.size)
            a = np.asarray(res, dtype=np.float64)
            assert np.isfinite(a).all() and a.max() > 0, argv  # never a black (NaN-cast) image


_HC = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]


@pytest.mark.parametrize("n", [FAST, pytest.param(SLOW, marks=pytest.mark.slow)])
def test_cli_fuzzed(capsys, n):
    """n restoration commands and n / 4 train and sample commands: FAST (a fixed sample, derandomized)
    in the default suite, SLOW (fresh random cases) with -m slow; prints the counts."""
    for key in COUNTS:
        COUNTS[key] = 0
    fixed = n == FAST
    settings(max_examples=n, deadline=None, suppress_health_check=_HC, database=None,
             derandomize=fixed)(given(restoration_args())(_check))()
    settings(max_examples=n // 4, deadline=None, suppress_health_check=_HC, database=None,
             derandomize=fixed)(given(other_args())(_check))()
    with capsys.disabled():
        print(f"\nfuzzed command-line cases: {COUNTS}")
    assert COUNTS["cases"] >= n + n // 4, COUNTS


@pytest.mark.parametrize("argv, message", [
    (["denoise", "random.jpg", "-o", "o.png"], "cannot read image"),
    (["denoise", "nan.tif", "-o", "o.tif", "--prior", "tiny.safetensors"], "NaN"),
    (["deblur", "rgb.png", "--kernel", "uniform:100000", "-o", "o.png", "--prior", "tiny.safetensors"], "limit"),
    (["sr", "rgb.png", "--scale", "16", "--max-pixels", "1000", "-o", "o.png", "--prior", "tiny.safetensors"],
     "--max-pixels"),
    (["sr", "rgb.png", "--scale", "100000", "-o", "o.png", "--prior", "tiny.safetensors"], "2..16"),
])
def test_subprocess_one_line_exit_2(argv, message):
    r = subprocess.run([sys.executable, "-m", "restore.cli", *argv], capture_output=True, text=True, cwd=POOL,
                       timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], r.stderr
    assert not (POOL / "o.png").exists() and not (POOL / "o.tif").exists()
