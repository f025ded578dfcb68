"""The restoration commands on files: read, (optionally) degrade, restore, write atomically.

Used by the command line; every failure is a ValueError with a one-line message, raised before
anything is written. Outputs keep the input's mode (gray, RGB, RGBA, 16-bit) and ICC profile.

Many files: files of one size and number of channels with a known noise level (--sigma-y given,
or --degrade) are restored up to `batch_files` at a time as one batch (`restore.pipeline.restore_batch`: one
random generator per batch, so their draws differ from a one-by-one run). Many processes: the
batches ("groups"; one file each by default) are formed over the whole list of inputs, and a
process of rank r in a world of W (torchrun's RANK and WORLD_SIZE, or torch.distributed's)
restores groups r, r + W, ...: a file's result depends on neither, and a rerun skips the groups
whose outputs all exist (`skip_existing`, the default when W > 1).

One photo across processes (`split_tiles`, --split-tiles; W > 1): every process restores every
group, by the same chain from the same seed, and the tiles of each network evaluation are shared
out across them (`restore.priors.tiling`, a torch.distributed process group: gloo on CPUs, nccl on
GPUs, made here from torchrun's environment unless one is initialised); rank 0 alone writes. The
bytes are a one-process run's.
"""
from __future__ import annotations

import contextlib
import glob
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restore.operators import add_noise, parse_kernel
from restore.operators.blind import estimate_kernel
from restore.priors.parallel import TileWorkers, check_rendezvous, join_process_group, process_shard

from .images import give_back, load_image, result_mode
from .io import IMAGE_SUFFIXES, MAX_PIXELS, atomic_write, read_image
from .pipeline import load_prior, noise_level, run
from .plan import COMMANDS, check_scale, make_plan, observed_pixels

__all__ = ["expand_inputs", "plan_groups", "plan_outputs", "restore_files"]


def expand_inputs(patterns) -> list[Path]:
    """Files and glob patterns -> existing files, in order, without repeats."""
    out: list[Path] = []
    for pat in patterns:
        hits = sorted(glob.glob(pat)) if any(ch in pat for ch in "*?[") else [pat]
        if not hits:
            raise ValueError(f"{pat}: no file matches")
        for h in hits:
            p = Path(h)
            if not p.is_file():
                raise ValueError(f"{p}: no such file")
            if p not in out:
                out.append(p)
    return out


def plan_outputs(inputs: list[Path], out, overwrite: bool, check_existing: bool = True) -> list[Path]:
    """One output path per input: `out` itself for one input (a file path, or a folder that exists),
    out/NAME for several (the folder must exist). Never an input, never an existing file unless
    overwrite is given (check_existing=False: the caller checks that)."""
    out = Path(out)
    if len(inputs) > 1 or out.is_dir():
        if not out.is_dir():
            raise ValueError(f"{out}: output folder does not exist (several inputs need one)")
        paths = [out / p.name for p in inputs]
    else:
        if not out.parent.is_dir():
            raise ValueError(f"{out.parent}: output folder does not exist")
        if out.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"{out}: unknown image format (use one of {', '.join(IMAGE_SUFFIXES)})")
        paths = [out]
    for src, dst in zip(inputs, paths):
        if dst.resolve() == src.resolve() and not overwrite:
            raise ValueError(f"{dst}: output would replace its input; pass --overwrite to allow it")
        if check_existing and dst.exists() and not overwrite:
            raise ValueError(f"{dst} exists; pass --overwrite to replace it")
    return paths


