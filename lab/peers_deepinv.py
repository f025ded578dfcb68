"""Our DPS, DDRM and DiffPIR against deepinv 0.5's on the same network, at equal NFE (issue 7).

Runs only in an environment with the optional extra `peers` (deepinv 0.5 needs torch 2.14.1 with
torchvision 0.29.1; keep it apart from the development venv), e.g.

    python3 -m venv /work/venv-peers
    /work/venv-peers/bin/pip install torch==2.14.1 torchvision==0.29.1 "deepinv==0.5.*"
    /work/venv-peers/bin/pip install -e .
    OMP_NUM_THREADS=1 /work/venv-peers/bin/python -m lab.peers_deepinv --prior digits \\
        --data ../shared/data --tasks random,box,denoise --steps 20,50 --images 4 -o bench-peers

so both sides' numbers and timings come from one environment.

The network: our prior's UNet wrapped in deepinv's `ScoreModelWrapper` (prediction_type
"epsilon", scale_t = sqrt(abar_t) of the prior's schedule, variance preserving, integer time
t - 1 = 0..T-1 as our network takes it, clipped output). `check_x0` first checks, on one image
and several t, that this denoiser returns our x0_hat (mapped to [0, 1]); the run stops when they
disagree by more than 1e-4.

The problems: inpainting (box, random) and denoising, whose deepinv physics (`Inpainting` with our
mask, `Denoising`) are the same operators as ours, with deepinv's `GaussianNoise(sigma_y)` on
[0, 1]; y is OUR observation (same noise draw) for both. Equal NFE: deepinv's DDRM with K noise
levels and DiffPIR with max_iter = K take K network evaluations, DPS with num_steps = K + 1 takes K
(measured: num_steps time points give num_steps - 1 evaluations, its final denoising included);
ours at steps = K. NFE is counted by calls of the network.
deepinv's parameters are its defaults (DDRM eta 0.85, etab 1; DiffPIR zeta 0.1, lambda 7; DPS
weight 1, the "ddpm" solver) with DDRM's noise levels those of our respaced schedule (on [0, 1]);
ours are the defaults of docs/solvers.md. deepinv draws from torch's global generator, seeded per
image. `--ours-extra` adds configurations of ours that deepinv lacks (Pi-GDM, means of draws, warm
starts such as the command line's defaults `ddrm:15:strength=0.1` and `ddrm:1:strength=noise:mean4`,
run as `restore.benchmarks.methods` runs them, their classical estimate timed) to the search for our
fastest configuration reaching deepinv's best PSNR, whose time is also given as a ratio to deepinv's.
Rows already in the output folder's peers.csv are kept and not rerun. `--split val` scores the val
split instead (the search's candidates are chosen there; then only the val-chosen configuration is
run on test, in another output folder).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from restore.benchmarks.bench import check_weights
from restore.benchmarks.datasets import load_images
from restore.benchmarks.methods import parse_method, run_diffusion
from restore.benchmarks.metrics import psnr, ssim
from restore.benchmarks.report import machine
from restore.benchmarks.tasks import make_case, task_seed
from restore.priors import load_prior
from restore.priors.ddpm import with_precision

PEERS = ("dps", "ddrm", "diffpir")
TASKS = ("box", "random", "denoise")


class CountingNet(nn.Module):
    """Our prior's network as deepinv calls it: model(x, t_int) in float32, calls counted."""

    def __init__(self, prior):
        super().__init__()
        self.net = prior.net
        self.calls = 0

    def forward(self, x, t, *args, **kwargs):
        self.calls += 1
        t = torch.as_tensor(t, device=x.device).long().reshape(-1).expand(x.shape[0])
        return self.net(x.to(torch.float32), t)[:, : x.shape[1]].to(x.dtype)  # drop a learned-variance half


def deepinv_denoiser(prior):
    """deepinv's ScoreModelWrapper around our network (module docstring)."""
    from deepinv.models import ScoreModelWrapper

    abar = prior.schedule.abar.to(torch.float32)  # float32: the samplers' iterates keep their dtype
    return ScoreModelWrapper(CountingNet(prior), prediction_type="epsilon", clip_output=True,
                             scale_t=abar.sqrt(), variance_preserving=True, takes_integer_time=True,
                             n_timesteps=len(abar))


