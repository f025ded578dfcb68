"""Files restored one by one against the same files as one batch (`restore --batch-files`): the
wall time of each and their ratio, on crops of natural/val photos with the shipped natural prior.

    python -m lab.batch_files [--files 4] [--size 256] [--task denoise] [--steps 10]
        [--repeats 3] [--threads 1] [--data ../shared/data]

The two ways alternate (one by one, batched, then batched, one by one, ...) so that a loaded
machine's changing load falls on both; the ratios are of their total wall and CPU (process) times. The PSNR of each way
against the clean crops is printed beside it (batched files get other random draws, not worse ones).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from restore import operators, pipeline
from restore.plan import COMMANDS
from restore.io import read_image
from restore.operators import add_noise
from restore.priors.parallel import TileWorkers, default_workers

TASKS = {"denoise": {}, "sr": {"scale": 4}, "deblur": {"kernel": "gaussian:3.0"}}


def crops(root: str, n: int, size: int) -> list[np.ndarray]:
    """The centre size x size crops of the first n natural/val photos, uint8 RGB."""
    out = []
    for path in sorted(Path(root, "natural/val").glob("*.jpg"))[:n]:
        a = np.asarray(read_image(path, "RGB"))
        top, left = (a.shape[0] - size) // 2, (a.shape[1] - size) // 2
        out.append(np.ascontiguousarray(a[top : top + size, left : left + size]))
    if len(out) < n:
        raise SystemExit(f"{root}/natural/val: need {n} photos, found {len(out)}")
    return out


def observe(task: str, clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    x = torch.from_numpy(clean).permute(2, 0, 1)[None].double() / 255
    t = dict(TASKS[task])
    if "kernel" in t:
        t["kernel"] = operators.parse_kernel(t["kernel"])
    y = add_noise(COMMANDS[task].operator(t).A(x), sigma, torch.Generator().manual_seed(seed)).clamp(0, 1)
    return np.round(y[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


def measure(root: str, *, files=4, size=256, task="denoise", steps=10, sigma=0.05, repeats=3, seed=0) -> dict:
    prior = pipeline.load_prior("natural", "cpu")
    clean = crops(root, files, size)
    ys = [observe(task, c, sigma, seed + k) for k, c in enumerate(clean)]
    t = dict(TASKS[task])
    if "kernel" in t:
        t["kernel"] = operators.parse_kernel(t["kernel"])
    seconds, cpu, scores = {"one by one": 0.0, "batched": 0.0}, {"one by one": 0.0, "batched": 0.0}, {}
    with TileWorkers(prior, default_workers(prior.device)) as workers:  # the command line's: every core, forked once
        opts = dict(prior=prior, steps=steps, sigma_y=sigma, seed=seed, workers=workers)
        for r in range(repeats):
            for way in (list(seconds) if r % 2 == 0 else list(seconds)[::-1]):
                t0, c0 = time.perf_counter(), time.process_time()
                if way == "batched":
                    outs = pipeline.restore_batch(ys, task, t, **opts)
                else:
                    outs = [pipeline.restore_image(y, task, t, **opts) for y in ys]
                seconds[way] += time.perf_counter() - t0
                cpu[way] += time.process_time() - c0
                scores[way] = float(np.mean([psnr(o, c) for o, c in zip(outs, clean)]))
    mp = files * (size * size) / 1e6
    return {"task": task, "files": files, "size": size, "steps": steps, "threads": torch.get_num_threads(),
            "s_single": seconds["one by one"] / repeats, "s_batch": seconds["batched"] / repeats,
            "ratio": seconds["one by one"] / seconds["batched"], "cpu_single": cpu["one by one"] / repeats,
            "cpu_batch": cpu["batched"] / repeats, "cpu_ratio": cpu["one by one"] / cpu["batched"], "psnr_single": scores["one by one"],
            "psnr_batch": scores["batched"], "s_per_mp_nfe": seconds["one by one"] / repeats / mp / steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--task", default="denoise", choices=sorted(TASKS))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--sigma", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="../shared/data")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    r = measure(args.data, files=args.files, size=args.size, task=args.task, steps=args.steps, sigma=args.sigma,
                repeats=args.repeats, seed=args.seed)
    print("| task | files | size | steps | threads | s, one by one | s, batched | ratio | CPU s, one by one | "
          "CPU s, batched | CPU ratio | PSNR one by one | PSNR batched |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {r['task']} | {r['files']} | {r['size']}x{r['size']} | {r['steps']} | {r['threads']} | {r['s_single']:.1f} | "
          f"{r['s_batch']:.1f} | {r['ratio']:.3f} | {r['cpu_single']:.1f} | {r['cpu_batch']:.1f} | {r['cpu_ratio']:.3f} | "
          f"{r['psnr_single']:.2f} | {r['psnr_batch']:.2f} |")
    print(f"({r['s_per_mp_nfe']:.2f} s per megapixel per NFE one by one)")


if __name__ == "__main__":
    main()
