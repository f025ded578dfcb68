"""The `restore` command line: parses options and calls the library (nothing else)."""
from __future__ import annotations

import sys

import click

import restore
from restore.defaults import DEFAULT_MARGIN

from .cli_app import COMMANDS as APP_COMMANDS
from .cli_common import EXAMPLES, OneLineErrors, user_errors
from .cli_options import Box, restoration_options
from .cli_research import COMMANDS as RESEARCH_COMMANDS


@click.group(cls=OneLineErrors, invoke_without_command=True, epilog=EXAMPLES,
             context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.version_option(restore.__version__, prog_name="restore")
@click.pass_context
def main(ctx):
    """Restore photos: fill holes, remove blur, enlarge, remove noise.

    Each result is written beside its input as NAME_restored.EXT unless -o names it; the input's
    colour profile and camera data (EXIF, XMP) are kept. `restore COMMAND --help` explains a
    command's options."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def _run(command, inputs, **kw):
    from tqdm import tqdm

    from restore.files import format_duration, restore_files

    bars = []  # created at the first network evaluation, so a bad input prints only its error

    def progress(info):  # one bar per chain, one tick per network call (a batch of draws); repaint's outnumber its steps
        total = None if kw["method"] == "repaint" else info["steps"]
        if not bars or bars[-1].n == total:
            if bars:
                bars[-1].close()
            many = info.get("files", 1) > 1
            bars.append(tqdm(total=total, unit="step", file=sys.stderr, leave=False, dynamic_ncols=True,
                             desc=f"file {info['file']}/{info['files']}" if many else None))
        if info.get("left") is not None and info.get("files", 1) > 1:
            bars[-1].set_postfix_str(f"all files: about {format_duration(info['left'])} left", refresh=False)
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
@click.argument("mask", type=click.Path(), required=False)
@click.option("--box", "boxes", multiple=True, type=Box(),
              help="A rectangle to fill: left X, top Y, width, height in pixels (repeat for several; added to "
                   "the mask or the transparency).")
@click.option("--grow", default=0, type=click.IntRange(0), show_default=True,
              help="Also fill every pixel within N pixels of the marked ones (a mask drawn tight misses edges).")
@click.option("--mask-keeps", is_flag=True,
              help="Read MASK the other way round: white (or any colour) marks the pixels to keep, black what to "
                   "fill (the masks of research data sets).")
@click.option("--resize-mask", is_flag=True, help="Resize a mask of another size to the image (nearest).")
@click.option("--margin", default=DEFAULT_MARGIN, type=click.IntRange(0), show_default=True,
              help="Pixels of surrounding context looked at around each hole.")
@click.option("--denoise-rest", is_flag=True, help="Also remove noise from the pixels outside the mask (restores the whole image).")
@click.option("--levels", default=1, type=click.IntRange(1), show_default=True,
              help="Fill large holes coarse to fine: first at 1/2^(N-1) of the size, then at each finer scale "
                   "(needs --strength below 1); 1: at full size only.")
@restoration_options("inpaint")
@user_errors
def inpaint(image, mask, boxes, grow, mask_keeps, resize_mask, margin, denoise_rest, levels, **kw):
    """Fill the region MASK marks in IMAGE; every other pixel is kept as it is.

    \b
    What to fill:
      MASK      white or any colour = fill, black = keep (grey: half way up or more)
      no MASK   what is transparent in IMAGE (erased in an image editor); the result is opaque
      --box     rectangles, alone or added to either

    A fill of a photo looks natural by default: one result with the grain of the pixels around the
    hole; --look faithful gives the average of --samples results (smooth, closest on average).
    A JPEG or WebP output changes the kept pixels slightly too (lossy): write a PNG to keep them exactly."""
    _run("inpaint", [image], task={"mask": mask, "mask_keeps": mask_keeps, "resize_mask": resize_mask,
                                   "boxes": list(boxes), "grow": grow},
         margin=margin, denoise_rest=denoise_rest, levels=levels, **kw)


@main.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--kernel", default="auto",
              help="The blur: auto (found in each photo: lens softness, defocus or camera shake; a photo with no "
                   "blur found, or none found with confidence, is left as it is) | gaussian:STD[:SIZE] (STD > 0, "
                   "SIZE odd) | motion:INTENSITY[:SEED] (INTENSITY on [0, 1]) | uniform:SIZE | an image or .npy file "
                   "of the blur's shape.")
@click.option("--save-kernel", default=None, type=click.Path(), help="Write the blur found (--kernel auto) as a PNG.")
@restoration_options("deblur")
@user_errors
def deblur(images, kernel, save_kernel, **kw):
    """Remove the blur from IMAGES (files, globs or folders): found in each photo by default (one
    line says what was found), or the one --kernel gives. The result is the average of --samples
    results (the default depends on the image and the blur, see --samples); on a photo it is moved
    60 % of the way toward one of them (--look natural; --look faithful: the average itself)."""
    _run("deblur", list(images), task={"kernel": kernel}, save_kernel=save_kernel, **kw)


@main.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--scale", default=4, help="Enlargement factor, 2 to 16 (the output is scale times the input's size).")
@restoration_options("sr")
@user_errors
def sr(images, scale, **kw):
    """Enlarge IMAGES (files, globs or folders), adding plausible detail. The result is the average
    of --samples results (the default depends on the image, see --samples); on a photo it is moved
    60 % of the way toward one of them, for a finer texture (--look natural; --look faithful: the
    average itself)."""
    _run("sr", list(images), task={"scale": scale}, **kw)


@main.command()
@click.argument("images", nargs=-1, required=True)
@restoration_options("denoise")
@user_errors
def denoise(images, **kw):
    """Remove noise (film grain, sensor noise) from IMAGES (files, globs or folders).

    By default the result is the average of --samples quick estimates of the clean image, one step
    each, not one random result; on a photo 15 % of the noise's brightness (not its colour) is left
    in as grain (--look natural; --look faithful returns the average itself)."""
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
                   f"data: {r['dataset']}  licence: {r['licence']}" + (f"  ({r['use']})" if r["use"] else ""))


for _command in [*RESEARCH_COMMANDS, *APP_COMMANDS]:
    main.add_command(_command)


if __name__ == "__main__":
    main()