@torch.no_grad()
def check_x0(prior, denoiser, x: torch.Tensor, ts=(1, 50, 250, 500, 750, 999), seed: int = 0) -> float:
    """Largest |deepinv denoiser - our x0_hat| (on [0, 1]) over the t in ts for image x (1, C, H, W)."""
    g = torch.Generator().manual_seed(seed)
    abar = prior.schedule.abar.to(torch.float64)
    worst = 0.0
    for t in ts:
        a = float(abar[t - 1])
        eps = torch.randn(x.shape, generator=g, dtype=torch.float64)
        x_t = (a**0.5 * (2 * x.double() - 1) + (1 - a) ** 0.5 * eps).float()
        ours = (prior.x0_hat(x_t, t) + 1) / 2
        sigma = ((1 - a) / a) ** 0.5 / 2  # the noise std of x_t / sqrt(abar) on [0, 1]
        theirs = denoiser((x_t.double() / a**0.5 + 1) / 2, sigma)
        worst = max(worst, float((theirs.float() - ours).abs().max()))
    return worst


def physics_for(p):
    import deepinv as dinv

    noise = dinv.physics.GaussianNoise(sigma=float(p.sigma_y)) if p.sigma_y > 0 else dinv.physics.GaussianNoise(sigma=0.0)
    if p.task in ("box", "random"):
        return dinv.physics.Inpainting(img_size=tuple(p.x.shape[1:]), mask=p.mask[0].float().expand(p.x.shape[1], -1, -1),
                                       noise_model=noise)
    if p.task == "denoise":
        return dinv.physics.Denoising(noise_model=noise)
    raise ValueError(f"no deepinv physics for task {p.task!r} in this comparison")


