"""One plan per restoration: every choice a run makes, resolved once, in `make_plan`.

A `Command` is what a restoration command is (its operator, its classical warm-start estimate, its
defaults); a `Plan` is one run of it on an image of a given size with a given prior: the solver,
steps, warm start, draws, pyramid levels, the boxes restored and whether the prior runs by tiles on
each, the tile workers. The command line, the file layer and the API make a plan and hand it down
(`restore.pipeline.run`); nothing below re-derives a choice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from restore.operators import Blur, CircularBlur, Denoise, Downsample, Inpainting
from restore.priors.parallel import default_workers
from restore.priors.tiling import runs_by_tiles
from restore.solvers.pyramid import check_levels

from .defaults import DEFAULTS, NATURAL_DENOISE_KEEP, NATURAL_DRAW_SHARE, default
from .starts import check_strength, hole_regions, is_warm

__all__ = ["Command", "COMMANDS", "Plan", "make_plan", "resolve_method", "check_scale", "check_sigma_y",
           "observed_pixels", "window", "LOOKS"]

# what a restoration returns: the mean of its draws (closest to the truth on average, smooth), or
# one draw (the texture a photo has; a fill by a patch prior also gets the grain of its surroundings)
LOOKS = ("faithful", "natural")


def window(box: tuple[int, int, int, int] | None) -> tuple:
    """The index of the crop box = (top, left, h, w) in an image (..., H, W); None: all of it."""
    if box is None:
        return (...,)
    return (..., slice(box[0], box[0] + box[2]), slice(box[1], box[1] + box[3]))


def resolve_method(method: str, operator) -> str:
    """`method`, with "auto" made DDRM where the operator has a cheap SVD and Pi-GDM otherwise."""
    if method != "auto":
        return method
    return "ddrm" if getattr(operator, "has_svd", False) else "pigdm"


def check_scale(scale) -> int:
    """A super-resolution factor, checked: an integer in 2..16."""
    if isinstance(scale, bool) or int(scale) != scale or not 2 <= int(scale) <= 16:
        raise ValueError(f"scale must be an integer in 2..16, got {scale}")
    return int(scale)


MAX_SIGMA_Y = 0.5  # a noise std on [0, 1] above half the range leaves nothing of the picture


def check_sigma_y(sigma_y) -> float | None:
    """A noise level, checked: None (estimate it) or a standard deviation on [0, MAX_SIGMA_Y], on
    the [0, 1] scale of the image."""
    if sigma_y is None:
        return None
    try:
        s = float(sigma_y)
    except (TypeError, ValueError):
        raise ValueError(f"sigma_y must be a number on [0, {MAX_SIGMA_Y}], got {sigma_y!r}") from None
    if s < 0:
        raise ValueError(f"sigma_y must be >= 0, got {s}")
    if not s <= MAX_SIGMA_Y:
        hint = f"; on the 0-255 scale {s:g} is {s / 255:.4f}" if 1 < s <= 255 else ""
        raise ValueError(f"sigma_y must be at most {MAX_SIGMA_Y} (a noise std on the image's [0, 1] scale{hint}), "
                         f"got {s:g}")
    return s


@dataclass(frozen=True)
class Command:
    """A restoration command: `operator(task, box)` makes the operator it restores through (and
    --degrade applies) for the crop `box` of the image; `estimate` names its classical warm-start
    estimate (`restore.starts.classical_estimate`); its defaults are `restore.defaults.default`."""

    name: str
    estimate: str
    make: Callable

    def operator(self, task: dict, box=None):
        return self.make(task, box)


COMMANDS = {
    "inpaint": Command("inpaint", "harmonic fill", lambda task, box: Inpainting(task["observed"][window(box)])),
    "deblur": Command("deblur", "Tikhonov/Wiener deconvolution",
                      lambda task, box: (CircularBlur if task.get("boundary") == "periodic" else Blur)(task["kernel"])),
    "sr": Command("sr", "back-projected bicubic", lambda task, box: Downsample(task["scale"], "bicubic")),
    "denoise": Command("denoise", "the noisy image", lambda task, box: Denoise()),
}


@dataclass(frozen=True)
class Plan:
    """A restoration's choices. task: the operator's inputs (inpaint: `observed` (1, H, W), 1 =
    observed; deblur: `kernel`; sr: `scale`); method: the solver ("auto" resolved); steps, strength,
    samples: the warm chain and the draws whose mean is returned; levels: the pyramid's
    (`restore.solvers.coarse_to_fine`); regions: the boxes (top, left, h, w) restored (None: the
    whole image), each with whether the prior runs by tiles on it; tiled: whether it does on the
    whole image (the defaults' table); keep_observed: the observed pixels come back exactly;
    workers: processes a tiled prior's tile batches are split across; split_tiles: shared across
    torch.distributed's ranks too. pad: a deblurring through a periodic blur restores the photo
    extended by this many pixels at the bottom and right to a smoothly periodic image
    (`restore.operators.padding.periodic_pad`), then cut back. look: "faithful" returns the mean
    of the draws, "natural" the first draw; grain: the fill gets the grain of its surroundings
    (`restore.grain.add_grain`); keep_noise: a denoising with the natural look returns the mean
    plus this share of the luminance of the noise it removed (`restore.grain.keep_noise`);
    draw_share: a deblurring or sr with the natural look returns mean + draw_share (first draw - mean);
    restore_share: a deblurring returns photo + restore_share (result - photo), below 1 for a camera
    shake found with low confidence (task["share"], `restore.operators.blind.KernelEstimate.share`)."""

    command: str
    task: dict
    method: str
    steps: int
    strength: float | str
    samples: int
    levels: int
    tiled: bool
    regions: tuple
    keep_observed: bool = False
    return_std: bool = False
    workers: int = 1
    split_tiles: bool = False
    method_options: dict = field(default_factory=dict)
    pad: int = 0
    look: str = "faithful"
    grain: bool = False
    keep_noise: float = 0.0
    draw_share: float = 0.0
    restore_share: float = 1.0

    def operator(self, box=None):
        """The operator of the crop `box` (None: the whole image)."""
        return COMMANDS[self.command].operator(self.task, box)

    @property
    def draws_at_once(self) -> int:
        """Draws held in memory at once: a prior run by tiles restores its draws one after another."""
        return 1 if self.tiled else self.samples


def make_plan(command: str, prior, task: dict, shape: tuple, *, method=None, steps=None, strength=None,
              samples=None, levels=1, margin: int | None = None, keep_observed: bool = False,
              return_std: bool = False, workers: int | None = None, split_tiles: bool = False,
              method_options: dict | None = None, look: str | None = None) -> Plan:
    """The plan of `command` with `prior` on observations of shape (B, C, H, W) in the prior's
    channels; where None, the command's defaults for that prior and operator. task: the operator's
    inputs (`Plan`). margin (inpaint): restore only the holes' bounding boxes with that much context
    (None: the whole image). workers: None or 1 runs the tiles in this process, 0 on every core of
    a CPU (`default_workers`), N in N processes. A standard deviation (return_std) needs at least
    2 draws (ValueError, not a map of zeros); levels > 1 needs a warm start. look: `LOOKS`; the
    natural look makes one draw unless samples are given or an uncertainty map needs the default's."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}: use one of {', '.join(DEFAULTS)}")
    if command == "deblur":
        task = {**task, "boundary": blur_boundary(task["kernel"], task.get("boundary", "auto"))}
    operator = COMMANDS[command].operator(task)
    tiled = runs_by_tiles(prior, operator.x_shape_of(tuple(shape))[-2:])
    d = default(command, tiled, getattr(operator, "has_svd", False), task.get("observed"))
    look = d.look if look is None else look
    if look not in LOOKS:
        raise ValueError(f"look must be one of {', '.join(LOOKS)}, got {look!r}")
    # the natural look returns one draw (it makes only that one unless a map needs more); a denoising
    # keeps some of the photo's own noise around the mean instead (one step's draw is as smooth), and
    # a deblurring or sr moves part of the way from the mean toward the first draw
    keep_noise = NATURAL_DENOISE_KEEP if look == "natural" and command == "denoise" else 0.0
    draw_share = NATURAL_DRAW_SHARE if look == "natural" and command in ("deblur", "sr") else 0.0
    if samples is None:
        samples = 1 if look == "natural" and not (keep_noise or draw_share) and not return_std else d.samples
    samples = int(samples)
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    if return_std and samples < 2:
        raise ValueError(f"an uncertainty map (the draws' standard deviation) needs at least 2 draws; this "
                         f"restoration makes {samples}: give samples (--samples) of 2 or more")
    strength = check_strength(d.strength if strength is None else strength)
    levels = check_levels(levels)
    if levels > 1 and not is_warm(strength):
        raise ValueError(f"levels > 1 needs a warm start (strength < 1, got {strength:g}): each finer level "
                         "starts from the coarser result at t0 = strength x T")
    method = resolve_method(method or d.method, operator)
    if workers is not None and int(workers) < 0:
        raise ValueError(f"workers must be >= 1, got {workers}")
    workers = 1 if workers is None else int(workers) or default_workers(prior.device)
    if margin is None:
        regions = ((None, tiled),)
    else:
        if int(margin) < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        fill = ~task["observed"][0].bool().numpy()
        boxes = hole_regions(fill, int(margin))
        regions = tuple((box, runs_by_tiles(prior, box[2:])) for box in boxes)  # an inpainting's x is y's size
    grain = look == "natural" and command == "inpaint" and any(by_tiles for _, by_tiles in regions)
    pad = max(task["kernel"].shape) + 8 if command == "deblur" and task["boundary"] == "periodic" else 0
    restore_share = float(task.get("share", 1.0)) if command == "deblur" else 1.0
    if not 0 < restore_share <= 1:
        raise ValueError(f"a deblurring's share must be in (0, 1], got {restore_share}")
    return Plan(command, task, method, int(steps or d.steps), strength, samples, levels, tiled, regions,
                bool(keep_observed), bool(return_std), workers, bool(split_tiles), dict(method_options or {}), pad,
                look, grain, keep_noise, draw_share, restore_share)


BOUNDARIES = ("auto", "reflect", "periodic")


def blur_boundary(kernel: Tensor, boundary: str = "auto") -> str:
    """How a deblurring models the photo's border: "reflect" (`Blur`: the photo mirrored at its
    edges; a cheap SVD for a separable kernel only) or "periodic" (`CircularBlur` on the photo
    extended to a smoothly periodic image: the FFT diagonalises any kernel, so DDRM runs without
    the network's gradient). "auto": reflect for a separable kernel, periodic otherwise."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {', '.join(BOUNDARIES)}, got {boundary!r}")
    if boundary != "auto":
        return boundary
    return "reflect" if Blur(kernel).has_svd else "periodic"


def observed_pixels(fill) -> Tensor:
    """An inpainting's observed pixels (1, H, W) bool, True = observed, from a fill mask (H, W)
    (one byte a pixel: a plan is made for every file of a run before any is restored)."""
    return ~torch.as_tensor(fill).bool()[None]
