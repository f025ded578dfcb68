"""Each command's defaults: solver, steps, warm-start strength and posterior draws.

Chosen on val splits only, by one rule (benchmarks/RESULTS.md, "How the defaults were chosen"):
among the candidates scored on natural/val whole photos, the best mean PSNR within 15 network
evaluations per image (steps x samples), then the cheapest within 0.05 dB of it; not a candidate
that loses more than 0.5 dB to the earlier default on another val set of the command. The scores
behind each pick are in RESULTS.md and the rows it cites; this file holds only the picks.

- TILED_DEFAULTS: a patch prior run by tiles on a photo larger than its training size (the natural
  prior on any real photo) through an operator with a cheap SVD (masks, separable blurs,
  downsampling).
- NO_SVD_BLUR_DEFAULT: the same case through a blur without a cheap SVD (a camera shake), picked by
  the same rule on natural/val's motion blur.
- DEFAULTS: a prior that sees the whole image (faces, digits at their own size); its inpainting was
  picked on faces/val with the earlier default's budget, and SMALL_HOLES_DEFAULT where every hole
  is small (`small_holes`).
"auto": DDRM where the operator has a cheap SVD, Pi-GDM otherwise (`restore.plan`).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["Default", "DEFAULTS", "TILED_DEFAULTS", "NO_SVD_BLUR_DEFAULT", "SMALL_HOLE", "SMALL_HOLES_DEFAULT",
           "DEFAULT_MARGIN", "DEFAULT_PRIOR", "DEFAULT_PRECISION", "NATURAL_DENOISE_KEEP", "NATURAL_DRAW_SHARE", "default",
           "small_holes"]


class Default(NamedTuple):
    """A command's default solver, number of steps (network evaluations per draw), warm-start
    strength (the chain starts at t0 = strength T from the command's classical estimate; 1: from
    pure noise; "noise": at the step whose noise level equals y's, `restore.starts.noise_strength`),
    number of posterior draws whose mean the faithful look returns (1: one draw), and look:
    "faithful" (that mean) or "natural" (one draw, and a fill by a patch prior also gets the grain
    of its surroundings, `restore.grain`; a denoising keeps some of the noise, NATURAL_DENOISE_KEEP;
    a deblurring or sr moves the mean toward one draw, NATURAL_DRAW_SHARE), as
    `restore.plan.make_plan` resolves them."""

    method: str
    steps: int
    strength: float | str = 1.0
    samples: int = 1
    look: str = "faithful"


DEFAULTS = {"inpaint": Default("ddrm", 15, 0.4, 3), "deblur": Default("auto", 50), "sr": Default("ddrm", 50),
            "denoise": Default("ddrm", 1, "noise", 4)}
# a fill of an object-sized hole in a photo looks natural by default (RESULTS.md, "Fills with the photo's grain")
# and so do a photo's denoising, deblurring and sr: their natural looks cost under 0.1 dB of PSNR
# (NATURAL_DENOISE_KEEP, NATURAL_DRAW_SHARE)
TILED_DEFAULTS = {**DEFAULTS, "inpaint": Default("ddrm", 7, 0.1, 2, "natural"),
                  "deblur": Default("auto", 6, 0.2, 2, "natural"), "sr": Default("ddrm", 6, 0.1, 2, "natural"),
                  "denoise": Default("ddrm", 1, "noise", 4, "natural")}
NO_SVD_BLUR_DEFAULT = Default("auto", 15, 0.5)
# every pixel to fill within SMALL_HOLE pixels (Chebyshev) of an observed one: scattered missing
# pixels, scratches (`small_holes`)
SMALL_HOLE = 4
SMALL_HOLES_DEFAULT = Default("ddrm", 15, 0.1, 3)

# the share of the removed noise that a denoising with the natural look keeps: the faithful result
# plus this share of the luminance of (photo - result), the photo's own grain without its colour
# (`restore.grain.keep_noise`); a one-step denoiser's draw is as smooth as the mean. The largest
# share whose PSNR cost on natural/val is at most 0.1 dB at sigma 0.025, 0.05 and 0.1 (RESULTS.md,
# "Fills with the photo's grain; faithful or natural")
NATURAL_DENOISE_KEEP = 0.15
# how far a deblurring or sr with the natural look moves from the mean of its draws toward the first
# draw: mean + share (draw - mean), whose PSNR cost grows as share^2 and texture as share. The
# largest share whose mean PSNR cost on natural/val is at most 0.1 dB for both commands (RESULTS.md,
# "Fills with the photo's grain; faithful or natural")
NATURAL_DRAW_SHARE = 0.6

# context around each hole that an inpainting restores (pixels on each side of its bounding box)
DEFAULT_MARGIN = 32
DEFAULT_PRIOR = "natural"
# the network forward's precision (restore.priors.ddpm.PRECISIONS) for a prior loaded by name or
# path: "auto" = bf16 on a CPU that computes it natively, fp32 elsewhere (measured in RESULTS.md)
DEFAULT_PRECISION = "auto"


def default(command: str, by_tiles: bool, has_svd: bool = True, observed: Tensor | None = None) -> Default:
    """The command's defaults: TILED_DEFAULTS where a patch prior runs by tiles through an operator
    with a cheap SVD, NO_SVD_BLUR_DEFAULT for a deblurring there through one without; else
    SMALL_HOLES_DEFAULT for an inpainting whose mask `observed` (1 = observed) has only small holes
    (`small_holes`, computed only where the by-tiles table does not apply), else DEFAULTS."""
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
