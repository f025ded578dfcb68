"""Every solver against the exact posterior of a Gaussian prior (the oracle).

    python -m restore.benchmarks.gaussian_oracle [--samples 500] [--steps 100] [--seed 0]

Data x' ~ N(m, C) on 1 x 6 x 6 images in the prior's [-1, 1] space (`gaussian_prior`, exact eps),
y = A x + sigma_y n on the [0, 1] scale. In prior space y' = A x' + n', n' ~ N(0, sigma'^2 I),
sigma' = 2 sigma_y, so the posterior is exactly Gaussian:
    mean = m + C A^T (A C A^T + sigma'^2 I)^{-1} (y' - A m),  cov = C - C A^T (A C A^T + sigma'^2 I)^{-1} A C.
For one observation per task, each solver draws `samples` restorations (one batch); the table
gives the excess MSE of the solver's mean over the MMSE, ||mean - mean*||^2 / ||std*||^2 (so 0.01
is 1 % of the MMSE; Monte Carlo alone adds about std_ratio^2 / samples), the std calibration
(mean over pixels of solver std / exact std, pixels with exact std > 1 % of the largest), the RMSE
of the solver's mean against the exact mean next to sqrt(MMSE) (both per pixel on [0, 1]) and the
number of network evaluations (NFE; DPS and PiGDM add one vector-Jacobian product each).
Noiseless tasks use the operator the solvers see, A A^+ A (singular values under A_pinv's rcond
dropped): the 3 x 3 blur is otherwise invertible and its noiseless posterior a point.
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from restore.operators import Blur, Downsample, Inpainting, add_noise, gaussian_kernel, random_mask, to_prior_space
from restore.priors import gaussian_prior, stationary_covariance

SHAPE = (1, 6, 6)
D = math.prod(SHAPE)
TASKS = ("inpaint", "blur", "sr-block", "sr-bicubic")  # blur: 3x3 Gaussian (std 1), reflect
SIGMAS = (0.0, 0.05)


def prior_moments() -> tuple[torch.Tensor, torch.Tensor]:
    """(m, C) in [-1, 1] space: a smooth mean and a stationary covariance of std 0.25."""
    yy, xx = torch.meshgrid(torch.arange(6, dtype=torch.float64), torch.arange(6, dtype=torch.float64), indexing="ij")
    m = (0.3 * torch.sin(0.6 * xx + 0.3) * torch.cos(0.4 * yy) - 0.1).flatten()
    return m, stationary_covariance(6, 6, 1, std=0.25, length=1.5)


def make_operator(task: str):
    if task == "inpaint":
        return Inpainting(random_mask(6, 6, 0.5, generator=torch.Generator().manual_seed(3)))
    if task == "blur":
        return Blur(gaussian_kernel(3, 1.0), "reflect")
    if task == "sr-block":
        return Downsample(2, "block")
    if task == "sr-bicubic":
        return Downsample(2, "bicubic")
    raise ValueError(f"unknown task {task!r}")


def dense(operator, truncated: bool = False) -> torch.Tensor:
    """The matrix of A (m x D) in float64, column j = A(e_j); truncated: that of A A^+ A, the operator
    without the singular values A_pinv drops (s <= rcond max s), which every solver treats as zero."""
    eye = torch.eye(D, dtype=torch.float64).reshape(D, *SHAPE)
    cols = operator.A(operator.A_pinv(operator.A(eye))) if truncated else operator.A(eye)
    return cols.reshape(D, -1).T.contiguous()


def exact_posterior(m, C, A, y_p, sigma_p) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and covariance of x' given y' = A x' + N(0, sigma_p^2 I), prior N(m, C).

    Computed with a pseudo-inverse so that exactly observed directions (sigma' = 0) and rows of
    A that are zero (masked pixels) are handled; the gain is C A^T (A C A^T + sigma'^2 I)^+."""
    S = A @ C @ A.T + sigma_p**2 * torch.eye(A.shape[0], dtype=torch.float64)
    K = C @ A.T @ torch.linalg.pinv(S, hermitian=True, rtol=1e-12)
    mean = m + K @ (y_p - A @ m)
    cov = C - K @ A @ C
    return mean, (cov + cov.T) / 2