def plan_groups(keys: list, sizes: list[int], batch_files: int, max_pixels: int) -> list[list[int]]:
    """The files restored together, as lists of indices in input order, ordered by their first
    file: files of equal key (None: a file of its own) up to `batch_files` at a time and at most
    `max_pixels` pixels at once (sizes: each file's pixels at once). Depends on the inputs alone."""
    groups: list[list[int]] = []
    open_: dict = {}
    for i, (key, size) in enumerate(zip(keys, sizes)):
        room = min(int(batch_files), max(1, int(max_pixels) // max(1, size)))
        g = open_.get(key) if key is not None else None
        if g is None or len(g) >= room:
            g = []
            groups.append(g)
            if key is not None:
                open_[key] = g
        g.append(i)
    return groups


def _check_format(mode: str, path: Path) -> None:
    """ValueError (one line) when `path`'s format cannot hold an image of `mode` without losing its
    alpha or its depth (16-bit, float): such images need a PNG or a TIFF."""
    s = path.suffix.lower()
    fmt = "JPEG" if s in (".jpg", ".jpeg") else s[1:].upper()
    if fmt == "JPEG" and mode in ("RGBA", "LA"):
        raise ValueError(f"{path}: JPEG has no alpha channel; write a PNG")
    deep = "float" if mode == "F" else "16-bit" if mode.startswith("I") else None
    if deep and s not in (".png", ".tif", ".tiff"):
        raise ValueError(f"{path}: {fmt} cannot hold {deep} images; write a PNG or TIFF")


def _save(im: Image.Image, path: Path, icc: bytes | None) -> None:
    _check_format(im.mode, path)
    kwargs = {"icc_profile": icc} if icc else {}
    if path.suffix.lower() in (".jpg", ".jpeg"):
        kwargs["quality"] = 95
    if im.mode == "F" and path.suffix.lower() == ".png":  # float on [0, 1] -> PNG's deepest, 16-bit gray
        im = Image.fromarray(np.round(np.clip(np.asarray(im, dtype=np.float64), 0, 1) * 65535).astype(np.uint16))
    fmt = Image.registered_extensions()[path.suffix.lower()]
    atomic_write(path, lambda tmp: im.save(tmp, format=fmt, **kwargs))


def kernel_image(k: torch.Tensor) -> Image.Image:
    """A kernel as a 16-bit gray PNG scaled to its maximum (`--kernel FILE` reads it back, sum 1)."""
    a = k.double().numpy()
    return Image.fromarray(np.round(a / max(float(a.max()), 1e-12) * 65535).astype(np.uint16))


def _heat(std: torch.Tensor) -> Image.Image:
    s = std.mean(0).numpy()
    v = s / max(float(s.max()), 1e-12)
    # a small perceptual ramp black -> purple -> orange -> yellow
    stops = np.array([[0, 0, 0], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], float)
    pos = v * (len(stops) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(stops) - 2)
    f = (pos - lo)[..., None]
    rgb = stops[lo] * (1 - f) + stops[lo + 1] * f
    return Image.fromarray(np.round(rgb).astype(np.uint8))


def _observation(command: str, image, task: dict, seed: int, sigma_y: float) -> Image.Image:
    """--degrade: the observation the command's operator makes of a clean image, saved as 8 bits."""
    x = load_image(image).x[None]  # the pixels on [0, 1] as the restoration reads them (16-bit, float TIFF)
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    if command == "sr":  # a whole number of low-resolution pixels
        s = task["scale"]
        x = x[..., : (x.shape[-2] // s) * s, : (x.shape[-1] // s) * s]
    y = COMMANDS[command].operator(task).A(x)
    y = add_noise(y, sigma_y, torch.Generator().manual_seed(seed)).clamp(0, 1) if sigma_y > 0 else y
    return Image.fromarray(np.round(y[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))


def _load_mask(path, image_size, mask_keeps: bool, resize: bool, max_pixels: int) -> np.ndarray:
    from restore.operators import load_mask

    keep = load_mask(path, fill_is_white=not mask_keeps, max_pixels=max_pixels)[0, 0].numpy() > 0.5
    if keep.shape != image_size[::-1]:
        if not resize:
            raise ValueError(f"{path}: mask is {keep.shape[1]}x{keep.shape[0]}, the image {image_size[0]}x{image_size[1]}; "
                             "pass --resize-mask to resize it")
        keep = np.asarray(Image.fromarray(keep).resize(image_size, Image.NEAREST))
    fill = ~keep
    if not fill.any():
        raise ValueError(f"{path}: mask is empty: nothing to fill (white = fill; --mask-keeps inverts)")
    if fill.all():
        raise ValueError(f"{path}: mask covers the whole image: nothing is observed")
    return fill


def _read_checked(path: Path, max_pixels: int):
    """The file decoded once (`load_image`) with the checks the restoration applies (NaN, range), so
    that a bad file among several is refused before anything runs or is written."""
    im = read_image(path, max_pixels=max_pixels)
    try:
        return load_image(im)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _device(device: str) -> str:
    """`device`, with "auto"/"cuda" made cuda:LOCAL_RANK under torchrun (one GPU per process)."""
    import torch

    local = os.environ.get("LOCAL_RANK")
    if device in ("auto", "cuda") and local is not None and local.isdigit() and torch.cuda.is_available():
        return f"cuda:{int(local) % torch.cuda.device_count()}"
    return device


def restore_files(command: str, inputs, out, *, task: dict | None = None, degrade=False, overwrite=False,
                  skip_existing: bool | None = None, batch_files: int = 1, shard: tuple[int, int] | None = None,
                  uncertainty=None, max_pixels=MAX_PIXELS, progress=None, echo=print, split_tiles: bool = False,
                  prior=None, device: str = "auto", precision: str | None = None, sigma_y: float | None = None,
                  seed: int = 0, margin: int | None = None, denoise_rest: bool = False, save_kernel=None,
                  **choices) -> list[Path]:
    """Run one restoration command over files; returns the written paths.

    task: the command's own inputs: inpaint {mask: path, mask_keeps, resize_mask}, deblur {kernel:
    spec, "auto" or None: estimated from each photo; save_kernel: write the estimate as a PNG},
    sr {scale}; choices: `restore.plan.make_plan`'s (method, steps, strength, samples,
    levels, workers: 0 = every core of a CPU); prior, device, precision: the prior's
    (`restore.pipeline.load_prior`); inpaint: margin, denoise_rest (`restore.inpaint`).
    batch_files: files restored as one batch at most (module docstring); shard: (rank, world) of
    this process (default: `process_shard()`); skip_existing: a file whose outputs all exist is
    not restored (default: when world > 1); overwrite: they are replaced. split_tiles: every process
    restores every file, sharing each network evaluation's tiles, and rank 0 writes (module
    docstring; nothing to share in a world of 1)."""
    task = dict(task or {})
    rank, world = process_shard() if shard is None else (int(shard[0]), int(shard[1]))
    spread = bool(split_tiles) and world > 1
    if spread:
        check_rendezvous()
        echo = echo if rank == 0 else (lambda message: None)
        progress = progress if rank == 0 else None
    if skip_existing is None:
        skip_existing = world > 1 and not overwrite
    if skip_existing and overwrite:
        raise ValueError("--skip-existing and --overwrite exclude each other")
    if int(batch_files) < 1:
        raise ValueError("--batch-files must be at least 1")
    files = expand_inputs(inputs)
    # existing outputs are checked below, for this process's files only (the others' may appear meanwhile)
    outs = plan_outputs(files, out, overwrite, check_existing=False)
    if uncertainty is not None and len(files) > 1:
        raise ValueError("--uncertainty takes one input; run the inputs one by one")
    if uncertainty is not None:
        plan_outputs(files, uncertainty, overwrite, check_existing=False)
    scale = check_scale(task["scale"]) if "scale" in task else 1  # before anything is read or degraded
    shapes, at_once, decoded = [], [], {}
    for f, dst in zip(files, outs):  # every input is checked first, by every process; decoded again when its turn
        im = _read_checked(f, max_pixels)  # comes (memory holds one batch of files), unless it is the only one
        if len(files) == 1:
            decoded[0] = im
        _check_format(result_mode(im.mode, im.info), dst)
        shapes.append(tuple(im.x.shape))
        h, w = im.x.shape[-2] * scale, im.x.shape[-1] * scale
        at_once.append(w * h)  # one draw: a prior run by tiles restores its draws one after another
        if w * h > max_pixels:
            raise ValueError(f"{f}: the {w}x{h} result would be {w * h} pixels at once, more than the "
                             f"--max-pixels limit of {max_pixels}")
    if "mask" in task:  # a path: the mask of what to fill, checked against the first image
        h, w = shapes[0][-2:]
        task = {"observed": observed_pixels(_load_mask(task["mask"], (w, h), task.get("mask_keeps", False),
                                                       task.get("resize_mask", False), max_pixels))}
    blind = "kernel" in task and task["kernel"] in (None, "auto")  # each photo's own blur, estimated
    if blind and degrade:
        raise ValueError("--degrade needs a --kernel to blur with")
    if save_kernel is not None and not (blind and len(files) == 1):
        raise ValueError("--save-kernel takes one input whose kernel is estimated (--kernel auto)")
    if "kernel" in task and not blind:
        task["kernel"] = parse_kernel(task["kernel"])  # checked before anything runs
    if "scale" in task:
        task["scale"] = scale
    # a batch shares one noise level: known (given, or 0 for --degrade) for all its files, not estimated
    batchable = command != "inpaint" and not blind and (sigma_y is not None or degrade)
    keys = [shape if batchable else None for shape in shapes]
    groups = plan_groups(keys, at_once, batch_files, max_pixels)
    groups = groups if spread else groups[rank::world]
    # each file's outputs: finished when all exist (skip_existing), refused when some do (unless overwrite)
    written_by = [[dst] + ([dst.with_name(dst.stem + "_observed.png")] if degrade else [])
                  + ([Path(uncertainty)] if uncertainty is not None else []) for dst in outs]
    finished = [skip_existing and all(p.exists() for p in paths) for paths in written_by]
    for i in (i for g in groups for i in g):
        there = [p for p in written_by[i] if p.exists()]
        if there and not finished[i] and not overwrite:
            raise ValueError(f"{there[0]} exists; pass --overwrite to replace it")
    todo = [g for g in groups if not all(finished[i] for i in g)]
    for i in (i for g in groups if g not in todo for i in g):
        echo(f"{outs[i]} exists: skipped")
    if not todo:
        return []
    prior = load_prior(prior, _device(device), precision)  # loaded once
    plans = []  # each file's plan, made once, before anything runs
    for f, shape in zip(files, shapes):
        if blind:
            est = estimate_kernel((decoded.get(0) or _read_checked(f, max_pixels)).x)
            echo(f"{f}: {est}" + ("" if est.usable else "; the photo is left as it is (give --kernel to deblur it)"))
            if save_kernel is not None:
                _save(kernel_image(est.kernel), Path(save_kernel), None)
            if not est.usable:
                plans.append(None)
                continue
            task = {"kernel": est.kernel}
        h, w = shape[-2:]
        if degrade and command == "sr":  # the observation: a whole number of low-resolution pixels
            h, w = h // scale, w // scale
        plan = make_plan(command, prior, task, (1, shape[0], h, w), return_std=uncertainty is not None,
                         split_tiles=spread, **({"margin": None if denoise_rest else margin,
                                                 "keep_observed": not denoise_rest or sigma_y == 0}
                                                if command == "inpaint" else {}), **choices)
        h, w = shape[-2] * scale, shape[-1] * scale
        if w * h * plan.draws_at_once > max_pixels:  # a prior that sees the whole image holds all its draws at once
            raise ValueError(f"{f}: {plan.samples} draws of the {w}x{h} result would be {w * h * plan.samples} pixels "
                             f"at once, more than the --max-pixels limit of {max_pixels}")
        plans.append(plan)
    pool = contextlib.ExitStack()  # the command's tile workers: forked now, before a restoration's buffers exist
    made = [p for p in plans if p is not None]
    tiled = bool(made) and made[0].workers > 1 and any(p.tiled for p in made)
    workers = pool.enter_context(TileWorkers(prior, made[0].workers)) if tiled else None

    def restore(todo: list, write: bool) -> list[Path]:  # the groups; writes their outputs when `write`
        written = []
        for g in todo:
            t0 = time.perf_counter()
            images = [decoded.pop(i, None) or _read_checked(files[i], max_pixels) for i in g]
            observed, restored = _restore_group(plans[g[0]], prior, [files[i] for i in g], images, degrade, sigma_y,
                                                seed, progress, echo, workers)
            for i, im, (res, std), obs in zip(g, images, restored, observed):
                if finished[i]:  # restored again with its batch (its neighbours' draws are those of the first run)
                    echo(f"{outs[i]} exists: kept")
                    continue
                if not write:
                    continue
                icc = im.info.get("icc_profile")
                if degrade:  # written with the result, so a failed restoration leaves nothing behind
                    _save(obs, written_by[i][1], icc)
                _save(res, outs[i], icc)
                if uncertainty is not None:
                    _save(_heat(std), Path(uncertainty), None)
                echo(f"{outs[i]} ({time.perf_counter() - t0:.1f} s{f', a batch of {len(g)}' if len(g) > 1 else ''})")
                written.append(outs[i])
        return written

    with pool:
        if not spread:
            return restore(todo, write=True)
        import torch.distributed as dist

        made = join_process_group(prior.device)
        try:
            box = [finished]
            dist.broadcast_object_list(box, src=0)  # rank 0's view of what is finished; every rank is here
            finished = box[0]
            return restore([g for g in groups if not all(finished[i] for i in g)], write=rank == 0)
        finally:
            if made:
                dist.destroy_process_group()


def _restore_group(plan, prior, files, images, degrade, sigma_y, seed, progress, echo, workers):
    """([observation or None], [(result, std or None)]) of files restored together by `plan` (None:
    left as they are)."""
    observed = [None] * len(files)
    if plan is None:
        return observed, [(give_back(im, im.x), None) for im in images]
    ims = list(images)
    if degrade:
        sigma = 0.0 if sigma_y is None else sigma_y
        observed = [_observation(plan.command, im, plan.task, seed, sigma) for im in images]
        ims = [load_image(o) for o in observed]
    else:
        sigma = sigma_y
        if sigma_y is None:  # one file (files batch only with a known noise level)
            sigma = noise_level(ims[0], None)
            echo(f"{files[0]}: estimated noise sigma_y = {sigma:.4f} (on [0, 1])")
    restored = run(plan, prior, ims, sigma, seed, progress, workers)
    return observed, restored if plan.return_std else [(r, None) for r in restored]
