"""The speed suite (issue 21 "Measure"): each restoration command of the command line at its
defaults, as a user runs it (a `restore` process: start-up, prior load, noise estimate, writing).
Prints per command and version: wall seconds, seconds per megapixel of the result, network
evaluations (NFE: one per step of one draw's chain, times the draws), seconds per MP per NFE, the
process's peak resident memory, and the result's PSNR against the clean photo.

    python -m lab.speed_suite [--data DATA_ROOT] [--size 500]
        [--commands denoise,sr,inpaint,deblur] [--python PATH ...] [--repeats 1] [-- EXTRA CLI OPTIONS]

The photo: with --data, the first natural/val photo at its native size (a validation photo:
its PSNR is the validation PSNR of that one photo); without, scikit-image's astronaut resized to
--size x --size. The degradations are those of `python -m lab.whole_photo`: two
48-128 px holes (inpaint; PSNR inside the holes), x4 bicubic downsampling (sr; the small photo is
the input), gaussian:3.0 blur (deblur), a camera shake (--commands motion: `restore deblur` with
the kernel motion:0.5:1, which has no cheap SVD: `restore.defaults.NO_SVD_BLUR_DEFAULT`, DEFAULTS in
versions without it) and no blur (denoise) with noise of std 0.025, every observation saved as 8 bits. The noise level is left to the command (estimated), as a user would.

--python (repeatable) times other checkouts' interpreters too (e.g. an old commit's venv): the
versions run interleaved, command by command and repeat by repeat, so their ratio comes from one
run on one machine load. Each version's NFE comes from its own defaults for a photo the prior
runs by tiles (`restore.defaults.TILED_DEFAULTS`; DEFAULTS in versions without it). Needs no data folder.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CMDS = ("denoise", "sr", "inpaint", "deblur")  # and "motion": `restore deblur` of a camera shake
SIGMA = 0.025
MOTION = "motion:0.5:1"  # a 61-tap camera shake (whole_photo's motion task): a blur without a cheap SVD


def inputs(work: Path, clean: np.ndarray, name: str) -> tuple[dict[str, list[str]], np.ndarray]:
    """The command line's positional arguments (and task options) of each command, and the fill
    mask of inpaint (True = fill)."""
    import torch
    from PIL import Image

    from restore.plan import COMMANDS
    from restore.operators import parse_kernel
    from restore.operators import Downsample, add_noise

    from .whole_photo import holes

    x = torch.from_numpy(clean.astype(np.float64) / 255).permute(2, 0, 1)[None]
    g = torch.Generator().manual_seed(0)

    def save(t, file):
        Image.fromarray(np.round(t.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(work / file)
        return str(work / file)

    fill = holes(name, *clean.shape[:2])
    Image.fromarray(fill.astype(np.uint8) * 255).save(work / "mask.png")
    Image.fromarray(clean).save(work / "clean.png")
    blur = COMMANDS["deblur"].operator({"kernel": parse_kernel("gaussian:3.0")})
    shake = COMMANDS["deblur"].operator({"kernel": parse_kernel(MOTION)})
    args = {"denoise": [save(add_noise(x, SIGMA, g), "noisy.png")],
            "deblur": [save(add_noise(blur.A(x), SIGMA, g), "blurred.png"), "--kernel", "gaussian:3.0"],
            "sr": [save(Downsample(4, "bicubic").A(x), "small.png"), "--scale", "4"],
            "inpaint": [str(work / "clean.png"), str(work / "mask.png")],
            "motion": [save(add_noise(shake.A(x), SIGMA, g), "shaken.png"), "--kernel", MOTION]}
    return args, fill


def photo(data: Path | None, size: int) -> tuple[np.ndarray, str]:
    """(H, W, 3) uint8 with sides cut to multiples of 4 (for sr), and its name."""
    from PIL import Image

    if data is None:
        from lab.large_photo import astronaut

        img, name = astronaut(size, size), "astronaut"
    else:
        from .whole_photo import photos

        path = photos(Path(data), "val")[0]
        img, name = np.asarray(Image.open(path).convert("RGB")), path.name
    h, w = (s - s % 4 for s in img.shape[:2])
    return np.ascontiguousarray(img[:h, :w]), name


def defaults_of(python: str, cwd: Path) -> tuple[str, dict]:
    """(version, {command: [method, steps, strength, samples]}) of the checkout `python` imports
    (run in `cwd`, outside any checkout: python puts the working folder first on its path)."""
    code = ("import json, os, subprocess, restore.api as a; d = os.path.dirname(os.path.dirname(a.__file__)); "
            "v = subprocess.run(['git', '-C', d, 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True)"
            ".stdout.strip() or d; t = dict(getattr(a, 'TILED_DEFAULTS', a.DEFAULTS)); "
            "t['motion'] = getattr(a, 'NO_SVD_BLUR_DEFAULT', a.DEFAULTS['deblur']); print(json.dumps([v, {k: list(x) for k, x in t.items()}]))")
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, cwd=cwd).stdout
    version, defaults = json.loads(out.strip().splitlines()[-1])
    return version, defaults


def nfe(default: list, schedule) -> int:
    """Network evaluations of a default [method, steps, strength=1, samples=1]: the steps of its
    chain (`restore.starts.warm_schedule` of the prior's schedule; "noise": the steps, which a
    default keeps below y's noise level), times the draws."""
    from restore.starts import warm_schedule

    steps, strength, samples = (list(default[1:]) + [1.0, 1])[:3]
    n = int(steps) if isinstance(strength, str) else len(warm_schedule(schedule, int(steps), float(strength)))
    return n * int(samples)


def run(python: str, command: str, args: list[str], out: Path, extra: list[str]) -> tuple[float, float]:
    """(seconds, peak GB of resident memory) of one `restore` process."""
    log = out.with_suffix(".log")
    t0 = time.perf_counter()
    with log.open("wb") as fh:  # a file, not a pipe: a full pipe would stall the child (progress bars)
        p = subprocess.Popen([python, "-m", "restore.cli", command, *args, "-o", str(out), "--overwrite", *extra],
                             stdout=subprocess.DEVNULL, stderr=fh, cwd=out.parent)  # not a checkout's folder
        _, status, usage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        err = log.read_text(errors="replace").strip().splitlines()
        raise SystemExit(f"{command} failed: {err[-1] if err else status}")
    return secs, usage.ru_maxrss * 1024 / 1e9


def psnr(out: Path, clean: np.ndarray, where: np.ndarray | None) -> float:
    from PIL import Image

    est = np.asarray(Image.open(out).convert("RGB"), np.float64) / 255
    err = (est - clean.astype(np.float64) / 255) ** 2
    mse = err[where].mean() if where is not None else err.mean()
    return 10 * math.log10(1 / max(float(mse), 1e-12))


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="data root: time a natural/val photo at native size")
    ap.add_argument("--size", type=int, default=500, help="without --data: the astronaut's side")
    ap.add_argument("--commands", default=",".join(CMDS))
    ap.add_argument("--python", action="append", default=None,
                    help="an interpreter (and so a checkout) to time; repeat for several [default: this one]")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--work", type=Path, default=None)
    a = ap.parse_args(argv)
    work = (a.work or Path(tempfile.mkdtemp())).resolve()
    work.mkdir(parents=True, exist_ok=True)
    clean, name = photo(a.data, a.size)
    args, fill = inputs(work, clean, name)
    pythons = a.python or [sys.executable]
    versions = [defaults_of(p, work) for p in pythons]
    mp = clean.shape[0] * clean.shape[1] / 1e6
    print(f"{name} ({clean.shape[1]}x{clean.shape[0]} results), extra options {extra or 'none'}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| command | version | default | wall s | s / MP | NFE | s / MP / NFE | peak memory | PSNR (dB) | time ratio |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    from restore.priors import load_prior

    schedule = load_prior("natural").schedule
    for cmd in a.commands.split(","):
        times: dict[int, list[float]] = {}
        rows = {}
        for _ in range(a.repeats):
            for i, python in enumerate(pythons):
                out = work / f"out_{cmd}_{i}.png"
                secs, gb = run(python, "deblur" if cmd == "motion" else cmd, args[cmd], out, extra)
                times.setdefault(i, []).append(secs)
                rows[i] = (gb, psnr(out, clean, fill if cmd == "inpaint" else None))
        for i, (version, defaults) in enumerate(versions):
            d = defaults[cmd]
            if "--steps" in extra:
                d = [d[0], int(extra[extra.index("--steps") + 1]), *d[2:]]
            n = nfe(d, schedule)
            secs = float(np.median(times[i]))
            gb, p = rows[i]
            warm = len(d) > 2 and (isinstance(d[2], str) or d[2] < 1)
            label = f"{d[0]} {d[1]} steps" + (f", strength {d[2]}" if warm else "") + \
                    (f", mean of {d[3]}" if len(d) > 3 and d[3] > 1 else "")
            ratio = secs / float(np.median(times[0]))
            print(f"| {cmd} | {version} | {label} | {secs:.1f} | {secs / mp:.0f} | {n} | {secs / mp / n:.2f} "
                  f"| {gb:.2f} GB | {p:.2f} | {ratio:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
