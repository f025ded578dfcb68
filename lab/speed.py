"""Speed of the prior on this machine: training images/s and sampling ms per image per network
evaluation (NFE), for the default configurations of the shipped priors; with --levers, the training
step of one of them under the options of `restore train` that change speed (--channels-last and
--compile, which keep the results to float tolerance; --precision bf16, which rounds the forward to
bfloat16) and over batch sizes.

    python -m lab.speed [--threads N] [--repeats 5]
    python -m lab.speed --levers natural --threads 1 --repeats 5
    python -m lab.speed --levers faces --threads 2 --repeats 3 --skip-compile

prints a markdown table (pasted into benchmarks/notes/speed.md with the date and machine).
"""
from __future__ import annotations

import argparse
import platform
import time

import torch

from restore.priors import DDPM, UNet, UNetConfig, linear_schedule
from restore.priors.train import forward_precision

CONFIGS = {  # name: (UNet config, image size, training batch, sampling batch)
    "digits": (UNetConfig(channels=1, width=32, mults=(1, 2, 2), num_res_blocks=2), 28, 64, 16),
    "natural": (UNetConfig(channels=3, width=32, mults=(1, 2, 2), num_res_blocks=2), 32, 64, 16),
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


def measure(cfg: UNetConfig, size: int, train_batch: int, sample_batch: int, repeats: int, *,
            channels_last: bool = False, compile: bool = False, bf16: bool = False, sample: bool = True) -> dict:
    """One training step (forward, backward, Adam) on random data as `restore train` runs it with
    these options (the network and batch in channels_last, the loss through torch.compile, the
    forward under bfloat16 autocast), timed best of `repeats` after a warm-up (which takes the
    compilation); and one eps evaluation (fp32)."""
    g = torch.Generator().manual_seed(0)
    net = UNet(cfg)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    prior = DDPM(net, linear_schedule())
    loss_fn = torch.compile(prior.loss) if compile else prior.loss
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x0 = torch.randn(train_batch, cfg.channels, size, size, generator=g).contiguous(memory_format=fmt)
    t = torch.randint(1, 1001, (train_batch,), generator=g)
    noise = torch.randn(x0.shape, generator=g).contiguous(memory_format=fmt)

    def step():
        with forward_precision("cpu", "bf16" if bf16 else "fp32"):
            loss = loss_fn(x0, t, noise).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    net.train()
    t0 = time.perf_counter()
    step()
    first_s = time.perf_counter() - t0
    train_s = _time(step, repeats)
    out = {"params": sum(p.numel() for p in net.parameters()), "train_img_s": train_batch / train_s, "first_s": first_s}
    if not sample:
        return out
    net.eval()
    xs = torch.randn(sample_batch, cfg.channels, size, size, generator=g)
    with torch.no_grad():
        eval_s = _time(lambda: prior.eps(xs, 500), repeats)
    return {**out, "ms_per_img_nfe": 1000 * eval_s / sample_batch}


def levers(name: str, repeats: int, batches=(16, 32, 64, 128), compile: bool = True) -> None:
    """Training images/s of CONFIGS[name] at its training batch with each combination of
    --channels-last, --compile (unless `compile` is False) and --precision bf16, then over
    `batches` with the fastest."""
    cfg, size, tb, _ = CONFIGS[name]
    print(f"| {name} | batch | channels_last | compile | precision | first step s | train images/s | vs plain |")
    print("|---|---|---|---|---|---|---|---|")
    runs = {}

    def run(batch: int, cl: bool, comp: bool, bf16: bool) -> float:
        r = measure(cfg, size, batch, 0, repeats, channels_last=cl, compile=comp, bf16=bf16, sample=False)
        base = runs.get((False, False, False), r["train_img_s"])  # the plain step at the training batch
        print(f"| {name} | {batch} | {cl} | {comp} | {'bf16' if bf16 else 'fp32'} | {r['first_s']:.1f} | "
              f"{r['train_img_s']:.1f} | {r['train_img_s'] / base:.2f}x |")
        return r["train_img_s"]

    for bf16 in (False, True):
        for cl, comp in [(False, False), (True, False)] + ([(False, True), (True, True)] if compile else []):
            runs[cl, comp, bf16] = run(tb, cl, comp, bf16)
    best = max(runs, key=runs.get)
    for b in batches:
        if b != tb:
            run(b, *best)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--levers", choices=list(CONFIGS), help="the training options and batch sizes of one config")
    ap.add_argument("--skip-compile", action="store_true", help="with --levers: leave out --compile (minutes each)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {a.threads} threads, {platform.processor() or platform.machine()}"
          f"{'' if a.levers else ', fp32'}\n")
    if a.levers:
        return levers(a.levers, a.repeats, compile=not a.skip_compile)
    print("| prior config | size | params | train batch | train images/s | sample batch | ms / image / NFE |")
    print("|---|---|---|---|---|---|---|")
    for name, (cfg, size, tb, sb) in CONFIGS.items():
        r = measure(cfg, size, tb, sb, a.repeats)
        print(f"| {name}: width {cfg.width}, mults {cfg.mults} | {size} | {r['params'] / 1e6:.2f}M | {tb} | "
              f"{r['train_img_s']:.1f} | {sb} | {r['ms_per_img_nfe']:.2f} |")


if __name__ == "__main__":
    main()
