"""The `restore` command line: parses options and calls the library (nothing else)."""
from __future__ import annotations

import sys

import click

import restore
from restore.defaults import DEFAULT_MARGIN

from .cli_app import COMMANDS as APP_COMMANDS
from .cli_common import EXAMPLES, OneLineErrors, user_errors
from .cli_research import COMMANDS as RESEARCH_COMMANDS

# the most posterior draws one command averages: a photo's draws run one after another, so the
# --max-pixels check no longer bounds their number; a mean of 1000 draws is past any use
MAX_SAMPLES = 1000


@click.group(cls=OneLineErrors, invoke_without_command=True, epilog=EXAMPLES,
             context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.version_option(restore.__version__, prog_name="restore")
@click.pass_context
def main(ctx):
    """Image restoration with DDPM priors."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


class Strength(click.ParamType):
    """--strength: a number in (0, 1] or "noise" (checked by restore.plan.make_plan)."""

    name = "strength"

    def convert(self, value, param, ctx):  # checked once, with the run's other choices (restore.plan)
        return value

    def get_metavar(self, param, ctx=None):
        return "(0<x<=1)|noise"


def restoration_options(command):
    """The options every restoration command shares, one per line in --help, with the command's
    default method and steps."""
    from restore.defaults import (DEFAULT_PRECISION, DEFAULT_PRIOR, DEFAULTS, NO_SVD_BLUR_DEFAULT, SMALL_HOLE,
                                  SMALL_HOLES_DEFAULT, TILED_DEFAULTS)
    from restore.plan import COMMANDS
    from restore.solvers import METHODS

    def shown(field):  # the default in --help: one value, or the photo's (by tiles) and the whole image's
        a, b = (getattr(d[command], field) for d in (TILED_DEFAULTS, DEFAULTS))
        c = getattr(SMALL_HOLES_DEFAULT, field) if command == "inpaint" else b
        m = getattr(NO_SVD_BLUR_DEFAULT, field) if command == "deblur" else a
        if a == b == c == m:
            return f"[default: {a}]"
        svd = " through a blur with an SVD (Gaussian)" if command == "deblur" else ""
        shake = f", {m} through one without (motion)" if command == "deblur" else ""
        small = f" ({c} where every hole pixel is within {SMALL_HOLE} px of a kept one)" if c != b else ""
        return f"[default: {a} where the prior runs by tiles (photos){svd}{shake}, else {b}{small}]"

    opts = [
        click.option("--out", "-o", required=True, type=click.Path(), help="Output image, or a folder for several inputs."),
        click.option("--prior", default=DEFAULT_PRIOR, help="Shipped prior name (restore priors) or a checkpoint path."),
        click.option("--method", default=None, type=click.Choice(["auto", *sorted(METHODS)]),
                     help="Solver (docs/solvers.md); auto: ddrm where the operator has an SVD, else pigdm. " + shown("method")),
        click.option("--steps", default=None, type=click.IntRange(1),
                     help="Reverse steps (network evaluations; repaint: more). " + shown("steps")),
        click.option("--strength", default=None, type=Strength(),
                     help="Warm start: the chain starts at strength x T from a classical estimate "
                          f"({COMMANDS[command].estimate}); 1: from pure noise; noise: where the schedule's noise "
                          "equals the image's (one step: the posterior mean). " + shown("strength")),
        click.option("--sigma-y", default=None, type=float, help="Noise std on [0, 1] (0.05 = 12.75/255) [default: estimated]."),
        click.option("--seed", default=0, help="Random seed."),
        click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda", "mps"]), help="Device."),
        click.option("--precision", default=DEFAULT_PRECISION, type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
                     show_default=True, help="The network's arithmetic; auto: bf16 on a CPU with native bfloat16 "
                                             "(AVX512-BF16/AMX), fp32 elsewhere; fp16 on CUDA only."),
        click.option("--workers", default=0, type=click.IntRange(0),
                     help="Processes the network's tiles are split across (0: every core on a CPU, 1 on a GPU; "
                          "the result does not depend on it)."),
        click.option("--split-tiles", is_flag=True,
                     help="Under torchrun with several processes: every process restores every input, sharing out "
                          "the tiles of each network evaluation (one large photo on many processes or GPUs); rank 0 "
                          "writes. The result does not depend on it. Default: the inputs are shared out instead."),
        click.option("--samples", default=None, type=click.IntRange(1, MAX_SAMPLES),
                     help="Posterior draws; the output is their mean (1: one draw). " + shown("samples")),
        click.option("--uncertainty", default=None, type=click.Path(), help="Write the per-pixel std as a heat-map PNG."),
        click.option("--degrade", is_flag=True, help="First synthesise the observation from a clean image (saved beside the output)."),
        click.option("--overwrite", is_flag=True, help="Allow replacing existing files."),
        click.option("--skip-existing/--no-skip-existing", default=None,
                     help="Skip the inputs whose outputs all exist (a rerun finishes what is left) "
                          "[default: on under torchrun with several processes, else off]."),
        click.option("--max-pixels", default=64_000_000, help="Refuse larger images (and larger batches)."),
    ]
    if command != "inpaint":  # one image
        opts.append(click.option(
            "--batch-files", default=1, type=click.IntRange(1),
            help="Restore up to N files of one size and channels as one batch, when --sigma-y is given (or "
                 "--degrade); a batch draws from one random generator, so its files get other random draws "
                 "than one by one."))

    def decorate(fn):
        for opt in reversed(opts):
            fn = opt(fn)
        return fn

    return decorate


def _run(command, inputs, **kw):
    from tqdm import tqdm

    from restore.files import restore_files

    bars = []  # created at the first network evaluation, so a bad input prints only its error

    def progress(info):  # one bar per chain, one tick per network call (a batch of draws); repaint's outnumber its steps
        total = None if kw["method"] == "repaint" else info["steps"]
        if not bars or bars[-1].n == total:
            if bars:
                bars[-1].close()
            bars.append(tqdm(total=total, unit="step", file=sys.stderr, leave=False, dynamic_ncols=True))
        bars[-1].update(1)

    def echo(message):
        if bars:
            bars[-1].clear()
        click.echo(message)

    try:
        restore_files(command, inputs, kw.pop("out"), progress=progress, echo=echo, **kw)
    finally:
        for bar in bars:
            bar.close()


@main.command()
@click.argument("image", type=click.Path())
@click.argument("mask", type=click.Path())
@click.option("--mask-keeps", is_flag=True, help="The mask's white marks known pixels (research masks).")
@click.option("--resize-mask", is_flag=True, help="Resize a mask of another size to the image (nearest).")
@click.option("--margin", default=DEFAULT_MARGIN, type=click.IntRange(0), show_default=True,
              help="Pixels of context restored around each hole's bounding box.")
@click.option("--denoise-rest", is_flag=True, help="Also denoise the pixels outside the mask (restores the whole image).")
@click.option("--levels", default=1, type=click.IntRange(1), show_default=True,
              help="Coarse to fine: fill first at 1/2^(N-1) of the size, where a large hole fits the prior's "
                   "window, then at each finer scale from the coarser result (each level --steps from "
                   "t0 = --strength x T; fewer levels where a coarser one would fit the window); 1: one scale.")
@restoration_options("inpaint")
@user_errors
def inpaint(image, mask, mask_keeps, resize_mask, margin, denoise_rest, levels, **kw):
    """Fill the white region of MASK in IMAGE; every other pixel is kept as it is. The fill is the
    mean of --samples posterior draws (1: one draw; the default depends on the image, see --samples)."""
    _run("inpaint", [image], task={"mask": mask, "mask_keeps": mask_keeps, "resize_mask": resize_mask},
         margin=margin, denoise_rest=denoise_rest, levels=levels, **kw)


@main.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--kernel", default="auto",
              help="The blur: auto (found in each photo: lens softness, defocus or camera shake; a photo with no "
                   "blur found, or none found with confidence, is left as it is) | gaussian:STD[:SIZE] | "
                   "motion:INTENSITY[:SEED] | uniform:SIZE | a kernel image or .npy file.")
@click.option("--save-kernel", default=None, type=click.Path(), help="Write the blur found (--kernel auto) as a PNG.")
@restoration_options("deblur")
@user_errors
def deblur(images, kernel, save_kernel, **kw):
    """Remove the blur from IMAGES (files or globs): found in each photo by default (--kernel auto;
    one line says what was found), or the one --kernel gives. The result is the mean of --samples
    posterior draws (1: one draw; the default depends on the image and the blur, see --samples)."""
    _run("deblur", list(images), task={"kernel": kernel}, save_kernel=save_kernel, **kw)


@main.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--scale", default=4, help="Upscaling factor (the output is scale times the input's size).")
@restoration_options("sr")
@user_errors
def sr(images, scale, **kw):
    """Super-resolve IMAGES (bicubic degradation model). The result is the mean of --samples posterior
    draws (1: one draw; the default depends on the image, see --samples)."""
    _run("sr", list(images), task={"scale": scale}, **kw)


@main.command()
@click.argument("images", nargs=-1, required=True)
@restoration_options("denoise")
@user_errors
def denoise(images, **kw):
    """Remove Gaussian noise from IMAGES.

    By default the result is a posterior mean, not a draw: one step from the image's own noise
    level returns Tweedie's estimate E[x | y] (--strength noise --steps 1), averaged over --samples."""
    _run("denoise", list(images), **kw)


@main.command(name="priors")
@user_errors
def priors_():
    """List the priors shipped with the package, with their data and licences."""
    from restore.priors.shipped import list_priors

    rows = list_priors()
    if not rows:
        click.echo("no priors shipped in this build")
    for r in rows:
        params = f"{r['params'] / 1e6:.1f}M params" if r["params"] else "? params"
        click.echo(f"{r['name']:<10} {r['size']}x{r['size']}x{r['channels']}  {params}  {r['bytes'] / 1e6:.1f} MB  "
                   f"data: {r['data']}  licence: {r['licence']}" + (f"  ({r['use']})" if r["use"] else ""))


for _command in [*RESEARCH_COMMANDS, *APP_COMMANDS]:
    main.add_command(_command)


if __name__ == "__main__":
    main()