def problem(task: str, sigma_y: float, seed: int = 0, moments: tuple | None = None) -> dict:
    """Prior, operator, one observation y (1, 1, 6, 6) on [0, 1] and the exact posterior on [0, 1].

    moments: (m, C) of the prior in [-1, 1] space, default `prior_moments()`."""
    m, C = moments if moments is not None else prior_moments()
    prior = gaussian_prior(m, C, SHAPE)
    op = make_operator(task)
    g = torch.Generator().manual_seed(seed)
    x_p = prior.net.sample(1, generator=g)  # [-1, 1]
    x = (x_p + 1) / 2
    y = add_noise(op.A(x), sigma_y, g)
    y_p, s_p = to_prior_space(op, y, sigma_y)
    A = dense(op, truncated=sigma_y == 0)  # noiseless: the solvers' effective operator (see `dense`)
    mean_p, cov_p = exact_posterior(m, C, A, y_p.flatten(), s_p)
    std = cov_p.diagonal().clamp(min=0).sqrt() / 2
    return {"prior": prior, "operator": op, "y": y, "x": x, "sigma_y": sigma_y, "A": A,
            "mean": ((mean_p + 1) / 2).reshape(1, *SHAPE), "std": std.reshape(1, *SHAPE)}


def compare(samples: torch.Tensor, prob: dict) -> dict:
    """Excess MSE over the MMSE (relative) and std calibration of draws (N, 1, C, H, W)."""
    mean, std = samples.mean(0), samples.std(0)
    mmse = float(prob["std"].pow(2).sum())
    excess = float((mean - prob["mean"]).pow(2).sum()) / mmse
    sel = prob["std"] > 0.01 * prob["std"].max()
    ratio = float((std[sel] / prob["std"][sel]).mean())
    return {"excess": excess, "std_ratio": ratio, "rmse": float((mean - prob["mean"]).pow(2).mean().sqrt()),
            "mmse": mmse / D}


# the solvers' settings used in the table and in tests/test_solvers.py: the defaults, except DPS,
# whose step is a fixed length in image space (zeta_t = zeta / ||r||), so that zeta depends on the
# image size and the number of steps: 0.2 (the reference code's scale 0.4) suits 100 steps on 6 x 6.
SETTINGS = {
    "ddnm": {},
    "ddnm_plus": {},
    "ddrm": {},
    "dps": {"zeta": 0.2},
    "pigdm": {},
    "diffpir": {},
    "repaint": {},
}


def applicable(method: str, task: str, sigma_y: float) -> bool:
    if method == "ddnm" or method == "repaint":
        return sigma_y == 0 and (method == "ddnm" or task == "inpaint")
    return True


def run(method: str, prob: dict, samples: int, steps: int, seed: int = 1, **kw) -> tuple[torch.Tensor, int]:
    """`samples` draws (N, 1, C, H, W) in one batch and the number of network evaluations."""
    from restore.solvers import METHODS

    calls = []
    y = prob["y"].repeat(samples, 1, 1, 1)
    x = METHODS[method](prob["prior"], prob["operator"], y, steps=steps, sigma_y=prob["sigma_y"],
                        generator=torch.Generator().manual_seed(seed), callback=lambda d: calls.append(d["i"]),
                        **{**SETTINGS[method], **kw})
    return x.reshape(samples, 1, *SHAPE), len(calls)


def table(samples: int = 500, steps: int = 100, seed: int = 0) -> str:
    rows = ["| solver | task | sigma_y | excess MSE / MMSE | std ratio | RMSE of mean | sqrt(MMSE) | NFE | s |",
            "|---|---|---|---|---|---|---|---|---|"]
    for sigma_y in SIGMAS:
        for task in TASKS:
            prob = problem(task, sigma_y, seed)
            for method in SETTINGS:
                if not applicable(method, task, sigma_y):
                    continue
                t0 = time.perf_counter()
                x, nfe = run(method, prob, samples, steps)
                c = compare(x, prob)
                rows.append(f"| {method} | {task} | {sigma_y} | {c['excess']:.4f} | {c['std_ratio']:.3f} "
                            f"| {c['rmse']:.4f} | {c['mmse'] ** 0.5:.4f} | {nfe} | {time.perf_counter() - t0:.2f} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(table(a.samples, a.steps, a.seed))


if __name__ == "__main__":
    main()
