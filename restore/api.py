"""The high-level API photo pipelines use: restore.inpaint / deblur / super_resolve / denoise.

Each takes an image as a numpy array (HW or HWC, uint8, uint16 or float on [0, 1]), a PIL image or
a torch tensor ((C, H, W) on [0, 1]) and returns the same kind. Masks mark the pixels to FILL
(True/1/white or any colour = fill, as image editors do); with no mask, `inpaint` fills what is
transparent. Gray images stay gray, an alpha channel is carried through unchanged (unless it is
the mask), 16-bit stays 16-bit. The restoration is the mean of `samples` results (look="faithful")
or one of them (look="natural"); `return_std=True` also returns their per-pixel standard deviation
(an uncertainty map) in the image's kind. Every option is a keyword of its own (help(restore.denoise)), so a misspelt one is
a TypeError naming the function; a solver's own options go in `method_options`.

An inpainting changes only the pixels it is asked to fill: it restores each hole's bounding box
plus a margin of context, and every other pixel comes back bit-identical.
"""
from __future__ import annotations

from pathlib import Path

import torch

from restore.operators import check_kernel, parse_kernel
from restore.operators.blind import KernelEstimate
from restore.operators.blind import estimate_kernel as _estimate_kernel

from .defaults import DEFAULT_MARGIN
from .fill import as_fill_mask, fill_region
from .images import give_back, give_back_std, load_image
from .pipeline import load_prior, restore_image
from .plan import check_scale, observed_pixels

__all__ = ["inpaint", "deblur", "estimate_kernel", "super_resolve", "denoise", "load_prior", "COMMANDS"]

_OPTIONS = """
    The options every restoration takes (keywords only; None: the default for the image, the
    prior and the task, `restore.defaults.default`):

    prior: a prior loaded by `restore.load_prior` (load once, pass it to every call), a shipped
        prior's name ("natural", "faces", "digits"; `restore priors`) or a prior file. Default: natural.
    method: the solver: "ddrm", "ddnm", "ddnm_plus", "pigdm", "dps", "diffpir", "repaint" or
        "auto" (docs/solvers.md).
    steps: refinement steps of each result (network evaluations; more: slower).
    strength: where the refinement starts: 1 from scratch, a smaller number in (0, 1) from a quick
        classical estimate of the result, changed less the smaller it is; "noise": from the image's
        own noise level.
    sigma_y: the image's noise, a standard deviation on [0, 0.5] on the image's [0, 1] scale
        (0.02 is about 5 of 255 levels). Default: estimated from the image.
    samples: how many results are drawn; the faithful look returns their mean (1: one result).
    look: "faithful": the mean of the results, the closest to the truth on average and smooth
        where the image leaves the answer open; "natural": one result, with the texture of a
        photo; a fill of holes in a photo also gets the grain of the pixels around them
        (`restore.grain`), a denoising keeps a share of the luminance of the noise it removed
        around the mean (`restore.defaults.NATURAL_DENOISE_KEEP`), and a deblurring or sr returns
        the mean moved part of the way toward the first draw (`NATURAL_DRAW_SHARE`). Default:
        natural on a photo (a prior run by tiles), faithful with a prior that sees the whole image.
    seed: the seed of every random draw (the same seed, the same output).
    levels: 1, or N > 1 to restore coarse to fine from 1/2^(N-1) of the size (needs strength < 1).
    return_std: also return the results' per-pixel standard deviation (needs samples >= 2), of the
        image's kind: a float32 numpy array (HW or HWC), a PIL image of mode F (the channels'
        mean) or a float32 tensor (C, H, W).
    device: "auto", "cpu", "cuda", "cuda:N" or "mps".
    precision: the network's number format: "auto" (bf16 on a CPU that supports it natively,
        fp32 elsewhere), "fp32", "bf16" or "fp16" (CUDA only).
    workers: processes the work is split across (default 1: this process; 0: every core of a
        CPU), or an open `restore.priors.parallel.TileWorkers` to share one pool between calls.
        The result does not depend on it.
    split_tiles: in every process of an initialised torch.distributed group: share out each
        network evaluation's tiles (one large image on many processes or GPUs).
    callback: called with a dict at every network evaluation (progress).
    method_options: a dict of the solver's own keywords (e.g. {"eta": 0.5} for DDRM).

    Bad values raise ValueError with a one-line message.
    """


def _documented(fn):
    fn.__doc__ = fn.__doc__.rstrip() + "\n" + _OPTIONS
    return fn


@_documented
def inpaint(image, mask=None, *, boxes=(), grow: int = 0, margin: int = DEFAULT_MARGIN, denoise_rest: bool = False,
            prior=None, method: str | None = None, steps: int | None = None, strength=None,
            sigma_y: float | None = None, samples: int | None = None,
            look: str | None = None, seed: int = 0, levels: int = 1,
            return_std: bool = False, device: str = "auto", precision: str | None = None, workers=None,
            split_tiles: bool = False, callback=None, method_options: dict | None = None):
    """Fill the pixels `mask` marks; every other pixel comes back bit-identical.

    mask: what to fill, as image editors mark it: a bool/number array (True, 1 or 255 = fill), a
        PIL image (anything not black = fill: white or any colour) or a tensor, of the image's
        size. None: the image's transparency is the mask (every pixel that is not fully opaque is
        filled) and the result is opaque: it has no alpha channel.
    boxes: rectangles to fill as (x, y, width, height) in pixels from the top-left corner, added
        to the mask (or to the transparency, or alone).
    grow: also fill every pixel within this many pixels of one to fill (a mask drawn tight
        around an object misses its edges).
    margin: pixels of context restored around each hole's bounding box (only the boxes are
        restored, so a small hole in a large photo is a small problem).
    denoise_rest: restore the whole image instead, which also removes noise (sigma_y, given or
        estimated) from the pixels outside the mask.
    """
    im = load_image(image)
    fill, im = fill_region(im, None if mask is None else as_fill_mask(mask, im.x.shape), boxes=boxes, grow=grow)
    task = {"observed": observed_pixels(fill)}
    keep = sigma_y == 0 if denoise_rest else True  # a noiseless denoise_rest still keeps the observed pixels exactly
    return restore_image(im, "inpaint", task, keep_observed=keep, margin=None if denoise_rest else margin,
                         prior=prior, method=method, steps=steps, strength=strength, sigma_y=sigma_y, samples=samples,
                         look=look,
                         seed=seed, levels=levels, return_std=return_std, device=device, precision=precision,
                         workers=workers, split_tiles=split_tiles, callback=callback, method_options=method_options)


