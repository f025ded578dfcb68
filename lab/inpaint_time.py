"""Wall time and peak memory of `restore inpaint` as a user runs it (start-up and prior load included).

    python -m lab.inpaint_time DATA_ROOT [--work DIR]

Writes natural/val/107072.jpg with its two whole-photo benchmark holes as mask.png, and the photo
resized to 4000x3000 with one 200x200 hole, then times the command line's default twice, the
earlier default (`--steps 50 --strength 1 --denoise-rest`: the whole photo from noise) once, and
the default on the 12-megapixel photo once. Peak memory: the child's maximum resident set size.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def run(args: list[str]) -> tuple[float, float]:
    """(seconds, peak GB) of one `restore` process."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "restore.cli", *args], check=True, capture_output=True)
    secs = time.perf_counter() - t0
    return secs, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6  # the largest child so far


def main(argv=None) -> None:
    from PIL import Image

    from .whole_photo import holes

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data_root", type=Path)
    ap.add_argument("--work", type=Path, default=None)
    a = ap.parse_args(argv)
    work = a.work or Path(tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    im = Image.open(a.data_root / "natural/val/107072.jpg").convert("RGB")
    im.save(work / "photo.png")
    Image.fromarray(holes("107072.jpg", im.size[1], im.size[0]).astype(np.uint8) * 255).save(work / "mask.png")
    im.resize((4000, 3000), Image.BICUBIC).save(work / "big.png")
    big = np.zeros((3000, 4000), np.uint8)
    big[1400:1600, 2000:2200] = 255
    Image.fromarray(big).save(work / "bigmask.png")
    p = lambda name: str(work / name)
    mp = im.size[0] * im.size[1] / 1e6
    cases = [("the default", [p("photo.png"), p("mask.png")], [], mp),
             ("the default, again", [p("photo.png"), p("mask.png")], [], mp),
             ("the earlier default (whole photo, 50 steps from noise)", [p("photo.png"), p("mask.png")],
              ["--steps", "50", "--strength", "1", "--denoise-rest"], mp),
             ("12 MP, one 200x200 hole, the default", [p("big.png"), p("bigmask.png")], [], 12.0)]
    print("| command | wall time | seconds per megapixel | peak memory (largest so far) |\n|---|---|---|---|")
    for k, (label, files, extra, size) in enumerate(cases):
        secs, gb = run(["inpaint", *files, "-o", p(f"out{k}.png"), "--overwrite", *extra])
        print(f"| {label} | {secs:.1f} s | {secs / size:.0f} | {gb:.2f} GB |", flush=True)


if __name__ == "__main__":
    main()
