"""The options the restoration commands share, in plain words (the terms of the trade are in
docs/solvers.md), each number's range checked by click or, with the run's other choices, by
`restore.plan.make_plan`: bad values end in one line and exit code 2."""
from __future__ import annotations

import click

from .save import DEFAULT_QUALITY

# the most results one command averages: a photo's draws run one after another, so the
# --max-pixels check no longer bounds their number; a mean of 1000 draws is past any use
MAX_SAMPLES = 1000

# the classical estimate each command's refinement starts from, in plain words (--strength)
QUICK_ESTIMATE = {"inpaint": "a smooth fill of the holes", "deblur": "a classical deconvolution",
                  "sr": "a sharpened bicubic enlargement", "denoise": "the image itself"}


class Strength(click.ParamType):
    """--strength: a number in (0, 1] or "noise" (checked by restore.plan.make_plan)."""

    name = "strength"

    def convert(self, value, param, ctx):  # checked once, with the run's other choices (restore.plan)
        return value

    def get_metavar(self, param, ctx=None):
        return "(0<x<=1)|noise"


class Box(click.ParamType):
    """--box X,Y,W,H: four integers (checked against the image by restore.fill.check_boxes)."""

    name = "box"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        parts = str(value).replace(" ", "").split(",")
        try:
            box = tuple(int(v) for v in parts)
        except ValueError:
            box = ()
        if len(box) != 4:
            self.fail(f"expected X,Y,WIDTH,HEIGHT (4 whole numbers of pixels), got {value!r}", param, ctx)
        return box

    def get_metavar(self, param, ctx=None):
        return "X,Y,W,H"


def restoration_options(command):
    """The options every restoration command shares, one per line in --help, with the command's
    defaults (`restore.defaults`)."""
    from restore.defaults import (DEFAULT_PRECISION, DEFAULT_PRIOR, DEFAULTS, NO_SVD_BLUR_DEFAULT, SMALL_HOLE,
                                  SMALL_HOLES_DEFAULT, TILED_DEFAULTS)
    from restore.solvers import METHODS

    def shown(field):  # the default in --help: one value, or the photo's and the whole-image prior's
        a, b = (getattr(d[command], field) for d in (TILED_DEFAULTS, DEFAULTS))
        c = getattr(SMALL_HOLES_DEFAULT, field) if command == "inpaint" else b
        m = getattr(NO_SVD_BLUR_DEFAULT, field) if command == "deblur" else a
        if a == b == c == m:
            return f"[default: {a}]"
        blur = " with a Gaussian blur" if command == "deblur" else ""
        shake = f", {m} with a motion blur" if command == "deblur" else ""
        small = f", {c} there where every hole is within {SMALL_HOLE} px of kept pixels" if c != b else ""
        return f"[default: {a} on photos{blur}{shake}; {b} where the prior sees the whole image (faces, digits){small}]"

    opts = [
        click.option("--out", "-o", default=None, type=click.Path(),
                     help="Output image, or a folder (ending in /, or for several inputs; made if missing). "
                          "[default: NAME_restored.EXT beside each input]"),
        click.option("--prior", default=DEFAULT_PRIOR,
                     help="What the restoration knows of images: a shipped prior's name (restore priors) or a prior file."),
        click.option("--method", default=None, type=click.Choice(["auto", *sorted(METHODS)]),
                     help="Restoration algorithm (docs/solvers.md); auto picks one that suits the task. " + shown("method")),
        click.option("--steps", default=None, type=click.IntRange(1),
                     help="Refinement steps of each result (more: slower). " + shown("steps")),
        click.option("--strength", default=None, type=Strength(),
                     help=f"Where the refinement starts: 1 from scratch; less than 1 from {QUICK_ESTIMATE[command]}, "
                          "changed less the smaller it is; noise: as much as the image's noise calls for. "
                          + shown("strength")),
        click.option("--sigma-y", default=None, type=float,
                     help="The image's noise level on [0, 0.5]: a standard deviation on the [0, 1] scale "
                          "(0.02 is about 5 of 255 levels). [default: estimated from the image]"),
        click.option("--seed", default=0, help="Seed of the random choices (the same seed, the same output)."),
        click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda", "mps"]),
                     help="Where to compute: auto picks a GPU when there is one."),
        click.option("--precision", default=DEFAULT_PRECISION, type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
                     show_default=True, help="Number format of the computation; auto: bf16 where the CPU computes "
                                             "it natively (faster), fp32 elsewhere; fp16 on CUDA GPUs only."),
        click.option("--workers", default=0, type=click.IntRange(0),
                     help="Processes to share the work (0: one per CPU core; 1 on a GPU); the result does not "
                          "depend on it."),
        click.option("--split-tiles", is_flag=True,
                     help="Under torchrun with several processes: all processes work on each image together (one "
                          "large photo on many GPUs); rank 0 writes. Default: each process takes whole files."),
        click.option("--samples", default=None, type=click.IntRange(1, MAX_SAMPLES),
                     help="Results drawn; --look faithful averages them (more: smoother and slower; 1: one "
                          "result), natural returns one and makes one unless --uncertainty needs more (denoise, "
                          "deblur and sr: their average with some grain, or moved toward one of them). "
                          + shown("samples")),
        click.option("--look", default=None, type=click.Choice(["faithful", "natural"]),
                     help="faithful: the average of the results (closest to the truth on average, smooth where the "
                          "image leaves the answer open); natural: one result, with a photo's texture (a fill also "
                          "gets the grain of the pixels around it; denoising keeps a little of the photo's own "
                          "grain, without its colour noise; deblur and sr move the average part of the way "
                          "toward one result). [default: natural on a photo, faithful with a prior that sees "
                          "the whole image]"),
        click.option("--uncertainty", default=None, type=click.Path(),
                     help="Also write a heat map (PNG) of where the results disagree (needs --samples 2 or more)."),
        click.option("--degrade", is_flag=True,
                     help="Test mode: first damage the clean image as the command would repair it (saved beside "
                          "the output, _observed added to its name), then restore that."),
        click.option("--quality", default=DEFAULT_QUALITY, type=click.IntRange(1, 100), show_default=True,
                     help="JPEG and WebP quality of the output (1-100)."),
        click.option("--overwrite", is_flag=True, help="Allow replacing existing files."),
        click.option("--skip-existing/--no-skip-existing", default=None,
                     help="Skip the inputs whose outputs all exist (a rerun finishes what is left) "
                          "[default: on under torchrun with several processes, else off]."),
        click.option("--max-pixels", default=64_000_000, type=click.IntRange(1),
                     help="Refuse larger images (and larger batches)."),
    ]
    if command != "inpaint":  # one image
        opts.append(click.option(
            "--batch-files", default=1, type=click.IntRange(1),
            help="Restore up to N files of one size and channels together, when --sigma-y is given (or "
                 "--degrade); files in a batch get other (equally good) random choices than one by one."))

    def decorate(fn):
        for opt in reversed(opts):
            fn = opt(fn)
        return fn

    return decorate
