"""The speed suite (issue 21 "Measure"): each restoration command of the command line at its
defaults, as a user runs it (a `restore` process: start-up, prior load, noise estimate, writing),
on scikit-image's astronaut resized to --size x --size (4 x smaller for sr, which restores it at
x4; inpaint: two 64x64 holes). Prints per command: wall seconds, seconds per megapixel of the
result, network evaluations (NFE: one per step of the chain), seconds per MP per
NFE, and the process's peak resident memory.

    python -m restore.benchmarks.speed_suite [--size 500] [--commands denoise,sr,inpaint,deblur]
        [--python PATH] [-- EXTRA CLI OPTIONS]

--python runs another checkout's interpreter (e.g. an old commit's venv) on the same photos, so
the rows of two versions come from one run. Needs no data folder.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CMDS = ("denoise", "sr", "inpaint", "deblur")


def inputs(work: Path, size: int) -> dict[str, list[str]]:
    """The command line's positional arguments (and task options) of each command."""
    import torch
    from PIL import Image

    from restore.benchmarks.large_photo import astronaut
    from restore.operators import Blur, add_noise, gaussian_kernel

    clean = astronaut(size, size)
    x = torch.from_numpy(clean.astype(np.float64) / 255).permute(2, 0, 1)[None]
    g = torch.Generator().manual_seed(0)

    def save(t, name):
        Image.fromarray(np.round(t.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(work / name)
        return str(work / name)

    mask = np.zeros((size, size), np.uint8)
    mask[size // 5 : size // 5 + 64, size // 5 : size // 5 + 64] = 255
    mask[size // 2 : size // 2 + 64, size // 2 : size // 2 + 64] = 255
    Image.fromarray(mask).save(work / "mask.png")
    Image.fromarray(clean).save(work / "clean.png")
    Image.fromarray(astronaut(size // 4, size // 4)).save(work / "small.png")
    return {"denoise": [save(add_noise(x, 0.05, g), "noisy.png")],
            "deblur": [save(add_noise(Blur(gaussian_kernel(19, 3.0)).A(x), 0.01, g), "blurred.png")],
            "sr": [str(work / "small.png"), "--scale", "4"],
            "inpaint": [str(work / "clean.png"), str(work / "mask.png")]}


def run(python: str, command: str, args: list[str], out: Path, extra: list[str]) -> tuple[float, float]:
    """(seconds, peak GB of resident memory) of one `restore` process."""
    log = out.with_suffix(".log")
    t0 = time.perf_counter()
    with log.open("wb") as fh:  # a file, not a pipe: a full pipe would stall the child (progress bars)
        p = subprocess.Popen([python, "-m", "restore.cli", command, *args, "-o", str(out), "--overwrite", *extra],
                             stdout=subprocess.DEVNULL, stderr=fh)
        _, status, usage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        err = log.read_text(errors="replace").strip().splitlines()
        raise SystemExit(f"{command} failed: {err[-1] if err else status}")
    return secs, usage.ru_maxrss * 1024 / 1e9


def main(argv=None) -> None:
    from restore.api import DEFAULTS
    from restore.starts import warm_schedule

    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=500)
    ap.add_argument("--commands", default=",".join(CMDS))
    ap.add_argument("--python", default=sys.executable, help="the interpreter (and so the checkout) to time")
    ap.add_argument("--work", type=Path, default=None)
    a = ap.parse_args(argv)
    work = a.work or Path(tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    args = inputs(work, a.size)
    version = subprocess.run([a.python, "-c", "import restore, subprocess, os; d = os.path.dirname(os.path.dirname("
                              "restore.__file__)); print(subprocess.run(['git', '-C', d, 'rev-parse', '--short', 'HEAD'],"
                              " capture_output=True, text=True).stdout.strip() or d)"],
                             capture_output=True, text=True).stdout.strip()
    print(f"restore at {version}, {a.size}x{a.size} results, extra options {extra or 'none'}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| command | default | wall s | s / MP | NFE | s / MP / NFE | peak memory |\n|---|---|---|---|---|---|---|")
    from restore.priors import load_prior

    prior = load_prior("natural")
    for cmd in a.commands.split(","):
        d = DEFAULTS[cmd]
        steps = int(extra[extra.index("--steps") + 1]) if "--steps" in extra else d.steps
        nfe = len(warm_schedule(prior.schedule, steps, d.strength))  # one network evaluation per step (ddrm, pigdm)
        secs, gb = run(a.python, cmd, args[cmd], work / f"out_{cmd}.png", extra)
        mp = a.size * a.size / 1e6
        print(f"| {cmd} | {d.method} {d.steps} steps, strength {d.strength:g} | {secs:.1f} | {secs / mp:.0f} | {nfe} "
              f"| {secs / mp / nfe:.2f} | {gb:.2f} GB |", flush=True)


if __name__ == "__main__":
    main()
