"""Speed of the prior on this machine: training images/s and sampling ms per image per network
evaluation (NFE), for the default configurations of the shipped priors.

    python -m restore.benchmarks.speed [--threads N] [--repeats 5]

prints a markdown table (pasted into benchmarks/RESULTS.md with the date and machine).
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

from restore.priors import DDPM, UNet, UNetConfig, linear_schedule

CONFIGS = {  # name: (UNet config, image size, training batch, sampling batch)
    "digits": (UNetConfig(channels=1, width=32, mults=(1, 2, 2), num_res_blocks=2), 28, 64, 16),
    "natural (32 patches)": (UNetConfig(channels=3, width=32, mults=(1, 2, 2), num_res_blocks=2), 32, 64, 16),
    "faces": (UNetConfig(channels=3, width=32, mults=(1, 2, 2, 2), num_res_blocks=2), 64, 16, 16),
}


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(cfg: UNetConfig, size: int, train_batch: int, sample_batch: int, repeats: int) -> dict:
    g = torch.Generator().manual_seed(0)
    net = UNet(cfg)
    prior = DDPM(net, linear_schedule())
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x0 = torch.randn(train_batch, cfg.channels, size, size, generator=g)
    t = torch.randint(1, 1001, (train_batch,), generator=g)
    noise = torch.randn(x0.shape, generator=g)

    def step():
        loss = prior.loss(x0, t, noise).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    net.train()
    train_s = _time(step, repeats)
    net.eval()
    xs = torch.randn(sample_batch, cfg.channels, size, size, generator=g)
    with torch.no_grad():
        eval_s = _time(lambda: prior.eps(xs, 500), repeats)
    return {"params": sum(p.numel() for p in net.parameters()), "train_img_s": train_batch / train_s,
            "ms_per_img_nfe": 1000 * eval_s / sample_batch}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} threads, {platform.processor() or platform.machine()}, fp32\n")
    print("| prior config | size | params | train batch | train images/s | sample batch | ms / image / NFE |")
    print("|---|---|---|---|---|---|---|")
    for name, (cfg, size, tb, sb) in CONFIGS.items():
        r = measure(cfg, size, tb, sb, a.repeats)
        print(f"| {name}: width {cfg.width}, mults {cfg.mults} | {size} | {r['params'] / 1e6:.2f}M | {tb} | "
              f"{r['train_img_s']:.1f} | {sb} | {r['ms_per_img_nfe']:.2f} |")


if __name__ == "__main__":
    main()