def run_peer(name: str, prior, denoiser, p, steps: int, seed: int) -> dict:
    import deepinv as dinv

    physics = physics_for(p)
    y = p.y.double() if name == "dps" else p.y.float()
    net = denoiser.model
    net.calls = 0
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    if name == "ddrm":
        # noise levels of our respaced schedule, on [0, 1]: sqrt((1 - abar) / abar) / 2, decreasing
        s = prior.schedule.respace(steps)
        sig = ((1 - s.abar.double()) / s.abar.double()).sqrt() / 2
        model = dinv.sampling.DDRM(denoiser=denoiser, sigmas=sig.flip(0).tolist())  # floats: numpy ones promote to float64
        est = model(y, physics)
    elif name == "diffpir":
        model = dinv.sampling.DiffPIR(denoiser, dinv.optim.data_fidelity.L2(), sigma=max(float(p.sigma_y), 1e-3),
                                      max_iter=steps)
        est = model(y, physics)
    elif name == "dps":
        # num_steps time points make num_steps - 1 network evaluations (measured), the final
        # denoising included: num_steps = steps + 1 for equal NFE
        model = dinv.sampling.DPS(denoiser, num_steps=steps + 1, dtype=torch.float64,
                                  rng=torch.Generator().manual_seed(seed))
        est = model(y, physics, seed=seed)
    else:
        raise ValueError(f"unknown peer {name!r}")
    seconds = time.perf_counter() - t0
    return {"est": est.float().clamp(0, 1), "nfe": net.calls, "seconds": seconds}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prior", default="digits", help="NAME[=PRIOR] as in restore bench (data: NAME)")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--methods", default=",".join(PEERS))
    ap.add_argument("--steps", default="20,50")
    ap.add_argument("--ours-extra", default="", help="more of our specs, ours only (e.g. pigdm:50,ddrm:20:mean4,"
                    "ddrm:15:strength=0.1): searched for the fastest configuration that reaches deepinv's best")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--split", choices=("test", "val"), default="test",
                    help="val: choose the configuration there (its fastest reaching deepinv's best), then time "
                         "only that one on test")
    ap.add_argument("--sigma-y", type=float, default=0.025)
    ap.add_argument("--crop", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="our network forward's precision (bf16: the command line's default on a CPU with native "
                         "bfloat16); deepinv's side always runs the network in fp32, its default")
    ap.add_argument("-o", "--out", default="bench-peers")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    name, _, source = a.prior.partition("=")
    prior = load_prior(source or name)
    denoiser = deepinv_denoiser(prior)  # fp32 (deepinv's side)
    ours_prior = with_precision(prior, a.precision)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "peers.csv"
    rows = []
    if csv_path.is_file():  # resume: rows already measured are kept, not rerun
        with open(csv_path, newline="") as f:
            rows = [{**r, "steps": int(r["steps"]), **{k: float(r[k]) for k in ("psnr", "ssim", "nfe", "seconds")}}
                    for r in csv.DictReader(f)]
    try:  # OUT/priors.json: rows of other weights under this prior name are refused, as in restore bench
        check_weights(out, {name: prior}, {name} if rows else set())
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    have = {(r["task"], r["image"], r["method"], r["steps"], r["side"]) for r in rows}
    extras = [parse_method(m) for m in a.ours_extra.split(",") if m.strip()]
    first = True
    for task in a.tasks.split(","):
        imgs = load_images(name, a.data, a.split, task, a.images, a.crop)
        for i, (iid, x) in enumerate(imgs):
            p = make_case(task, x, a.sigma_y, seed=a.seed, image_id=iid, index=i)
            if first:
                err = check_x0(prior, denoiser, p.x)
                print(f"deepinv ScoreModelWrapper vs our x0_hat on {iid}: max |difference| {err:.2e}")
                if err > 1e-4:
                    raise SystemExit("the deepinv denoiser does not reproduce our x0_hat: numbers not trusted")
                first = False
            for spec in extras:
                label = spec.labels()[-1]
                if (task, iid, label, spec.steps, "ours") in have:
                    continue
                ours = run_diffusion(ours_prior, p, spec, seed=a.seed)
                est = ours["mean"] if spec.samples > 1 else ours["sample"]
                rows.append({"task": task, "image": iid, "method": label, "steps": spec.steps, "side": "ours",
                             "psnr": psnr(p.x, est), "ssim": ssim(p.x, est), "nfe": ours["nfe"] * spec.samples,
                             "seconds": ours["seconds"]})
                print(f"{task} {iid} {label}: ours {rows[-1]['psnr']:.2f} dB {ours['seconds']:.2f} s", flush=True)
            for method in a.methods.split(","):
                for steps in (int(k) for k in a.steps.split(",")):
                    if {(task, iid, method, steps, side) for side in ("ours", "deepinv")} <= have:
                        continue
                    seed = task_seed(a.seed, f"{method}-{steps}", iid)
                    ours = run_diffusion(ours_prior, p, parse_method(f"{method}:{steps}"), seed=a.seed)
                    peer = run_peer(method, prior, denoiser, p, steps, seed % (2**31))
                    for side, est, nfe, secs in (("ours", ours["sample"], ours["nfe"], ours["seconds"]),
                                                 ("deepinv", peer["est"], peer["nfe"], peer["seconds"])):
                        rows.append({"task": task, "image": iid, "method": method, "steps": steps, "side": side,
                                     "psnr": psnr(p.x, est), "ssim": ssim(p.x, est), "nfe": nfe, "seconds": secs})
                    print(f"{task} {iid} {method}-{steps}: ours {rows[-2]['psnr']:.2f} dB {ours['seconds']:.2f} s "
                          f"{ours['nfe']:.0f} NFE | deepinv {rows[-1]['psnr']:.2f} dB {peer['seconds']:.2f} s "
                          f"{peer['nfe']} NFE", flush=True)
    tmp = csv_path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    tmp.replace(csv_path)
    lines = ["| task | method | steps | ours PSNR | deepinv PSNR | ours SSIM | deepinv SSIM | ours NFE | deepinv NFE "
             "| ours s / image | deepinv s / image |", "|---" * 11 + "|"]
    paired = {(r["task"], r["method"], r["steps"]) for r in rows if r["side"] == "deepinv"}
    keys = list(dict.fromkeys((r["task"], r["method"], r["steps"]) for r in rows if (r["task"], r["method"], r["steps"]) in paired))
    ours_only = list(dict.fromkeys((r["task"], r["method"], r["steps"]) for r in rows
                                   if (r["task"], r["method"], r["steps"]) not in paired))

    def stat(task, method, steps, side, field):
        v = np.array([r[field] for r in rows if (r["task"], r["method"], r["steps"], r["side"]) == (task, method, steps, side)], float)
        return v.mean(), (v.std(ddof=1) if len(v) > 1 else 0.0)

    for k in keys:
        cells = []
        for field, fmt in (("psnr", "{:.2f} ± {:.2f}"), ("ssim", "{:.3f} ± {:.3f}")):
            cells += [fmt.format(*stat(*k, side, field)) for side in ("ours", "deepinv")]
        cells += [f"{stat(*k, side, 'nfe')[0]:.0f}" for side in ("ours", "deepinv")]
        cells += [f"{stat(*k, side, 'seconds')[0]:.2f}" for side in ("ours", "deepinv")]
        lines.append(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(cells) + " |")
    if ours_only:
        lines += ["", "Ours only (`--ours-extra`; a mean's NFE counts all its draws):", "",
                  "| task | configuration | ours PSNR | ours SSIM | ours NFE | ours s / image |", "|---" * 6 + "|"]
        for k in ours_only:
            lines.append(f"| {k[0]} | {k[1]} | " + "{:.2f} ± {:.2f}".format(*stat(*k, "ours", "psnr")) + " | "
                         + "{:.3f} ± {:.3f}".format(*stat(*k, "ours", "ssim"))
                         + f" | {stat(*k, 'ours', 'nfe')[0]:.0f} | {stat(*k, 'ours', 'seconds')[0]:.2f} |")
    lines += ["", "Fastest configuration of ours (paired or `--ours-extra`) that reaches deepinv's best PSNR (means "
              "over the images):", "",
              "| task | deepinv best | its PSNR | its s / image | our fastest reaching it | its PSNR | its s / image "
              "| time ratio (ours / deepinv) |", "|---" * 8 + "|"]
    for task in dict.fromkeys(k[0] for k in keys):
        conf = [(m, st) for (t, m, st) in keys if t == task]
        theirs = max(conf, key=lambda c: stat(task, *c, "deepinv", "psnr")[0])
        target = stat(task, *theirs, "deepinv", "psnr")[0]
        mine = conf + [(m, st) for (t, m, st) in ours_only if t == task]
        ok = [c for c in mine if stat(task, *c, "ours", "psnr")[0] >= target]
        fast = min(ok, key=lambda c: stat(task, *c, "ours", "seconds")[0]) if ok else None
        fname = (fast[0] if (task, *fast) in ours_only else f"{fast[0]}-{fast[1]}") if fast else ""
        their_s = stat(task, *theirs, "deepinv", "seconds")[0]
        lines.append(f"| {task} | {theirs[0]}-{theirs[1]} | {target:.2f} | {their_s:.2f} | "
                     + (f"{fname} | {stat(task, *fast, 'ours', 'psnr')[0]:.2f} | "
                        f"{stat(task, *fast, 'ours', 'seconds')[0]:.2f} | "
                        f"{stat(task, *fast, 'ours', 'seconds')[0] / their_s:.2f} |" if fast else "none | | | |"))
    import deepinv

    head = (f"```\n{' '.join(['python -m lab.peers_deepinv', *(argv or __import__('sys').argv[1:])])}\n```\n\n"
            f"Machine: {machine()}, deepinv {getattr(deepinv, '__version__', '0.5')}. Date: "
            f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
            f"{a.images} images per task, sigma_y = {a.sigma_y}, mean ± std over images. Our network in "
            f"{a.precision}, deepinv's in fp32.\n\n")
    (out / "peers.md").write_text(head + "\n".join(lines) + "\n")
    print(head + "\n".join(lines))


if __name__ == "__main__":
    main()
