"""The `restore` command line: parses options and calls the library (nothing else)."""
from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import click

import restore
from restore.defaults import DEFAULT_MARGIN

# the most posterior draws one command averages: a photo's draws run one after another, so the
# --max-pixels check no longer bounds their number; a mean of 1000 draws is past any use
MAX_SAMPLES = 1000

EXAMPLES = """
\b
Examples:
  restore inpaint photo.png mask.png -o filled.png
  restore deblur photo.png --kernel gaussian:3.0 -o sharp.png
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


@click.group(cls=OneLineErrors, invoke_without_command=True, epilog=EXAMPLES,
             context_settings={"show_default": True, "help_option_names": ["-h", "--help"]})
@click.version_option(restore.__version__, prog_name="restore")
@click.pass_context
def main(ctx):
    """Image restoration with DDPM priors."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


def _train_options(fn):
    """`restore train`'s options, one per TrainConfig field that has a help text (priors/train.py):
    --FIELD-NAME unless the field names its flags, an on/off pair for a bool, a tuple of integers
    as comma-separated text; no default: a required option."""
    from dataclasses import MISSING, fields

    from restore.priors.train import TrainConfig

    for f in reversed(fields(TrainConfig)):
        meta, name = f.metadata, f.name.replace("_", "-")
        if "help" not in meta:
            continue
        flags = meta.get("flags", [f"--{name}/--no-{name}" if isinstance(f.default, bool) else f"--{name}"])
        kw = {"required": True} if f.default is MISSING else {"default": f.default}
        if isinstance(f.default, tuple):
            kw["default"] = ",".join(str(v) for v in f.default)
        if "choices" in meta:
            kw["type"] = click.Choice(meta["choices"])
        elif meta.get("path"):
            kw["type"] = click.Path()
        elif "type" in meta:
            kw["type"] = meta["type"]
        fn = click.option(*flags, f.name, help=meta["help"], **kw)(fn)
    return fn


def _train_value(f, value):
    """A `_train_options` value as its TrainConfig field's: a tuple's text parsed, a choice of an int as int."""
    if isinstance(f.default, tuple):
        return _ints(value)
    if "choices" in f.metadata and type(f.default) is int:
        return int(value)
    return value


@main.command(epilog=EXAMPLES)
@click.argument("data", type=click.Path())
@_train_options
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped.")
@click.option("--minutes", default=None, type=float, help="Stop with a checkpoint after this wall time (minutes).")
@user_errors
def train(data, resume, minutes, **options):
    """Train a DDPM prior on DATA (a folder of images or an .npz of uint8 images)."""
    from dataclasses import fields

    from restore.priors.train import TrainConfig, train as run

    cfg = TrainConfig(data=data, **{f.name: _train_value(f, options[f.name]) for f in fields(TrainConfig)
                                    if f.name in options})
    t0 = time.perf_counter()
    path = run(cfg, resume=resume, minutes=minutes)
    click.echo(f"{path} ({time.perf_counter() - t0:.1f} s)")


@main.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--out", "-o", required=True, type=click.Path(), help="Output PNG grid.")
@click.option("--num", default=16, help="Number of samples.")
@click.option("--steps", default=50, help="Sampling steps (a respaced schedule).")
@click.option("--sampler", default="ddim", type=click.Choice(["ddpm", "ddim"]), help="Sampler.")
@click.option("--eta", default=0.0, help="DDIM stochasticity.")
@click.option("--variance", default="beta", help="DDPM sigma_t^2: beta, beta_tilde or a number in [0, 1].")
@click.option("--size", default=None, type=int, help="Sample size (default: the training size).")
@click.option("--seed", default=0, help="Random seed.")
@click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda", "mps"]), help="Device.")
@user_errors
def sample(checkpoint, out, num, steps, sampler, eta, variance, size, seed, device):
    """Draw unconditional samples from a prior and save them as a grid."""
    from restore.priors.api import sample_grid

    t0 = time.perf_counter()
    path = sample_grid(checkpoint, out, num=num, steps=steps, sampler=sampler, eta=eta, variance=variance,
                       size=size, seed=seed, device=device)
    click.echo(f"{path} ({time.perf_counter() - t0:.1f} s)")


