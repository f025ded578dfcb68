"""`restore eval`'s bound with the network in float64 against float32 (the bound's arithmetic in
float64 both times): bits/dim of each, their difference and the wall time of each, on the shipped
priors' validation images, the same t and noise draws in both (one seed).

    python -m lab.eval_precision [--priors faces,digits,natural] [--num 16] [--strata 50]
        [--repeats 2] [--threads 1] [--data ../shared/data]

The runs of the two precisions alternate (f64 f32, then f32 f64, ...) so that a machine's changing
load falls on both; the time ratio is of their total times.
"""
from __future__ import annotations

import argparse
import time

import torch

from restore.priors.evaluate import evaluate

# prior name -> (data under --data, subset): the validation split of each shipped prior's data
DATA = {"faces": ("faces/val", None), "digits": ("digits/mnist_t10k.npz", "8000:9000"), "natural": ("natural/val", None)}
DTYPES = {"f64": torch.float64, "f32": torch.float32}


def measure(prior: str, root: str, *, num=16, strata=50, repeats=2, seed=0) -> dict:
    data, subset = DATA[prior]
    bpd, se, seconds = {}, {}, {k: 0.0 for k in DTYPES}
    for r in range(repeats):
        for name in (list(DTYPES) if r % 2 == 0 else list(DTYPES)[::-1]):
            t0 = time.perf_counter()
            rep = evaluate(prior, f"{root}/{data}", subset=subset, num=num, strata=strata, seed=seed, device="cpu",
                           net_dtype=DTYPES[name])
            seconds[name] += time.perf_counter() - t0
            if bpd.setdefault(name, rep["bits_per_dim"]) != rep["bits_per_dim"]:
                raise RuntimeError(f"{prior} {name}: the bound changed between repeats (not deterministic)")
            se[name] = rep["bits_per_dim_se"]
    return {"prior": prior, "data": data + (f"[{subset}]" if subset else ""), "images": num, "strata": strata,
            "bpd_f64": bpd["f64"], "bpd_f32": bpd["f32"], "diff": bpd["f32"] - bpd["f64"], "se": se["f64"],
            "s_f64": seconds["f64"] / repeats, "s_f32": seconds["f32"] / repeats,
            "ratio": seconds["f64"] / seconds["f32"]}


def table(rows: list[dict]) -> str:
    lines = ["| prior | images | strata | bits/dim, f64 network | bits/dim, f32 network | f32 - f64 | s, f64 | s, f32 | f64/f32 time |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['prior']} ({r['data']}) | {r['images']} | {r['strata']} | {r['bpd_f64']:.6f} ± {r['se']:.3f} | "
              f"{r['bpd_f32']:.6f} | {r['diff']:+.2e} | {r['s_f64']:.1f} | {r['s_f32']:.1f} | {r['ratio']:.2f} |"
              for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--priors", default="faces,digits,natural")
    ap.add_argument("--num", type=int, default=16)
    ap.add_argument("--strata", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="../shared/data")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rows = []
    for name in [v.strip() for v in a.priors.split(",") if v.strip()]:
        if name not in DATA:
            ap.error(f"unknown prior {name!r}: {', '.join(DATA)}")
        rows.append(measure(name, a.data, num=a.num, strata=a.strata, repeats=a.repeats, seed=a.seed))
        print(table(rows[-1:]), flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
