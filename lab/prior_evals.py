"""Held-out bits/dim and eps-MSE of several checkpoints of one prior, as the markdown table of its
model card (`restore eval` on each, one row per checkpoint, in training order).

    python -m lab.prior_evals DATA CKPT [CKPT ...] [--subset A:B] [--num N] [--strata S]

CKPT: anything `load_prior` takes (a shipped name, a prior file, a training checkpoint folder
checkpoints/step-*, a run folder). The step and images seen come from the checkpoint itself.
"""
from __future__ import annotations

import argparse

import torch

from restore.priors.evaluate import evaluate


def rows(data, checkpoints, *, subset=None, num=64, strata=25, seed=0, device="cpu") -> list[dict]:
    out = []
    for ckpt in checkpoints:
        rep = evaluate(ckpt, data, subset=subset, num=num, strata=strata, seed=seed, device=device)
        out.append({"checkpoint": str(ckpt), "step": rep["train"].get("step"),
                    "images_seen": rep["train"].get("images_seen"), "images": rep["images"],
                    "bpd": rep["bits_per_dim"], "bpd_se": rep["bits_per_dim_se"], "eps_mse": rep["eps_mse"]})
    return sorted(out, key=lambda r: (r["images_seen"] is None, r["images_seen"] or 0))


def table(rs: list[dict]) -> str:
    lines = ["| step | images seen | held-out images | bits/dim (bound) | eps-MSE |", "|---|---|---|---|---|"]
    lines += [f"| {r['step']} | {r['images_seen']:,} | {r['images']} | {r['bpd']:.3f} ± {r['bpd_se']:.3f} | {r['eps_mse']:.4f} |"
              for r in rs]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data")
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--subset", default=None)
    ap.add_argument("--num", type=int, default=64)
    ap.add_argument("--strata", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(table(rows(a.data, a.checkpoints, subset=a.subset, num=a.num, strata=a.strata, seed=a.seed)))


if __name__ == "__main__":
    main()
