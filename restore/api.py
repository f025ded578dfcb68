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

from pathlib import Path

import torch

from restore.operators import check_kernel, parse_kernel
from restore.operators.blind import KernelEstimate
from restore.operators.blind import estimate_kernel as _estimate_kernel

from .defaults import DEFAULT_MARGIN
from .images import fill_mask, give_back, load_image
from .pipeline import load_prior, restore_image
from .plan import check_scale, observed_pixels

__all__ = ["inpaint", "deblur", "estimate_kernel", "super_resolve", "denoise", "load_prior", "COMMANDS"]


def inpaint(image, mask, *, margin: int = DEFAULT_MARGIN, denoise_rest: bool = False, **options):
    """Fill the pixels where `mask` is True/1 (image-editor convention) from the prior.

    Only the holes' bounding boxes plus `margin` pixels of context are restored, and every pixel
    outside the mask comes back bit-identical. denoise_rest=True instead restores the whole image
    as a noisy inpainting (sigma_y: given or estimated), which also denoises the observed pixels.
    levels=N > 1 (with strength < 1): coarse to fine, each box first at 1/2^(N-1) of its size,
    where a hole larger than the prior's window fits in it (`restore.solvers.coarse_to_fine`).
    The other options are `restore.pipeline.restore_image`'s."""
    im = load_image(image)
    task = {"observed": observed_pixels(fill_mask(mask, im.x.shape))}
    if denoise_rest:  # a noiseless one still keeps the observed pixels exactly
        return restore_image(im, "inpaint", task, keep_observed=options.get("sigma_y") == 0, **options)
    return restore_image(im, "inpaint", task, keep_observed=True, margin=margin, **options)


def estimate_kernel(image, max_size: int = 35) -> KernelEstimate:
    """The blur of a photo, estimated from the photo alone (`restore.operators.blind`): its kernel
    (a float64 tensor summing to 1, at most max_size pixels across), family ("none", "gaussian",
    "disk", "free-form"), size and a confidence in [0, 1]. `str()` of it is a one-line summary."""
    return _estimate_kernel(load_image(image).x, max_size)


def deblur(image, kernel="auto", *, boundary: str = "auto", **options):
    """Remove a blur. kernel: "auto" (the default: estimated from the photo, `estimate_kernel`;
    where no blur is found, or the estimate is not confident, the photo comes back unchanged), a
    `KernelEstimate`, a 2-D array/tensor (the point-spread function), or a spec string
    'gaussian:STD[:SIZE]', 'motion:INTENSITY[:SEED]', 'uniform:SIZE' or a kernel file.
    boundary: how the photo's border is modelled (`restore.plan.blur_boundary`; "auto": mirrored
    for a separable kernel, a smoothly periodic extension for any other)."""
    if isinstance(kernel, str) and kernel == "auto":
        image = load_image(image)
        kernel = estimate_kernel(image)
    if isinstance(kernel, KernelEstimate):
        if not kernel.usable:  # never worse than the input: the photo as it is
            im = load_image(image)
            return (give_back(im, im.x), torch.zeros_like(im.x).float()) if options.get("return_std") else give_back(im, im.x)
        kernel = kernel.kernel
    k = parse_kernel(kernel) if isinstance(kernel, (str, Path)) else check_kernel(kernel)
    return restore_image(image, "deblur", {"kernel": k, "boundary": boundary}, **options)


def super_resolve(image, scale: int = 4, **options):
    """Upscale by an integer `scale` (the output is scale times the input's size), treating the
    input as a bicubic (antialiased) downsampling of the result."""
    return restore_image(image, "sr", {"scale": check_scale(scale)}, **options)


def denoise(image, **options):
    """Remove Gaussian noise of standard deviation sigma_y (on [0, 1]; estimated when not given)."""
    return restore_image(image, "denoise", {}, **options)


# the command line's commands: the API function each runs
COMMANDS = {"inpaint": inpaint, "deblur": deblur, "sr": super_resolve, "denoise": denoise}
