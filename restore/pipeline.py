"""Run a restoration `Plan`: adapt the image to the prior's channels, solve each box, give it back.

`restore_image` and `restore_batch` make the plan (`restore.plan.make_plan`) and run it; the file
layer makes its plans itself (it needs them before anything runs) and calls `run`.
"""
from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from restore.operators.padding import periodic_pad
from restore.priors import load_prior as _load_prior_file
from restore.priors.ddpm import PRECISIONS, native_bf16, with_precision
from restore.priors.parallel import TileWorkers, process_group
from restore.priors.tiling import for_image
from restore.priors.train import resolve_device
from restore.solvers import coarse_to_fine

from .defaults import DEFAULT_PRECISION, DEFAULT_PRIOR
from .grain import add_grain, keep_noise
from .images import ImageData, from_prior_channels, give_back, give_back_std, load_image, to_prior_channels
from .plan import Plan, check_sigma_y, make_plan, window
from .starts import classical_estimate, is_warm, warm_chain

__all__ = ["load_prior", "resolve_precision", "noise_level", "run", "restore_image", "restore_batch"]


def resolve_precision(precision: str | None, device) -> str | None:
    """"auto" made bf16 on a CPU with native bfloat16 (priors.ddpm.native_bf16), fp32 elsewhere."""
    if precision != "auto":
        return precision
    d = torch.device(device)
    return "bf16" if d.type == "cpu" and native_bf16(d) else "fp32"


def load_prior(prior=None, device: str = "auto", precision: str | None = None):
    """The prior object: `prior` itself when it is one (at `precision` when given, else as it is),
    else the shipped prior or checkpoint it names (default DEFAULT_PRIOR) loaded on `device`, at
    `precision` (default DEFAULT_PRECISION). Load once and pass the object as `prior=` to restore
    many images without reading it again."""
    if precision is not None and precision != "auto" and precision not in PRECISIONS:  # checked before loading
        raise ValueError(f"precision must be auto or one of {', '.join(PRECISIONS)}, got {precision!r}")
    if hasattr(prior, "eps") and hasattr(prior, "schedule"):
        return with_precision(prior, resolve_precision(precision, prior.device))
    p = _load_prior_file(prior if prior is not None else DEFAULT_PRIOR, device=resolve_device(device))
    return with_precision(p, resolve_precision(DEFAULT_PRECISION if precision is None else precision, p.device))


def noise_level(image, sigma_y: float | None) -> float:
    """The sigma_y a restoration uses: the one given (checked: on [0, 0.5]), or the noise estimated
    from the image."""
    from restore.operators import estimate_noise

    sigma_y = check_sigma_y(sigma_y)
    return float(estimate_noise(load_image(image).x) if sigma_y is None else sigma_y)


def _solve(plan: Plan, p, y: Tensor, box, tiled: bool, sigma_y: float, g: torch.Generator, callback, pool):
    """The result (the posterior mean; with the natural look the first draw, or for deblur and sr the
    mean moved `plan.draw_share` of the way toward it) and the draws' std
    (B, C', H, W), float64 on the CPU, of observations y (the crop `box`) in the prior's channels,
    on a pyramid of `plan.levels` (1: `solve` itself)."""
    operator = plan.operator(box)
    chain = warm_chain(p.schedule, plan.steps, plan.strength, sigma_y)  # strength 1: the whole schedule
    x_init = classical_estimate(plan.command, operator, y, sigma_y) if is_warm(plan.strength) else None
    if callback is not None:  # each call also says the chain's length (a progress bar's total)
        report, callback = callback, lambda info: report({**info, "steps": len(chain)})
    process_group(plan.split_tiles)  # checked initialised, tiled or not
    # a patch prior's draws run one call each: a call's draws share one random tile offset, and
    # estimates with other offsets average better; a prior that sees the whole image runs them as one batch
    res = coarse_to_fine(lambda hw: for_image(p, hw, generator=g, workers=pool, ranks=plan.split_tiles),
                         operator, y, method=plan.method, num_samples=plan.samples, levels=plan.levels,
                         steps=chain, sigma_y=sigma_y, generator=g, clamp=True, callback=callback, x_init=x_init,
                         max_batch=y.shape[0] if tiled else None, **plan.method_options)
    out = res["mean"]
    if plan.draw_share:  # a deblurring's or sr's natural look: part of the way toward the first draw
        out = out + plan.draw_share * (res["samples"][0] - out)
    elif plan.look == "natural" and not plan.keep_noise:
        out = res["samples"][0]
    return out.double().cpu(), res["std"].double().cpu()