@main.command(name="eval")
@click.argument("checkpoint", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--subset", default=None, help="START:STOP of the sorted files or .npz array.")
@click.option("--num", default=256, help="At most this many images (the first ones).")
@click.option("--strata", default=50, help="Network evaluations per image for the Monte-Carlo bound.")
@click.option("--full", is_flag=True, help="Sum all T terms exactly (T evaluations per image).")
@click.option("--variance", default="beta", type=click.Choice(["beta", "beta_tilde"]), help="Reverse variance of the bound.")
@click.option("--batch", default=64, help="Images per batch.")
@click.option("--seed", default=0, help="Random seed.")
@click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda", "mps"]), help="Device.")
@click.option("--scale", default=1.0, type=click.FloatRange(0, 1, min_open=True),
              help="Area-downscale each image by this factor (8-bit again) before the central crop.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@user_errors
def eval_(checkpoint, data, subset, num, strata, full, variance, batch, seed, device, scale, as_json):
    """Held-out bits/dim (variational bound) and eps-MSE per band of t."""
    from restore.priors.api import evaluate, format_report

    rep = evaluate(checkpoint, data, subset=subset, num=num, strata=None if full else strata, variance=variance,
                   batch=batch, seed=seed, device=device, scale=scale)
    click.echo(format_report(rep, as_json))


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
@click.option("--kernel", default="gaussian:3.0", help="gaussian:STD[:SIZE] | motion:INTENSITY[:SEED] | uniform:SIZE | PATH.")
@restoration_options("deblur")
@user_errors
def deblur(images, kernel, **kw):
    """Remove a known blur from IMAGES (files or globs). The result is the mean of --samples posterior
    draws (1: one draw; the default depends on the image and the blur, see --samples)."""
    _run("deblur", list(images), task={"kernel": kernel}, **kw)


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


@main.command()
@click.argument("run", type=click.Path())
@click.option("--out", "-o", required=True, type=click.Path(), help="Output .safetensors prior file.")
@click.option("--data", "data_desc", required=True, help="Training data, as the card states it.")
@click.option("--licence", required=True, help="Licence or terms of the training data.")
@click.option("--use", default="", help="What the prior is for (one line).")
@click.option("--fp16/--fp32", default=True, help="Store the weights in half precision.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@user_errors
def export(run, out, data_desc, licence, use, fp16, overwrite):
    """Export the EMA weights of a training run as a standalone prior file."""
    from restore.priors import load_prior
    from restore.priors.shipped import export_prior

    if Path(out).exists() and not overwrite:
        raise ValueError(f"{out} exists: pass --overwrite to replace it")
    path = export_prior(load_prior(run), out, card={"data": data_desc, "licence": licence, "use": use}, fp16=fp16)
    click.echo(f"{path} ({Path(path).stat().st_size / 1e6:.1f} MB)")


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


@main.command()
@click.option("--suite", default="quick", type=click.Choice(["quick", "full"]), help="Suite (docs/benchmarks.md: budgets in NFE and minutes).")
@click.option("--data", "data_root", default="../shared/data", type=click.Path(), help="Data folder (natural/, faces/, digits/, kernels/).")
@click.option("--out", "-o", required=True, type=click.Path(), help="Output folder: rows.csv, results.md, grids/ (rows already there are skipped).")
@click.option("--priors", default=None, help="NAME[=PRIOR][@DATA],... (e.g. natural=runs/natural) [default: the suite's].")
@click.option("--tasks", default=None, help="box,random,gauss,motion,sr4,denoise,levin [default: the suite's].")
@click.option("--methods", default=None, help="Solver specs NAME[:STEPS][:KEY=VALUE][:meanN] and baseline names [default: the suite's].")
@click.option("--images", default=None, type=int, help="Images per cell [default: the suite's].")
@click.option("--sigmas", default=None, help="Noise levels on [0, 1], e.g. 0.025,0 [default: the suite's].")
@click.option("--split", default="test", type=click.Choice(["test", "val"]), help="Score on the test split or the validation split (tuning).")
@click.option("--tune", "tune_images", default=None, type=int, help="Validation images to tune the baselines on (0: defaults) [default: the suite's].")
@click.option("--results", default=None, type=click.Path(), help="Also write the tables into this markdown file (its own marked section).")
@click.option("--threads", default=1, help="torch threads.")
@click.option("--seed", default=0, help="Seed of every random draw.")
@click.option("--device", default="cpu", type=click.Choice(["auto", "cpu", "cuda", "mps"]), help="Device.")
@user_errors
def bench(suite, data_root, out, priors, tasks, methods, images, sigmas, split, tune_images, results, threads, seed,
          device):
    """Benchmark the solvers and classical baselines (PSNR, SSIM, NFE, time, memory)."""
    import shlex

    import torch

    from restore.benchmarks.bench import run_bench

    def items(text):
        return None if text is None else [v.strip() for v in text.split(",") if v.strip()]

    torch.set_num_threads(threads)
    ctx = click.get_current_context()
    args = ["restore", "bench"]
    for p in ctx.command.params:  # the options given a value other than their default
        v = ctx.params.get(p.name)
        if p.name in ctx.params and v is not None and (v != p.default or p.name == "suite") and p.opts[0].startswith("--"):
            args += [p.opts[0], str(v)]
        elif p.name == "out":
            args += ["-o", str(v)]
    command = shlex.join(args)
    try:
        levels = None if sigmas is None else [float(v) for v in items(sigmas)]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {sigmas!r}") from None
    res = run_bench(suite, data_root, out, priors=items(priors), tasks=items(tasks), methods=items(methods),
                    images=images, split=split, sigmas=levels, tune_images=tune_images, device=device,
                    results=results, command=command, echo=click.echo, seed=seed)
    click.echo(f"{res['markdown']} ({len(res['rows'])} rows in {res['csv']}, {len(res['grids'])} grids)")


if __name__ == "__main__":
    main()