def estimate_kernel(image, max_size: int = 35) -> KernelEstimate:
    """The blur of a photo, estimated from the photo alone (`restore.operators.blind`): its kernel
    (a float64 tensor summing to 1, at most max_size pixels across), family ("none", "gaussian",
    "disk", "free-form"), size and a confidence in [0, 1]; `str()` of it is a one-line summary and
    `.usable` says whether `deblur` restores with it."""
    return _estimate_kernel(load_image(image).x, max_size)


@_documented
def deblur(image, kernel="auto", *, boundary: str = "auto", prior=None, method: str | None = None, steps: int | None = None,
           strength=None, sigma_y: float | None = None, samples: int | None = None,
           look: str | None = None, seed: int = 0, levels: int = 1,
           return_std: bool = False, device: str = "auto", precision: str | None = None, workers=None,
           split_tiles: bool = False, callback=None, method_options: dict | None = None):
    """Remove a blur.

    kernel: "auto" (the default): the blur is found in the photo (`estimate_kernel`); where no blur
        is found, or none with confidence, the photo comes back as it is (a camera shake found with
        low confidence is restored part of the way: `KernelEstimate.share`). Or a `KernelEstimate`,
        or the blur (point-spread function) as a 2-D array or tensor, or a spec string
        "gaussian:STD[:SIZE]" (STD > 0, SIZE a positive odd number), "motion:INTENSITY[:SEED]"
        (INTENSITY on [0, 1]), "uniform:SIZE", or a kernel file (PNG, NPY, NPZ[:key]).
    boundary: how the photo's border is modelled (`restore.plan.blur_boundary`): "auto" (mirrored
        for a separable kernel, a smoothly periodic extension for any other), "reflect", "periodic".
    """
    if isinstance(kernel, str) and kernel == "auto":
        image = load_image(image)
        kernel = estimate_kernel(image)
    share = 1.0
    if isinstance(kernel, KernelEstimate):
        if not kernel.usable:  # never worse than the input: the photo as it is
            im = load_image(image)
            return (give_back(im, im.x), give_back_std(im, torch.zeros_like(im.x).float())) if return_std else give_back(im, im.x)
        kernel, share = kernel.kernel, kernel.share  # a shake found with low confidence: part of the way
    k = parse_kernel(kernel) if isinstance(kernel, (str, Path)) else check_kernel(kernel)
    return restore_image(image, "deblur", {"kernel": k, "boundary": boundary, "share": share}, prior=prior, method=method, steps=steps, strength=strength,
                         sigma_y=sigma_y, samples=samples, look=look, seed=seed, levels=levels, return_std=return_std,
                         device=device, precision=precision, workers=workers, split_tiles=split_tiles,
                         callback=callback, method_options=method_options)


@_documented
def super_resolve(image, scale: int = 4, *, prior=None, method: str | None = None, steps: int | None = None,
                  strength=None, sigma_y: float | None = None, samples: int | None = None,
                  look: str | None = None, seed: int = 0,
                  levels: int = 1, return_std: bool = False, device: str = "auto", precision: str | None = None,
                  workers=None, split_tiles: bool = False, callback=None, method_options: dict | None = None):
    """Enlarge by an integer `scale` (2 to 16): the output is scale times the input's size.

    The input is taken to be a bicubic (antialiased) downsizing of the result.
    """
    return restore_image(image, "sr", {"scale": check_scale(scale)}, prior=prior, method=method, steps=steps,
                         strength=strength, sigma_y=sigma_y, samples=samples, look=look, seed=seed, levels=levels,
                         return_std=return_std, device=device, precision=precision, workers=workers,
                         split_tiles=split_tiles, callback=callback, method_options=method_options)


@_documented
def denoise(image, *, prior=None, method: str | None = None, steps: int | None = None, strength=None,
            sigma_y: float | None = None, samples: int | None = None,
            look: str | None = None, seed: int = 0, levels: int = 1,
            return_std: bool = False, device: str = "auto", precision: str | None = None, workers=None,
            split_tiles: bool = False, callback=None, method_options: dict | None = None):
    """Remove Gaussian noise of standard deviation `sigma_y` (estimated when not given).

    By default the result is the average of a few quick estimates of the clean image, not one
    random result.
    """
    return restore_image(image, "denoise", {}, prior=prior, method=method, steps=steps, strength=strength,
                         sigma_y=sigma_y, samples=samples, look=look, seed=seed, levels=levels, return_std=return_std,
                         device=device, precision=precision, workers=workers, split_tiles=split_tiles,
                         callback=callback, method_options=method_options)


# the command line's commands: the API function each runs
COMMANDS = {"inpaint": inpaint, "deblur": deblur, "sr": super_resolve, "denoise": denoise}
