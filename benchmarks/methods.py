"""Diffusion configurations of the benchmark: parse a method spec, decide where it applies, run it
through `restore.solvers.solve` with its costs measured.

A spec is NAME[:STEPS][:KEY=VALUE ...][:meanN], e.g. `ddrm`, `dps:100:zeta=1.0`, `ddrm:50:mean8`:
a solver of `restore.solvers.METHODS`, its steps (default 50) and keyword options, and meanN to
draw N posterior samples in one batch. The option `strength=S` (0 < S < 1, or `noise`) is a warm start as the
command line runs it (`restore.starts`): STEPS steps below t0 = S T, from the command's classical
estimate (harmonic fill, back-projected bicubic, Tikhonov deconvolution, the noisy image).
`default_spec(task)` is the command line's default (`restore.defaults.DEFAULTS`) for a task. A spec gives one row per image for its first draw
(label `ddrm-50`) and, with meanN, one more for the mean of the N draws (`ddrm-50 mean8`).

Costs per row: NFE = network evaluations of the image per draw (callbacks, i.e. forward eps
evaluations; DPS and Pi-GDM also take one vector-Jacobian product through the network per step,
and a tiled prior recording more than 256 tiles recomputes each tile batch in the backward pass),
times N for the mean;
seconds = wall time of the solve, a warm start's classical estimate included (the first draw's
row: that wall time / N, the draws run as one batch); peak_mb = `metrics.PeakRSS` over the solve.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from restore.images import from_prior_channels, to_prior_channels
from restore.priors.tiling import for_image
from restore.solvers import METHODS, solve

from .metrics import PeakRSS
from .tasks import INPAINTING, Case, task_seed

__all__ = ["MethodSpec", "parse_method", "applicable_method", "run_diffusion", "DEFAULT_STEPS", "COMMAND",
           "default_spec", "spec_text"]

DEFAULT_STEPS = 50
# the command line's command for each benchmark task
COMMAND = {"box": "inpaint", "random": "inpaint", "gauss": "deblur", "motion": "deblur", "levin": "deblur",
           "sr4": "sr", "denoise": "denoise"}


@dataclass(frozen=True)
class MethodSpec:
    name: str
    steps: int = DEFAULT_STEPS
    options: dict = field(default_factory=dict, hash=False, compare=False)
    samples: int = 1
    text: str = ""

    @property
    def label(self) -> str:
        opts = "".join(f" {k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.name}-{self.steps}{opts}"

    def labels(self) -> list[str]:
        """The row labels this spec produces: the first draw, and the mean when samples > 1."""
        return [self.label] + ([f"{self.label} mean{self.samples}"] if self.samples > 1 else [])


def _value(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


def parse_method(text: str) -> MethodSpec:
    """MethodSpec of NAME[:STEPS][:KEY=VALUE ...][:meanN] (module docstring)."""
    parts = [s.strip() for s in str(text).strip().split(":")]
    name = parts[0]
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r} in {text!r}: use one of {', '.join(METHODS)} or a baseline")
    steps, options, samples = DEFAULT_STEPS, {}, 1
    for s in parts[1:]:
        if s.isdigit():
            steps = int(s)
        elif s.startswith("mean") and s[4:].isdigit():
            samples = int(s[4:])
        elif "=" in s:
            k, v = s.split("=", 1)
            options[k.strip()] = _value(v.strip())
        else:
            raise ValueError(f"bad method spec {text!r}: expected NAME[:STEPS][:KEY=VALUE][:meanN]")
    if steps < 1 or samples < 1:
        raise ValueError(f"bad method spec {text!r}: steps and N must be >= 1")
    return MethodSpec(name, steps, options, samples, text)


def spec_text(spec: MethodSpec) -> str:
    """The spec text that parses back to `spec` (NAME:STEPS[:KEY=VALUE ...][:meanN])."""
    opts = "".join(f":{k}={v}" for k, v in sorted(spec.options.items()))
    return f"{spec.name}:{spec.steps}{opts}" + (f":mean{spec.samples}" if spec.samples > 1 else "")


# the shipped patch prior (32-px training crops): every suite's crops of it (64-128 px) run by tiles
TILED_PRIORS = ("natural",)


def default_spec(task: str, prior: str | None = None) -> str:
    """The command line's default configuration for `task` on the suites' images of `prior`
    (`restore.defaults.default`: by tiles for TILED_PRIORS; "auto" resolved on the task's operator) as a
    spec text, e.g. `ddrm:15:strength=0.1` for box inpainting (a 64-pixel image: the task's holes are
    those of the suites' faces)."""
    from restore.defaults import default
    from restore.plan import resolve_method
    from restore.starts import is_warm

    from .tasks import make_case

    p = make_case(task, torch.zeros(1, 64, 64), 0.0, seed=0, image_id="default",
                     levin=[torch.eye(9, dtype=torch.float64) / 9] * 8)  # a diagonal streak: no SVD
    d = default(COMMAND[task], prior in TILED_PRIORS, getattr(p.operator, "has_svd", False),
                p.operator.mask if task in INPAINTING else None)
    opts = {"strength": d.strength} if is_warm(d.strength) else {}
    return spec_text(MethodSpec(resolve_method(d.method, p.operator), int(d.steps), opts, int(d.samples)))


def applicable_method(spec: MethodSpec, p: Case) -> bool:
    """ddnm and repaint are noiseless methods (repaint: inpainting only); ddrm needs a cheap SVD."""
    if spec.name == "ddnm":
        return p.sigma_y == 0
    if spec.name == "repaint":
        return p.sigma_y == 0 and p.task in INPAINTING
    if spec.name == "ddrm":
        return bool(getattr(p.operator, "has_svd", False))
    return True


def run_diffusion(prior, p: Case, spec: MethodSpec, seed: int = 0, tiling: dict | None = None) -> dict:
    """Run `spec` on problem p: {sample (1, C, H, W), mean (or None), nfe (per draw), seconds, peak_mb}.

    The prior is tiled when the image is larger than its training size (`for_image`); a gray image
    with an RGB prior is restored as RGB and averaged back, an RGB image with a gray prior channel
    by channel (`restore.images.to_prior_channels`)."""
    from restore.starts import check_strength, classical_estimate, is_warm, warm_chain

    c = p.y.shape[1]
    pc = int(getattr(prior, "channels", None) or c)
    y = to_prior_channels(p.y, pc).to(torch.float32).contiguous()
    s = task_seed(seed, spec.label, p.image_id)
    model = for_image(prior, p.x.shape[-2:], generator=torch.Generator().manual_seed(s + 1), **(tiling or {}))
    options = dict(spec.options)
    strength = check_strength(options.pop("strength", 1.0))
    steps, x_init = spec.steps, None
    count = [0]

    def callback(d):
        count[0] += d["x"].shape[0]

    device = getattr(prior, "device", torch.device("cpu"))
    with PeakRSS(device) as mem:
        t0 = time.perf_counter()
        if is_warm(strength):  # a warm start, as restore.api runs it; its classical estimate is timed too
            steps = warm_chain(model.schedule, spec.steps, strength, float(p.sigma_y))
            x_init = classical_estimate(COMMAND[p.task], p.operator, y, float(p.sigma_y))
        res = solve(model, p.operator, y, spec.name, num_samples=spec.samples, steps=steps, sigma_y=p.sigma_y,
                    generator=torch.Generator().manual_seed(s), clamp=True, callback=callback, x_init=x_init,
                    **options)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
    sample, mean = (from_prior_channels(v.float().cpu(), c, pc) for v in (res["samples"][0], res["mean"]))
    return {"sample": sample, "mean": mean if spec.samples > 1 else None, "nfe": count[0] / spec.samples,
            "seconds": seconds, "peak_mb": mem.mb}
