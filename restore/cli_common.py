"""What every `restore` command shares: one-line errors (exit code 2) and the examples of --help."""
from __future__ import annotations

import functools
import sys

import click

EXAMPLES = """
\b
Examples:
  restore inpaint photo.png mask.png -o filled.png
  restore deblur photo.png -o sharp.png
  restore deblur photo.png --kernel gaussian:2.0 -o sharp.png
  restore sr small.png --scale 4 -o large.png
  restore denoise 'shots/*.jpg' -o clean/
  restore denoise 'shots/*.jpg' --sigma-y 0.02 --batch-files 4 -o clean/
  torchrun --nproc_per_node 4 -m restore.cli denoise 'shots/*.jpg' -o clean/
  restore train mnist.npz --subset 0:8000 --size 28 --channels 1 -o runs/digits
  restore sample runs/digits --num 16 -o grid.png
  restore eval runs/digits mnist.npz --subset 8000:9000
"""


def user_errors(fn):
    """Bad input ends in one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, FileNotFoundError, NotImplementedError, FloatingPointError) as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except OSError as e:
            click.echo(f"error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}", err=True)
            sys.exit(2)

    return wrapper


def _ints(text: str) -> tuple:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from None


class OneLineErrors(click.Group):
    """click's usage errors (a missing argument, a bad option value) in one line on stderr, exit code
    2, like the library's own; click would print the usage, a hint and the error on four."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx else "restore"
            click.echo(f"error: {e.format_message()} (see '{where} --help')", err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)  # an int is click's exit code (--help, --version)
