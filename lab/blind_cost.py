"""The time and peak memory of the blind kernel estimate (`restore.estimate_kernel`) on a large
photo (issue 31: a 12 MP photo).

The photo: a natural/val photo upsampled (bicubic) to --width x --height (4000 x 3000 = 12 MP by
default), blurred as `lab.blind_kernels` blurs (Levin et al.'s shake --kernel over the whole frame,
border cut, noise 0.01, 8 bits). The estimate runs in a child process that holds only the photo,
so its peak resident memory (`ru_maxrss`) is the estimate's plus the photo and the interpreter's;
the child's resident memory before the estimate is printed beside it.

    python -m lab.blind_cost ../shared/data/natural/val/107072.jpg [--width 4000 --height 3000]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def _child(y: np.ndarray, threads: int, q) -> None:
    torch.set_num_threads(threads)
    from restore.operators.blind import estimate_kernel

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    x = torch.from_numpy(y).permute(2, 0, 1)
    t0 = time.perf_counter()
    est = estimate_kernel(x)
    sec = time.perf_counter() - t0
    q.put((sec, before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, str(est)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photo")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--kernel", default="levin4")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    from lab.blind_kernels import blurred, kernels

    k = kernels(Path(a.data))[a.kernel]
    img = Image.open(a.photo).convert("RGB").resize((a.width + k.shape[1] - 1, a.height + k.shape[0] - 1),
                                                    Image.BICUBIC)
    y = blurred(np.asarray(img, dtype=np.float64) / 255, k, 0).astype(np.float32)  # the kernel's border cut
    ctx = mp.get_context("spawn")  # a fresh interpreter: its peak memory is the estimate's, not this one's
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(y, a.threads, q))
    p.start()
    sec, before, peak, found = q.get()
    p.join()
    print(f"{y.shape[1]}x{y.shape[0]} ({y.shape[0] * y.shape[1] / 1e6:.1f} MP), {a.kernel}, {a.threads} thread(s): "
          f"estimate {sec:.1f} s; child's peak resident memory {peak / 1024:.0f} MiB "
          f"({before / 1024:.0f} MiB before the estimate, the photo as float32 included); found: {found}")


if __name__ == "__main__":
    main()
