"""`restore app` (the local web page, restore/app.py) and `restore demo` (a first run, restore/demo.py)."""
from __future__ import annotations

import click

from .cli_common import user_errors
from .defaults import DEFAULT_PRECISION, DEFAULT_PRIOR

PORT = 8765


def _prior(fn):
    return click.option("--prior", default=DEFAULT_PRIOR, show_default=True,
                        help="Shipped prior name (restore priors) or a checkpoint path.")(fn)


def _workers(fn):
    return click.option("--workers", default=0, type=click.IntRange(0), show_default=True,
                        help="Processes the network's tiles are split across (0: every core on a CPU).")(fn)


@click.command()
@click.option("--port", default=PORT, type=click.IntRange(0, 65535), show_default=True,
              help="Port on 127.0.0.1 (0: any free one).")
@_prior
@click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda", "mps"]), show_default=True)
@click.option("--precision", default=DEFAULT_PRECISION, type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
              show_default=True, help="The network's arithmetic (as in restore inpaint --help).")
@_workers
@click.pass_context
@user_errors
def app(ctx, port, prior, device, precision, workers):
    """Serve a web page on this machine (http://127.0.0.1:PORT/, loopback only): open a photo, paint
    the region to fill, pick a command and its options, watch the progress, compare before and after,
    see the uncertainty map, download the result. Scripts can POST to /api/inpaint, /api/deblur,
    /api/sr and /api/denoise (multipart `image`, `mask`, option fields; the answer is a PNG)."""
    from .app import serve

    serve(port, prior, commands=ctx.find_root().command.commands, device=device, precision=precision,
          workers=workers, echo=click.echo)


@click.command()
@click.option("--out", "-o", default="restore-demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the before/after PNGs (made if missing).")
@_prior
@click.option("--seed", default=0, show_default=True, help="Random seed (the added noise and the draws).")
@_workers
@click.option("--overwrite", is_flag=True, help="Allow replacing the files of an earlier demo.")
@user_errors
def demo(out, prior, seed, workers, overwrite):
    """Restore a sample photo (scikit-image's astronaut, two small crops): fill a painted-out box and
    denoise a noisy copy, writing each before/after PNG into the folder. Takes seconds on a CPU."""
    from .demo import run_demo

    run_demo(out, prior=prior, seed=seed, workers=workers, overwrite=overwrite, echo=click.echo)
    click.echo(f"the same by hand: restore inpaint {out}/inpaint_before.png {out}/inpaint_mask.png -o filled.png; "
               f"restore app (a web page)")


COMMANDS = [app, demo]
