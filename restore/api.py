"""The high-level API photo pipelines use: restore.inpaint / deblur / super_resolve / denoise.

Each takes an image as a numpy array (HW or HWC, uint8, uint16 or float on [0, 1]), a PIL image or
a torch tensor ((C, H, W) on [0, 1]) and returns the same kind. Masks mark the pixels to FILL
(True/1/white = fill, as image editors do). Gray images stay gray, an alpha channel is carried
through unchanged, 16-bit stays 16-bit. The restoration is the mean of `samples` posterior draws;
`return_std=True` also returns their per-pixel standard deviation (an uncertainty map).

An inpainting changes only the pixels it is asked to fill: it restores each hole's bounding box
plus a margin of context, and every other pixel comes back bit-identical.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

__all__ = ["inpaint", "deblur", "super_resolve", "denoise", "COMMANDS", "DEFAULTS", "TILED_DEFAULTS",
           "NO_SVD_BLUR_DEFAULT", "Default",
           "SMALL_HOLES_DEFAULT", "small_holes", "default", "check_scale", "command_operator",
           "estimate_noise", "noise_level", "parse_kernel", "resolve_method", "to_prior_channels", "from_prior_channels",
           "restore_image", "restore_batch"]

class Default(NamedTuple):
    """A command's default solver, number of steps (network evaluations per draw), warm-start
    strength (the chain starts at t0 = strength T from the command's classical estimate; 1: from
    pure noise; "noise": at the step whose noise level equals y's, `restore.starts.noise_strength`)
    and number of posterior draws whose mean is returned (1: one draw)."""

    method: str
    steps: int
    strength: float | str = 1.0
    samples: int = 1


# Chosen on val splits only, by one rule (benchmarks/RESULTS.md, "How the defaults were chosen"):
# among the candidates scored on natural/val whole photos, the best mean PSNR within 15 network
# evaluations per image (steps x samples), then the cheapest within 0.05 dB of it; not a candidate
# that loses more than 0.5 dB to the earlier default on another val set of the command (faces/val,
# digits/val, natural/val's motion blur). Those picks are TILED_DEFAULTS, for a patch prior run by
# tiles on a photo larger than its training size (the natural prior on any real photo) through an
# operator with a cheap SVD (masks, separable blurs, downsampling); a blur without one there (a
# camera shake) has its own pick by the same rule on natural/val's motion blur, NO_SVD_BLUR_DEFAULT.
# Elsewhere (DEFAULTS): a prior that sees the whole image (faces, digits at their own size: the
# 15-step warm chains lost 1.5-3.9 dB on x4 or motion blur there) keeps 50 steps from noise for sr
# and deblur. Its inpainting was chosen on 32
# faces/val faces by the same rule with the earlier default's budget (50 network evaluations), per
# kind of hole: the mean of 3 warm 15-step chains, from strength 0.4 (a 32-pixel box: 26.90 dB
# against 26.26 from noise) or, where every hole is small (`small_holes`), 0.1 (70 % of the pixels
# missing: 28.67 against 25.90); on digits/val both gain (+1.5 and +3.7 dB). "auto": DDRM where the
# operator has a cheap SVD, Pi-GDM otherwise.
DEFAULTS = {"inpaint": Default("ddrm", 15, 0.4, 3), "deblur": Default("auto", 50), "sr": Default("ddrm", 50),
            "denoise": Default("ddrm", 1, "noise", 4)}
TILED_DEFAULTS = {**DEFAULTS, "inpaint": Default("ddrm", 7, 0.1, 2), "deblur": Default("auto", 6, 0.2, 2),
                  "sr": Default("ddrm", 6, 0.1, 2)}
# a photo run by tiles through a blur without a cheap SVD (a camera shake): the same rule on
# natural/val's motion blur (4 photos): Pi-GDM ("auto") 15 steps from strength 0.5 of the Tikhonov
# estimate, 24.68 dB against 24.67 for 50 steps from noise (the earlier default) and 22.67 from
# strength 0.2 (benchmarks/whole-photo/motion-val, motion-val-budget)
NO_SVD_BLUR_DEFAULT = Default("auto", 15, 0.5)
# every pixel to fill within SMALL_HOLE pixels (Chebyshev) of an observed one: scattered missing
# pixels, scratches (`small_holes`)
SMALL_HOLE = 4
SMALL_HOLES_DEFAULT = Default("ddrm", 15, 0.1, 3)


def default(command: str, by_tiles: bool, has_svd: bool = True, observed: Tensor | None = None) -> Default:
    """The command's defaults: TILED_DEFAULTS where a patch prior runs by tiles
    (`restore.priors.tiling.runs_by_tiles`) through an operator with a cheap SVD, NO_SVD_BLUR_DEFAULT
    for a deblurring there through one without; else SMALL_HOLES_DEFAULT for an inpainting whose
    mask `observed` (1 = observed) has only small holes (`small_holes`, computed only where the
    by-tiles table does not apply), else DEFAULTS."""
    if command not in DEFAULTS:
        raise ValueError(f"unknown command {command!r}: use one of {', '.join(DEFAULTS)}")
    if by_tiles and has_svd:
        return TILED_DEFAULTS[command]
    if by_tiles and command == "deblur":
        return NO_SVD_BLUR_DEFAULT
    if command == "inpaint" and observed is not None and small_holes(observed):
        return SMALL_HOLES_DEFAULT
    return DEFAULTS[command]


def small_holes(observed: Tensor) -> bool:
    """Whether every pixel to fill lies within SMALL_HOLE pixels (Chebyshev distance) of an observed
    one; observed (..., H, W), 1 = observed. False where nothing is observed."""
    m = observed.reshape(-1, 1, *observed.shape[-2:]).float()
    near = torch.nn.functional.max_pool2d(m, 2 * SMALL_HOLE + 1, stride=1, padding=SMALL_HOLE)
    return bool((near > 0).all())


# context around each hole that an inpainting restores (pixels on each side of its bounding box)
DEFAULT_MARGIN = 32
DEFAULT_PRIOR = "natural"
# the network forward's precision (restore.priors.ddpm.PRECISIONS) for a prior loaded by name or path:
# "auto" = bf16 on a CPU that computes it natively (measured: faster, validation PSNR within 0.01 dB;
# CHANGELOG 0.1.0, python -m restore.benchmarks.whole_photo --precision), fp32 elsewhere (unmeasured)
DEFAULT_PRECISION = "auto"


def resolve_precision(precision: str | None, device) -> str | None:
    """"auto" made bf16 on a CPU with native bfloat16 (priors.ddpm.native_bf16), fp32 elsewhere."""
    from restore.priors.ddpm import native_bf16

    if precision != "auto":
        return precision
    d = torch.device(device)
    return "bf16" if d.type == "cpu" and native_bf16(d) else "fp32"


@dataclass
class _Image:
    """An image as (C, H, W) float64 on [0, 1] plus what is needed to give it back in its own kind."""

    x: Tensor
    alpha: Tensor | None
    kind: str  # numpy | pil | torch
    dtype: Any
    mode: str | None
    info: dict
    hw_only: bool = False


def _from_numpy(a: np.ndarray) -> tuple[Tensor, Any, bool]:
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"image array must be HW or HWC with 1-4 channels, got shape {a.shape}")
    if a.size == 0:
        raise ValueError("image is empty")
    if a.dtype == np.uint8:
        f = a.astype(np.float64) / 255
    elif a.dtype == np.uint16:
        f = a.astype(np.float64) / 65535
    elif a.dtype == np.bool_:
        f = a.astype(np.float64)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("image contains NaN or inf")
        f = a.astype(np.float64)
        if f.min() < -1e-6 or f.max() > 1 + 1e-6:
            raise ValueError("float images must lie on [0, 1]")
    else:
        raise ValueError(f"unsupported image dtype {a.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(f))
    return (t[None] if a.ndim == 2 else t.permute(2, 0, 1)), a.dtype, a.ndim == 2


def result_mode(mode: str, info: dict) -> str:
    """The PIL mode a restored image of `mode` comes back in: L, LA, RGB, RGBA and F (32-bit float)
    are kept, 16-bit and 32-bit integer gray become I;16, anything else (palette, CMYK, ...) RGBA
    when it has alpha or a transparent colour, else RGB."""
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        return "I;16"
    if mode in ("L", "LA", "RGB", "RGBA", "F"):
        return mode
    return "RGBA" if "A" in mode or "transparency" in info else "RGB"


def _load(image) -> _Image:
    """The image decoded and checked (an `_Image` passes through: a file is decoded once)."""
    if isinstance(image, _Image):
        return image
    if isinstance(image, Image.Image):
        mode, info = image.mode, dict(image.info)
        target = result_mode(mode, info)
        if target == "I;16":
            a = np.asarray(image).astype(np.uint16) if mode != "I" else np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
        elif target == mode:  # F: 32-bit float (TIFF), on [0, 1], checked
            a = np.asarray(image)
        else:
            a = np.asarray(image.convert(target))
        x, dtype, hw = _from_numpy(a)
        kind = "pil"
    elif isinstance(image, Tensor):
        if image.ndim != 3 or not image.is_floating_point():
            raise ValueError(f"tensor images must be float (C, H, W) on [0, 1], got {tuple(image.shape)} {image.dtype}")
        x, dtype, hw, mode, info, kind = image.detach().double().cpu(), image.dtype, False, None, {}, "torch"
        if not torch.isfinite(x).all() or x.min() < -1e-6 or x.max() > 1 + 1e-6:
            raise ValueError("tensor image must be finite and on [0, 1]")
    elif isinstance(image, np.ndarray):
        x, dtype, hw = _from_numpy(image)
        mode, info, kind = None, {}, "numpy"
    else:
        raise ValueError(f"unsupported image type {type(image).__name__}: use a numpy array, PIL image or tensor")
    alpha = None
    if x.shape[0] in (2, 4):
        x, alpha = x[:-1], x[-1:]
    return _Image(x.clamp(0, 1), alpha, kind, dtype, mode, info, hw)


def _give_back(im: _Image, x: Tensor):
    x = x.detach().double().cpu().clamp(0, 1)
    if im.alpha is not None:
        alpha = im.alpha
        if alpha.shape[-2:] != x.shape[-2:]:  # super-resolution: resize the alpha too
            alpha = torch.nn.functional.interpolate(alpha[None], size=x.shape[-2:], mode="bicubic")[0].clamp(0, 1)
        x = torch.cat([x, alpha])
    if im.kind == "torch":
        return x.to(im.dtype)
    a = x.permute(1, 2, 0).numpy()
    if im.hw_only:
        a = a[..., 0]
    if im.dtype == np.uint8:
        a = np.round(a * 255).astype(np.uint8)
    elif im.dtype == np.uint16:
        a = np.round(a * 65535).astype(np.uint16)
    elif im.dtype == np.bool_:
        a = a > 0.5
    else:
        a = a.astype(im.dtype)
    if im.kind == "numpy":
        return a
    if im.dtype == np.uint16:
        out = Image.fromarray(a if a.ndim == 2 else a[..., 0])  # PIL holds 16-bit gray only
    else:
        out = Image.fromarray(a)
    if "icc_profile" in im.info:
        out.info["icc_profile"] = im.info["icc_profile"]
    return out


def estimate_noise(x: Tensor, patch: int = 7, max_patches: int = 40000) -> float:
    """Noise standard deviation on [0, 1] of an image (C, H, W): the patch-PCA estimator of Chen,
    Zhu & Heng (ICCV 2015). The covariance of the image's patch x patch x C patches has the noise
    variance as its smallest eigenvalues, where the image's own structure adds none; sorted in
    decreasing order, the tail whose mean first falls to its median is taken as that noise.
    On 8 natural/val photos with noise of std 0.01 / 0.025 / 0.05 added it estimates 0.0098-0.0124
    / 0.0235-0.0252 / 0.0464-0.0499, scikit-image's wavelet estimator (estimate_sigma) 0.012-0.032
    / 0.025-0.041 / 0.047-0.060: it counts texture as noise (`python -m
    restore.benchmarks.noise_estimate DATA`). Images with fewer than 3x as many patches as a patch
    has values fall back to scikit-image's estimate.
    The patches are a regular subsample (every k-th row and column of positions), not random."""
    a = x.detach().double().cpu().permute(1, 2, 0).numpy()
    h, w, c = a.shape
    d = patch * patch * c
    if (h - patch + 1) * (w - patch + 1) < 3 * d or min(h, w) < patch:
        from skimage.restoration import estimate_sigma

        return float(estimate_sigma(a, channel_axis=-1, average_sigmas=True))
    k = max(1, int(np.ceil(np.sqrt((h - patch + 1) * (w - patch + 1) / max_patches))))
    views = np.lib.stride_tricks.sliding_window_view(a, (patch, patch, c))[::k, ::k]  # (h', w', 1, p, p, c)
    P = views.reshape(-1, d)
    P = P - P.mean(0)
    lam = np.linalg.eigvalsh(P.T @ P / len(P))[::-1]  # decreasing
    for i in range(len(lam)):
        tail = lam[i:]
        if tail.mean() <= np.median(tail):
            break
    return float(np.sqrt(max(float(tail.mean()), 0.0)))


def noise_level(image, sigma_y: float | None) -> float:
    """The sigma_y a restoration uses: the one given, or the noise estimated from the image."""
    return float(estimate_noise(_load(image).x) if sigma_y is None else sigma_y)


def parse_kernel(spec: str, generator: torch.Generator | None = None) -> Tensor:
    """gaussian:STD[:SIZE] | motion:INTENSITY[:SEED] | uniform:SIZE | a kernel file (PNG, NPY, NPZ[:key])."""
    from restore.operators import gaussian_kernel, load_kernel, motion_kernel, uniform_kernel

    kind, _, rest = str(spec).partition(":")
    try:
        if kind == "gaussian":
            parts = rest.split(":")
            std = float(parts[0])
            size = int(parts[1]) if len(parts) > 1 else 2 * int(np.ceil(3 * std)) + 1
            return gaussian_kernel(size, std)
        if kind == "motion":
            parts = rest.split(":") if rest else ["0.5"]
            g = torch.Generator().manual_seed(int(parts[1])) if len(parts) > 1 else (generator or torch.Generator().manual_seed(0))
            return motion_kernel(61, float(parts[0]), generator=g)
        if kind == "uniform":
            return uniform_kernel(int(rest))
    except (TypeError, IndexError, OverflowError) as e:
        raise ValueError(f"bad kernel {spec!r}: {e}") from None
    except ValueError as e:
        raise ValueError(f"bad kernel {spec!r}: {e}") from None
    return load_kernel(spec)


def to_prior_channels(y: Tensor, prior_channels: int) -> Tensor:
    """Observations (B, C, H, W) as a prior of `prior_channels` channels sees them: a gray image
    with an RGB prior is restored as RGB (its channel repeated); an RGB image with a gray prior is
    restored channel by channel (each image's channels become 3 items of the batch, (3 B, 1, H, W))."""
    b, c = y.shape[:2]
    if prior_channels == 3 and c == 1:
        return y.expand(b, 3, *y.shape[-2:])
    if prior_channels == 1 and c == 3:
        return y.reshape(b * 3, 1, *y.shape[-2:])
    return y


def from_prior_channels(x: Tensor, channels: int, prior_channels: int) -> Tensor:
    """A result of `to_prior_channels` back to the images' `channels` (B, channels, H, W): RGB
    averaged to gray, or each image's 3 gray items of the batch back to its RGB channels."""
    if prior_channels == 3 and channels == 1:
        return x.mean(1, keepdim=True)
    if prior_channels == 1 and channels == 3:
        return x.reshape(-1, 3, *x.shape[-2:])
    return x


def resolve_method(method: str, operator) -> str:
    """`method`, with "auto" made DDRM where the operator has a cheap SVD and Pi-GDM otherwise."""
    if method != "auto":
        return method
    return "ddrm" if getattr(operator, "has_svd", False) else "pigdm"


def _prior(prior, device, precision: str | None = None):
    """The prior object: `prior` itself when it is one (at `precision` when given, else as it is),
    else the shipped prior or checkpoint it names (default DEFAULT_PRIOR) loaded on `device`, at
    `precision` (default DEFAULT_PRECISION)."""
    from restore.priors import load_prior
    from restore.priors.ddpm import PRECISIONS, with_precision
    from restore.priors.train import resolve_device

    if precision is not None and precision != "auto" and precision not in PRECISIONS:  # checked before loading
        raise ValueError(f"precision must be auto or one of {', '.join(PRECISIONS)}, got {precision!r}")
    if hasattr(prior, "eps") and hasattr(prior, "schedule"):
        return with_precision(prior, resolve_precision(precision, prior.device))
    p = load_prior(prior if prior is not None else DEFAULT_PRIOR, device=resolve_device(device))
    return with_precision(p, resolve_precision(DEFAULT_PRECISION if precision is None else precision, p.device))


def _window(box: tuple[int, int, int, int]) -> tuple:
    """The index of the crop box = (top, left, h, w) in an image (..., H, W)."""
    return (..., slice(box[0], box[0] + box[2]), slice(box[1], box[1] + box[3]))


def command_operator(command: str, *, observed: Tensor | None = None, kernel: Tensor | None = None,
                     scale: int | None = None, box: tuple[int, int, int, int] | None = None):
    """The operator a command restores through (and --degrade applies), for the crop `box` =
    (top, left, h, w) of the image (None: all of it): inpaint an `Inpainting` of `observed` (1, H, W),
    1 = observed; deblur a `Blur` of `kernel`; sr a bicubic `Downsample` by `scale`; denoise the identity."""
    from restore.operators import Blur, Denoise, Downsample, Inpainting

    if command == "inpaint":
        return Inpainting(observed if box is None else observed[_window(box)])
    if command == "deblur":
        return Blur(kernel)
    if command == "sr":
        return Downsample(scale, "bicubic")
    if command == "denoise":
        return Denoise()
    raise ValueError(f"unknown command {command!r}: use one of {', '.join(DEFAULTS)}")


def _options(command: str, p, task: dict, y: Tensor, method, steps, strength,
             samples, return_std: bool = False) -> tuple[str, int, float | str, int]:
    """method, steps, strength (checked: a number or "noise") and samples, where None the command's
    defaults (`default`) for prior p and observations y (B, C, H, W) through the command's operator;
    a standard deviation (return_std) needs at least 2 draws (ValueError, not a map of zeros)."""
    from restore.priors.tiling import runs_by_tiles

    from .starts import check_strength

    operator = command_operator(command, **task)
    by_tiles = runs_by_tiles(p, operator.x_shape_of(tuple(y.shape))[-2:])
    d = default(command, by_tiles, getattr(operator, "has_svd", False), task.get("observed"))
    samples = d.samples if samples is None else int(samples)
    if return_std and samples < 2:
        raise ValueError(f"an uncertainty map (the draws' standard deviation) needs at least 2 draws; this "
                         f"restoration makes {samples}: give samples (--samples) of 2 or more")
    return method or d.method, int(steps or d.steps), check_strength(d.strength if strength is None else strength), samples


def _workers(p, workers):
    """The tile workers of a restoration: a `TileWorkers` pool as given, else a number checked (default 1)."""
    from restore.priors.parallel import TileWorkers

    if isinstance(workers, TileWorkers):
        return workers
    if workers is not None and int(workers) < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return 1 if workers is None else int(workers)


def _solve(p, command: str, task: dict, y: Tensor, box, sigma_y: float, g: torch.Generator, method: str, steps: int,
           strength: float | str, samples: int, levels: int, callback, workers,
           method_options: dict, split_tiles: bool = False) -> tuple[Tensor, Tensor]:
    """The posterior mean and std (B, C', H, W), float64 on the CPU, of observations y in the
    prior's channels, restored through `command_operator(command, box=box, **task)`, on a pyramid
    of `levels` (`_check_levels`; 1: `solve` itself) whose every level runs the same warm chain."""
    from restore.priors.parallel import TileWorkers, process_group
    from restore.priors.tiling import for_image, runs_by_tiles
    from restore.solvers import coarse_to_fine

    from .starts import classical_estimate, is_warm, warm_chain

    operator = command_operator(command, box=box, **task)
    # a patch prior's draws run one call each: a call's draws share one random tile offset, and
    # estimates with other offsets average better (the denoising default's mean of 4: +0.14 dB on
    # natural/val, CHANGELOG); a prior that sees the whole image runs them as one batch
    tiled = runs_by_tiles(p, operator.x_shape_of(tuple(y.shape))[-2:])
    chain = warm_chain(p.schedule, steps, strength, sigma_y)  # strength 1: the whole schedule, from noise
    x_init = classical_estimate(command, operator, y, sigma_y) if is_warm(strength) else None
    if callback is not None:  # each call also says the chain's length (a progress bar's total)
        report, callback = callback, lambda info: report({**info, "steps": len(chain)})
    process_group(split_tiles)  # checked initialised, tiled or not
    with contextlib.ExitStack() as stack:
        if not isinstance(workers, TileWorkers):  # a number: this call's own pool (CPU tiles only), closed on return
            workers = stack.enter_context(TileWorkers(p, workers)) if tiled and workers > 1 else None
        # a patch prior runs by tiles on larger images
        res = coarse_to_fine(lambda hw: for_image(p, hw, generator=g, workers=workers, ranks=split_tiles),
                             operator, y, method=resolve_method(method, operator), num_samples=samples, levels=levels,
                             steps=chain, sigma_y=sigma_y, generator=g, clamp=True, callback=callback, x_init=x_init,
                             max_batch=y.shape[0] if tiled else None, **method_options)
    return res["mean"].double().cpu(), res["std"].double().cpu()


def _check_levels(levels, strength: float | str) -> int:
    """The pyramid's levels (`restore.solvers.pyramid`), checked: an integer >= 1, and more than
    one only for a warm start (strength < 1): each finer level starts from the coarser result."""
    from restore.solvers.pyramid import check_levels

    from .starts import is_warm

    levels = check_levels(levels)
    if levels > 1 and not is_warm(strength):
        raise ValueError(f"levels > 1 needs a warm start (strength < 1, got {strength:g}): each finer level "
                         "starts from the coarser result at t0 = strength x T")
    return levels


def _finish(im: _Image, mean: Tensor, std: Tensor, method: str, keep_observed: Tensor | None, return_std: bool):
    """A restoration (C, H, W) given back in the image's own kind (module docstring)."""
    if not bool(torch.isfinite(mean).all()):  # never hand back NaN as a black image
        raise FloatingPointError(f"the {method} restoration produced NaN or inf values")
    if keep_observed is not None:  # the observed pixels, exactly
        observed = keep_observed.bool().expand_as(mean)
        mean = torch.where(observed, im.x, mean)
        std = torch.where(observed, torch.zeros_like(std), std)
    out = _give_back(im, mean)
    return (out, std.float()) if return_std else out


def restore_image(image, command: str, task: dict, *, prior=None, method=None, steps=None, strength=None,
                  sigma_y=None, seed: int = 0, device: str = "auto", samples: int | None = None, levels: int = 1,
                  return_std: bool = False, keep_observed: Tensor | None = None,
                  regions: list[tuple[int, int, int, int]] | None = None, callback=None, precision: str | None = None,
                  workers: int | None = None, split_tiles: bool = False, **method_options):
    """The shared path of the four functions: load, adapt channels to the prior, solve, give back.

    The operator is `command_operator(command, **task)` of each restored crop. regions: restore
    only these boxes (the rest of the result is the image itself); keep_observed (1, H, W), 1 = observed:
    those pixels come back as they are (an inpainting's observed pixels). precision: the network
    forward's precision, "fp32", "bf16", "fp16" (CUDA only) or "auto" (bf16 on a CPU with native
    bfloat16, fp32 elsewhere) (default: DEFAULT_PRECISION, "auto", for a prior given by name, a prior
    object's own otherwise). workers: processes a tiled prior's tile batches
    are split across on a CPU (default 1: this process; n > 1: a pool forked for the call and stopped
    after it; a `restore.priors.parallel.TileWorkers` of the prior: that pool, left open); the
    result does not depend on it. split_tiles: every network evaluation's tiles are shared out across
    the ranks of torch.distributed's default process group (it must be initialised; every rank calls
    with the same arguments and seed, and rank 0's result is the one to keep; `TiledPrior`'s ranks);
    the result does not depend on it either. levels: coarse to fine (`restore.solvers.coarse_to_fine`): each
    crop restored first at 1/2^(levels-1) of its size (fewer levels where a coarser one would fit in
    the prior's window), then at each finer scale from the coarser result, every level by the
    same warm chain (strength < 1; inpaint and denoise only); 1: at the image's own scale."""
    im = _load(image)
    p = _prior(prior, device, precision)
    workers = _workers(p, workers)
    sigma_y = noise_level(im, sigma_y)
    c = im.x.shape[0]
    pc = int(getattr(p, "channels", None) or c)
    y_all = to_prior_channels(im.x[None], pc).to(torch.float32)
    method, steps, strength, samples = _options(command, p, task, y_all, method, steps, strength, samples,
                                                       return_std)
    levels = _check_levels(levels, strength)
    g = torch.Generator().manual_seed(int(seed))
    mean = std = None
    for box in regions or [None]:
        y = y_all if box is None else y_all[_window(box)]
        m, s = (from_prior_channels(v, c, pc)[0] for v in _solve(p, command, task, y, box, sigma_y, g, method, steps,
                                                                 strength, samples, levels, callback, workers,
                                                                 method_options, split_tiles))
        if box is None:
            mean, std = m, s
            continue
        if mean is None:
            mean, std = im.x.clone(), torch.zeros_like(im.x)
        mean[_window(box)], std[_window(box)] = m, s
    return _finish(im, mean, std, method, keep_observed, return_std)


def restore_batch(images, command: str, task: dict, *, prior=None, method=None, steps=None, strength=None,
                  sigma_y=None, seed: int = 0, device: str = "auto", samples: int | None = None, levels: int = 1,
                  return_std: bool = False, callback=None, precision: str | None = None, workers: int | None = None,
                  split_tiles: bool = False, **method_options) -> list:
    """Restore several images of one size and one number of channels as ONE batch: y of shape
    (N, C, H, W) through one solve (a tiled prior runs the N images' tiles in one list), a list of
    what `restore_image` returns for each. Not for inpaint (each image has its own holes).

    The batch draws its noise from one generator seeded with `seed`, so each image gets other
    random draws than in its own `restore_image` run (equally good ones, not the same numbers).
    sigma_y: one noise level for the whole batch; None estimates each image's and needs them equal."""
    if command == "inpaint":
        raise ValueError("inpaint restores one image at a time (each has its own mask)")
    ims = [_load(im) for im in images]
    if not ims:
        return []
    shapes = {tuple(im.x.shape) for im in ims}
    if len(shapes) > 1:
        raise ValueError(f"a batch needs images of one size and number of channels, got {sorted(shapes)}")
    noise = {noise_level(im, sigma_y) for im in ims}
    if len(noise) > 1:
        raise ValueError("the images' estimated noise levels differ: give one sigma_y for the batch")
    p = _prior(prior, device, precision)
    workers = _workers(p, workers)
    c = ims[0].x.shape[0]
    pc = int(getattr(p, "channels", None) or c)
    y = to_prior_channels(torch.stack([im.x for im in ims]), pc).to(torch.float32)
    method, steps, strength, samples = _options(command, p, task, y, method, steps, strength, samples, return_std)
    levels = _check_levels(levels, strength)
    g = torch.Generator().manual_seed(int(seed))
    mean, std = (from_prior_channels(v, c, pc) for v in _solve(p, command, task, y, None, noise.pop(), g, method,
                                                               steps, strength, samples, levels, callback, workers,
                                                               method_options, split_tiles))
    return [_finish(im, m, s, method, None, return_std) for im, m, s in zip(ims, mean, std)]


def _mask_tensor(mask, shape) -> Tensor:
    """A fill-mask (True/1/white = fill) as (1, H, W) float with 1 = observed."""
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask.convert("L")) > 127
    if isinstance(mask, Tensor):
        m = mask.detach().cpu().double()
    else:
        m = torch.from_numpy(np.asarray(mask).astype(np.float64))
        if m.ndim == 3:
            m = m.amax(-1)
    m = m.reshape(-1, *m.shape[-2:])[:1]
    if tuple(m.shape[-2:]) != tuple(shape[-2:]):
        raise ValueError(f"mask size {tuple(m.shape[-2:])} differs from the image size {tuple(shape[-2:])}")
    fill = m > 0.5
    if not fill.any():
        raise ValueError("mask is empty: nothing to fill")
    if fill.all():
        raise ValueError("mask covers the whole image: nothing is observed")
    return (~fill).double()


def inpaint(image, mask, *, margin: int = DEFAULT_MARGIN, denoise_rest: bool = False, **options):
    """Fill the pixels where `mask` is True/1 (image-editor convention) from the prior.

    Only the holes' bounding boxes plus `margin` pixels of context are restored, and every pixel
    outside the mask comes back bit-identical. denoise_rest=True instead restores the whole image
    as a noisy inpainting (sigma_y: given or estimated), which also denoises the observed pixels.
    levels=N > 1 (with strength < 1): coarse to fine, each box first at 1/2^(N-1) of its size,
    where a hole larger than the prior's window fits in it (`restore_image`)."""
    from .starts import hole_regions

    image = _load(image)
    observed = _mask_tensor(mask, image.x.shape)
    if int(margin) < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")

    task = {"observed": observed}
    if denoise_rest:  # a noiseless one still keeps the observed pixels exactly
        return restore_image(image, "inpaint", task, keep_observed=observed if options.get("sigma_y") == 0 else None,
                             **options)
    regions = hole_regions(~observed[0].bool().numpy(), int(margin))
    return restore_image(image, "inpaint", task, keep_observed=observed, regions=regions, **options)


def deblur(image, kernel="gaussian:3.0", **options):
    """Remove a known blur: `kernel` is a 2-D array/tensor (the point-spread function) or a spec
    string 'gaussian:STD[:SIZE]', 'motion:INTENSITY[:SEED]', 'uniform:SIZE' or a kernel file."""
    from restore.operators import check_kernel

    k = parse_kernel(kernel) if isinstance(kernel, (str, Path)) else check_kernel(kernel)
    return restore_image(image, "deblur", {"kernel": k}, **options)


def check_scale(scale) -> int:
    """A super-resolution factor, checked: an integer in 2..16."""
    if isinstance(scale, bool) or int(scale) != scale or not 2 <= int(scale) <= 16:
        raise ValueError(f"scale must be an integer in 2..16, got {scale}")
    return int(scale)


def super_resolve(image, scale: int = 4, **options):
    """Upscale by an integer `scale` (the output is scale times the input's size), treating the
    input as a bicubic (antialiased) downsampling of the result."""
    return restore_image(image, "sr", {"scale": check_scale(scale)}, **options)


def denoise(image, **options):
    """Remove Gaussian noise of standard deviation sigma_y (on [0, 1]; estimated when not given)."""
    return restore_image(image, "denoise", {}, **options)


# the command line's commands: the API function each runs
COMMANDS = {"inpaint": inpaint, "deblur": deblur, "sr": super_resolve, "denoise": denoise}
