"""The research commands of `restore`: train, sample, eval, export and bench (the user's commands
are in restore/cli.py, which adds these to its group)."""
from __future__ import annotations

import time
from pathlib import Path

import click

from .cli_common import RESEARCH_EXAMPLES, _ints, user_errors


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


@click.command(epilog=RESEARCH_EXAMPLES)
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


@click.command()
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
    from restore.priors.sample_grid import sample_grid

    t0 = time.perf_counter()
    path = sample_grid(checkpoint, out, num=num, steps=steps, sampler=sampler, eta=eta, variance=variance,
                       size=size, seed=seed, device=device)
    click.echo(f"{path} ({time.perf_counter() - t0:.1f} s)")


@click.command(name="eval")
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
    from restore.priors.evaluate import evaluate, format_report

    rep = evaluate(checkpoint, data, subset=subset, num=num, strata=None if full else strata, variance=variance,
                   batch=batch, seed=seed, device=device, scale=scale)
    click.echo(format_report(rep, as_json))


@click.command()
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


@click.command()
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


COMMANDS = [train, sample, eval_, export, bench]