def _finish(plan: Plan, im: ImageData, mean: Tensor, std: Tensor, g: torch.Generator):
    """A restoration (C, H, W) given back in the image's own kind (a fill with its grain first)."""
    if not bool(torch.isfinite(mean).all()):  # never hand back NaN as a black image
        raise FloatingPointError(f"the {plan.method} restoration produced NaN or inf values")
    if plan.restore_share < 1:  # a shake found with low confidence: part of the way from the photo
        mean = im.x.to(mean) + plan.restore_share * (mean - im.x.to(mean))
        std = plan.restore_share * std
    if plan.grain:
        mean = add_grain(mean, plan.task["observed"][0], g)
    if plan.keep_noise:  # a denoising's natural look: some of the photo's own grain back
        mean = keep_noise(mean, im.x, plan.keep_noise)
    if plan.keep_observed:  # the observed pixels, exactly
        observed = plan.task["observed"].bool().expand_as(mean)
        mean = torch.where(observed, im.x, mean)
        std = torch.where(observed, torch.zeros_like(std), std)
    out = give_back(im, mean)
    return (out, std.float()) if plan.return_std else out


def run(plan: Plan, p, images: list[ImageData], sigma_y: float, seed: int = 0, callback=None,
        pool: TileWorkers | None = None) -> list:
    """Restore `images` (one size and number of channels; several only as one batch, not for
    regions) by `plan` with prior p; what `restore_image` returns for each. pool: the tile workers
    to use (left open); None: where the plan asks for more than one worker and the prior runs by
    tiles, a pool is opened for this call and closed before it returns."""
    with contextlib.ExitStack() as stack:
        if pool is None and plan.workers > 1 and any(tiled for _, tiled in plan.regions):
            pool = stack.enter_context(TileWorkers(p, plan.workers))
        return _run(plan, p, images, sigma_y, seed, callback, pool)


def _run(plan: Plan, p, images: list[ImageData], sigma_y: float, seed: int, callback, pool) -> list:
    c = images[0].x.shape[0]
    pc = int(getattr(p, "channels", None) or c)
    y_all = to_prior_channels(torch.stack([im.x for im in images]), pc).to(torch.float32)
    g = torch.Generator().manual_seed(int(seed))
    if plan.regions == ((None, plan.tiled),):
        h, w = y_all.shape[-2:]  # a periodic blur restores the smoothly periodic extension, then cuts it back
        y, cut = (periodic_pad(y_all, plan.pad), (..., slice(0, h), slice(0, w))) if plan.pad else (y_all, (...,))
        mean, std = (from_prior_channels(v[cut], c, pc) for v in _solve(plan, p, y, None, plan.tiled, sigma_y, g,
                                                                        callback, pool))
        return [_finish(plan, im, m, s, g) for im, m, s in zip(images, mean, std)]
    if len(images) > 1:
        raise ValueError("an inpainting restores one image at a time (each has its own holes)")
    im = images[0]
    mean, std = im.x.clone(), torch.zeros_like(im.x)
    for box, tiled in plan.regions:
        m, s = (from_prior_channels(v, c, pc)[0] for v in _solve(plan, p, y_all[window(box)], box, tiled, sigma_y,
                                                                 g, callback, pool))
        mean[window(box)], std[window(box)] = m, s
    return [_finish(plan, im, mean, std, g)]


