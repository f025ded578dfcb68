"""What every `restore` command shares: one-line errors (exit code 2) and warnings, the examples of
--help, and the order of the commands in it (the user's first, the research commands apart)."""
from __future__ import annotations

import functools
import sys
import warnings

import click

EXAMPLES = """
\b
Examples:
  restore inpaint photo.png                        # fill what was erased to transparency
  restore inpaint photo.jpg mask.png               # fill the mask's white (or coloured) strokes
  restore inpaint photo.jpg --box 120,80,60,40     # fill a rectangle: X,Y,WIDTH,HEIGHT
  restore deblur photo.jpg                         # finds the blur; writes photo_restored.jpg beside it
  restore deblur photo.jpg --kernel gaussian:2.0   # a blur you know
  restore sr small.png --scale 4 -o large.png
  restore denoise shots/ -o clean/                 # every image in shots/, into clean/
"""

RESEARCH_EXAMPLES = """
\b
Examples:
  restore train mnist.npz --subset 0:8000 --size 28 --channels 1 -o runs/digits
  restore sample runs/digits --num 16 -o grid.png
  restore eval runs/digits mnist.npz --subset 8000:9000
"""

# the user's commands, listed first and in this order; the others are the research commands
USER_COMMANDS = ("inpaint", "deblur", "sr", "denoise", "priors")


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


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """A warning (PIL's, the library's) as one line on stderr, without the source file and line."""
    click.echo(f"warning: {str(message).splitlines()[0] if str(message) else category.__name__}", err=True)


class OneLineErrors(click.Group):
    """click's usage errors (a missing argument, a bad option value) in one line on stderr, exit code
    2, like the library's own; click would print the usage, a hint and the error on four. Warnings
    are one line too (`_one_line_warning`), while a command runs. --help lists the user's commands
    first (USER_COMMANDS), then the research commands under a heading of their own."""

    def list_commands(self, ctx):
        names = list(self.commands)
        return [n for n in USER_COMMANDS if n in names] + [n for n in names if n not in USER_COMMANDS]

    def format_commands(self, ctx, formatter):
        sections: dict[str, list] = {}
        width = formatter.width - 6 - max((len(n) for n in self.list_commands(ctx)), default=0)
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                title = "Commands" if name in USER_COMMANDS else "Research commands"
                sections.setdefault(title, []).append((name, cmd.get_short_help_str(width)))
        for title, rows in sections.items():
            with formatter.section(title):
                formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        shown = warnings.showwarning
        warnings.showwarning = _one_line_warning
        try:
            return self._main(args, prog_name, complete_var, **extra)
        finally:
            warnings.showwarning = shown

    def _main(self, args, prog_name, complete_var, **extra):
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
