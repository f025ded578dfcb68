"""How much of the noise's mean a prior's eps-network passes: the image-wide mean of each channel
(an image's overall colour) at large t, where colour casts in samples come from.

    python -m lab.mean_pass DATA CKPT [CKPT ...] [--subset A:B] [--num 64] [--t 1000,900,700]

For held-out images x0 (central crops at the prior's size) and noise eps, x_t = q_sample(x0, t, eps)
(seed eq. 12);
per image and channel, m(eps) and m(eps_theta) are the spatial means. "slope" regresses
m(eps_theta) on m(eps): near t = T, x_t is almost all noise, m(eps) can be read off x_t and a good
network has a slope near 1. "x0 spread" is the standard deviation over images of the channel means
of x0_hat (seed eq. 20, unclipped) from pure noise x_T: the spread of colours the sampler starts
from, against the data's own ("data spread"). A slope near 0 makes x0_hat's means noise amplified
by sqrt((1 - abar_T) / abar_T) (157x for the linear schedule), clipped to saturated colours.
"""
from __future__ import annotations

import argparse

import torch

from restore.priors.evaluate import held_out
from restore.priors.checkpoint import load_prior


def measure(prior, x0: torch.Tensor, ts, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    s, out = prior.schedule, {}
    for t in ts:
        eps = torch.randn(x0.shape, generator=g)
        with torch.no_grad():
            e = prior.eps(prior.q_sample(x0, t, eps), t)
        m, mh = eps.mean((2, 3)).flatten().double(), e.mean((2, 3)).flatten().double()
        out[f"slope t={t}"] = float((m * mh).sum() / (m * m).sum())
    x_T = torch.randn(x0.shape, generator=g)
    with torch.no_grad():
        x0_hat = prior.x0_hat(x_T, s.T, clip=False)
    out["x0 spread"] = float(x0_hat.mean((2, 3)).std(0).mean())
    out["data spread"] = float(x0.mean((2, 3)).std(0).mean())
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--subset", default=None, help="START:STOP of the files or .npz array (a held-out split)")
    ap.add_argument("--num", type=int, default=64)
    ap.add_argument("--t", default="1000,900,700")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    ts = [int(v) for v in a.t.split(",")]
    rows, gains = [], []
    for ck in a.checkpoints:
        prior = load_prior(ck)
        abar_T = float(prior.schedule.abar[-1])
        gains.append(round(((1 - abar_T) / abar_T) ** 0.5, 1))
        rows.append((ck, measure(prior, held_out(prior, a.data, subset=a.subset, num=a.num).float(), ts, a.seed)))
    keys = list(rows[0][1])
    print("| checkpoint | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for ck, r in rows:
        print(f"| {ck} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |")
    for gain in sorted(set(gains)):
        print(f"\nx0_hat at t = T scales an error in eps's mean by sqrt((1 - abar_T) / abar_T) = {gain:.1f}")


if __name__ == "__main__":
    main()