def restore_image(image, command: str, task: dict, *, prior=None, method=None, steps=None, strength=None,
                  sigma_y=None, seed: int = 0, device: str = "auto", samples: int | None = None, levels: int = 1,
                  return_std: bool = False, margin: int | None = None, keep_observed: bool = False, callback=None,
                  precision: str | None = None, workers: int | None = None, split_tiles: bool = False,
                  method_options: dict | None = None, look: str | None = None):
    """Restore one image by `command` through the operator of `task` (`restore.plan.Plan`); the
    options are `make_plan`'s (method_options: the solver's own keywords), the result
    `restore.inpaint`'s (and the others'): the image in its own kind, and with return_std its
    standard deviation in that kind too (`restore.images.give_back_std`). workers: tile processes
    for this call (default 1: this process), or an open `restore.priors.parallel.TileWorkers` of
    the prior to use (left open: one pool for many calls)."""
    im = load_image(image)
    check_sigma_y(sigma_y)  # before the prior is loaded
    p = load_prior(prior, device, precision)
    sigma_y = noise_level(im, sigma_y)
    shape = (1, int(getattr(p, "channels", None) or im.x.shape[0]), *im.x.shape[-2:])
    pool = workers if isinstance(workers, TileWorkers) else None
    plan = make_plan(command, p, task, shape, method=method, steps=steps, strength=strength, samples=samples,
                     levels=levels, margin=margin, keep_observed=keep_observed, return_std=return_std,
                     workers=pool.n if pool else workers, split_tiles=split_tiles, method_options=method_options,
                     look=look)
    return _with_std_kind(plan, im, run(plan, p, [im], sigma_y, seed, callback, pool)[0])


def _with_std_kind(plan: Plan, im: ImageData, result):
    """A result of `run` with its standard deviation (a tensor) given back in the image's kind."""
    return (result[0], give_back_std(im, result[1])) if plan.return_std else result


def restore_batch(images, command: str, task: dict, *, prior=None, method=None, steps=None, strength=None,
                  sigma_y=None, seed: int = 0, device: str = "auto", samples: int | None = None, levels: int = 1,
                  return_std: bool = False, callback=None, precision: str | None = None, workers: int | None = None,
                  split_tiles: bool = False, method_options: dict | None = None, look: str | None = None) -> list:
    """Restore several images of one size and one number of channels as ONE batch: y of shape
    (N, C, H, W) through one solve (a tiled prior runs the N images' tiles in one list), a list of
    what `restore_image` returns for each. Not for inpaint (each image has its own holes).

    The batch draws its noise from one generator seeded with `seed`, so each image gets other
    random draws than in its own `restore_image` run (equally good ones, not the same numbers).
    sigma_y: one noise level for the whole batch; None estimates each image's and needs them equal."""
    if command == "inpaint":
        raise ValueError("inpaint restores one image at a time (each has its own mask)")
    ims = [load_image(im) for im in images]
    if not ims:
        return []
    shapes = {tuple(im.x.shape) for im in ims}
    if len(shapes) > 1:
        raise ValueError(f"a batch needs images of one size and number of channels, got {sorted(shapes)}")
    noise = {noise_level(im, sigma_y) for im in ims}
    if len(noise) > 1:
        raise ValueError("the images' estimated noise levels differ: give one sigma_y for the batch")
    p = load_prior(prior, device, precision)
    shape = (len(ims), int(getattr(p, "channels", None) or ims[0].x.shape[0]), *ims[0].x.shape[-2:])
    pool = workers if isinstance(workers, TileWorkers) else None
    plan = make_plan(command, p, task, shape, method=method, steps=steps, strength=strength, samples=samples,
                     levels=levels, return_std=return_std, workers=pool.n if pool else workers,
                     split_tiles=split_tiles, method_options=method_options, look=look)
    return [_with_std_kind(plan, im, r) for im, r in zip(ims, run(plan, p, ims, noise.pop(), seed, callback, pool))]
