"""The restoration commands on files: read, (optionally) degrade, restore, write atomically.

Used by the command line; every failure is a ValueError with a one-line message, raised before
anything is written. Which files are read and written: `restore.paths` (with no output named,
each result beside its input as NAME_restored.EXT); how: `restore.save` (the input's mode, ICC
profile, EXIF and XMP kept). An inpainting's region: `restore.fill`, per file (a mask file, or
each image's own transparency).

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
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from restore.operators import add_noise, parse_kernel
from restore.operators.blind import estimate_kernel
from restore.priors.parallel import TileWorkers, check_rendezvous, join_process_group, process_shard

from .fill import fill_region, fit_mask, opaque, read_mask
from .images import give_back, load_image, result_mode
from .io import MAX_PIXELS, read_image
from .paths import expand_inputs, plan_outputs
from .pipeline import load_prior, noise_level, run
from .plan import COMMANDS, check_scale, check_sigma_y, make_plan, observed_pixels
from .save import DEFAULT_QUALITY, LOSSY, check_format, check_quality, heat_map, save

__all__ = ["expand_inputs", "plan_groups", "plan_outputs", "restore_files", "format_duration"]


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


def _inpaint_fill(path: Path, im, task: dict, mask):
    """(observed pixels, image to restore) of an inpainting of the file `path` (`restore.fill`):
    the mask file's fill (read once, `mask`) or the image's transparency, with the boxes, grown."""
    if mask is not None:
        mask = fit_mask(mask, task["mask"], tuple(im.x.shape[-1:-3:-1]), task.get("resize_mask", False))
    try:
        fill, im = fill_region(im, mask, boxes=task.get("boxes", ()), grow=task.get("grow", 0))
    except ValueError as e:
        if mask is None:
            raise ValueError(f"{path}: {e}") from None
        hint = " (white or any colour = fill; --mask-keeps inverts)" if "empty" in str(e) else ""
        raise ValueError(f"{task['mask']}: {e}{hint}") from None
    return observed_pixels(fill), im


def restore_files(command: str, inputs, out=None, *, task: dict | None = None, degrade=False, overwrite=False,
                  skip_existing: bool | None = None, batch_files: int = 1, shard: tuple[int, int] | None = None,
                  uncertainty=None, max_pixels=MAX_PIXELS, progress=None, echo=print, split_tiles: bool = False,
                  prior=None, device: str = "auto", precision: str | None = None, sigma_y: float | None = None,
                  seed: int = 0, margin: int | None = None, denoise_rest: bool = False,
                  quality: int = DEFAULT_QUALITY, save_kernel=None, **choices) -> list[Path]:
    """Run one restoration command over files; returns the written paths.

    inputs: files, globs and folders (`restore.paths.expand_inputs`); out: None (each result beside
    its input, NAME_restored.EXT), an output file, or a folder, made when the first result is
    written (`restore.paths.plan_outputs`). task: the command's own inputs: inpaint {mask: path or
    None (the image's transparency), mask_keeps, resize_mask, boxes, grow} (`restore.fill`), deblur
    {kernel: spec, or "auto"/None: each photo's own blur, estimated; save_kernel: the estimate's
    PNG}, sr {scale}; choices: `restore.plan.make_plan`'s (method, steps, strength,
    samples, levels, workers: 0 = every core of a CPU); prior, device, precision: the prior's
    (`restore.pipeline.load_prior`); inpaint: margin, denoise_rest (`restore.inpaint`); quality:
    JPEG and WebP outputs' (`restore.save`). batch_files: files restored as one batch at most
    (module docstring); shard: (rank, world) of this process (default: `process_shard()`);
    skip_existing: a file whose outputs all exist is not restored (default: when world > 1);
    overwrite: they are replaced. split_tiles: every process restores every file, sharing each
    network evaluation's tiles, and rank 0 writes (module docstring; nothing to share in a world
    of 1). progress: called at every network evaluation with the solver's dict plus "file" (1..N
    of this process's files), "files" (N) and "left" (seconds until all are done, estimated from
    the files done; None before the first)."""
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
    check_sigma_y(sigma_y)
    check_quality(quality)
    files = expand_inputs(inputs)
    # existing outputs are checked below, for this process's files only (the others' may appear meanwhile)
    outs = plan_outputs(files, out, overwrite, check_existing=False)
    if uncertainty is not None and len(files) > 1:
        raise ValueError("--uncertainty takes one input; run the inputs one by one")
    if uncertainty is not None:
        uncertainty = plan_outputs(files, uncertainty, overwrite, check_existing=False)[0]
    scale = check_scale(task["scale"]) if "scale" in task else 1  # before anything is read or degraded
    blind = "kernel" in task and task["kernel"] in (None, "auto")  # each photo's own blur, estimated
    if blind and degrade:
        raise ValueError("--degrade needs a --kernel to blur with")
    if save_kernel is not None and not (blind and len(files) == 1):
        raise ValueError("--save-kernel takes one input whose kernel is estimated (--kernel auto)")
    if "kernel" in task and not blind:
        task["kernel"] = parse_kernel(task["kernel"])  # checked before anything is read
    if "scale" in task:
        task["scale"] = scale
    inpaint = command == "inpaint"
    if inpaint and not task.get("mask") and (task.get("mask_keeps") or task.get("resize_mask")):
        raise ValueError(f"--{'mask-keeps' if task.get('mask_keeps') else 'resize-mask'} applies to a MASK file; none given")
    mask = read_mask(task["mask"], task.get("mask_keeps", False), max_pixels) if inpaint and task.get("mask") else None
    tasks, opaque_files, shapes, at_once, decoded = [task] * len(files), set(), [], [], {}
    for i, (f, dst) in enumerate(zip(files, outs)):  # every input is checked first, by every process; decoded
        im = _read_checked(f, max_pixels)  # again when its turn comes (memory holds one batch), unless the only one
        if inpaint:  # each file's own fill: the mask's, or its transparency (then restored without its alpha)
            observed, fitted = _inpaint_fill(f, im, task, mask)
            tasks[i] = {"observed": observed}
            if fitted is not im:
                opaque_files.add(i)
            im = fitted
        if len(files) == 1:
            decoded[0] = im
        check_format(result_mode(im.mode, im.info), dst)
        shapes.append(tuple(im.x.shape))
        h, w = im.x.shape[-2] * scale, im.x.shape[-1] * scale
        at_once.append(w * h)  # one draw: a prior run by tiles restores its draws one after another
        if w * h > max_pixels:
            raise ValueError(f"{f}: the {w}x{h} result would be {w * h} pixels at once, more than the "
                             f"--max-pixels limit of {max_pixels}")
    # a batch shares one noise level: known (given, or 0 for --degrade) for all its files, not estimated
    batchable = not inpaint and not blind and (sigma_y is not None or degrade)
    keys = [shape if batchable else None for shape in shapes]
    groups = plan_groups(keys, at_once, batch_files, max_pixels)
    groups = groups if spread else groups[rank::world]
    # each file's outputs: finished when all exist (skip_existing), refused when some do (unless overwrite)
    written_by = [[dst] + ([dst.with_name(dst.stem + "_observed.png")] if degrade else [])
                  + ([uncertainty] if uncertainty is not None else []) for dst in outs]
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
    for i, (f, shape, t) in enumerate(zip(files, shapes, tasks)):
        if blind:
            est = estimate_kernel((decoded.get(i) or _read_checked(f, max_pixels)).x)
            echo(f"{f}: {est}" + ("; the photo is left as it is (give --kernel to deblur it)" if not est.usable else
                                  "; --save-kernel K.png, then --kernel K.png, restores it in full" if est.share < 1
                                  else ""))
            if save_kernel is not None:
                save(kernel_image(est.kernel), Path(save_kernel))
            if not est.usable:
                plans.append(None)
                continue
            t = {"kernel": est.kernel, "share": est.share}
        h, w = shape[-2:]
        if degrade and command == "sr":  # the observation: a whole number of low-resolution pixels
            h, w = h // scale, w // scale
        plan = make_plan(command, prior, t, (1, shape[0], h, w), return_std=uncertainty is not None,
                         split_tiles=spread, **({"margin": None if denoise_rest else margin,
                                                 "keep_observed": not denoise_rest or sigma_y == 0}
                                                if inpaint else {}), **choices)
        h, w = shape[-2] * scale, shape[-1] * scale
        if w * h * plan.draws_at_once > max_pixels:  # a prior that sees the whole image holds all its draws at once
            raise ValueError(f"{f}: {plan.samples} draws of the {w}x{h} result would be {w * h * plan.samples} pixels "
                             f"at once, more than the --max-pixels limit of {max_pixels}")
        plans.append(plan)
    lossy = [outs[i] for g in todo for i in g if inpaint and outs[i].suffix.lower() in LOSSY]
    if lossy:
        fmt = "WebP" if lossy[0].suffix.lower() == ".webp" else "JPEG"
        warnings.warn(f"{lossy[0]}: {fmt} is lossy, so the pixels outside the mask cannot stay bit-identical; "
                      "write a PNG to keep them exactly", UserWarning, stacklevel=2)
    pool = contextlib.ExitStack()  # the command's tile workers: forked now, before a restoration's buffers exist
    made = [p for p in plans if p is not None]  # None: a photo left as it is (no blur found)
    tiled = bool(made) and made[0].workers > 1 and any(p.tiled for p in made)
    workers = pool.enter_context(TileWorkers(prior, made[0].workers)) if tiled else None

    def image(i: int):  # file i decoded (again) as it is restored
        im = decoded.pop(i, None) or _read_checked(files[i], max_pixels)
        return opaque(im) if i in opaque_files else im

    def restore(todo: list, write: bool) -> list[Path]:  # the groups; writes their outputs when `write`
        written, n, done, start = [], sum(len(g) for g in todo), 0, time.perf_counter()
        for g in todo:
            t0 = time.perf_counter()

            def tick(info, first=done + 1, spent=t0 - start, done=done):  # the solver's dict, with the run's place
                left = None if not done else max(0.0, spent / done * (n - done) - (time.perf_counter() - t0))
                progress({**info, "file": first, "files": n, "left": left})

            images = [image(i) for i in g]
            observed, restored = _restore_group(plans[g[0]], prior, [files[i] for i in g], images, degrade, sigma_y,
                                                seed, tick if progress else None, echo, workers)
            after, spent = done + len(g), time.perf_counter() - start  # the run's place after this group
            left = "" if after >= n else f", about {format_duration(spent / after * (n - after))} left"
            for i, im, (res, std), obs in zip(g, images, restored, observed):
                done += 1
                if finished[i]:  # restored again with its batch (its neighbours' draws are those of the first run)
                    echo(f"{outs[i]} exists: kept")
                    continue
                if not write:
                    continue
                outs[i].parent.mkdir(parents=True, exist_ok=True)  # an output folder, made on demand
                if degrade:  # written with the result, so a failed restoration leaves nothing behind
                    save(obs, written_by[i][1], im.info, quality)
                save(res, outs[i], im.info, quality)
                if uncertainty is not None:
                    uncertainty.parent.mkdir(parents=True, exist_ok=True)
                    save(heat_map(std), uncertainty)
                took = f"{time.perf_counter() - t0:.1f} s{f', a batch of {len(g)}' if len(g) > 1 else ''}"
                echo(f"[{done}/{n}{left}] {outs[i]} ({took})" if n > 1 else f"{outs[i]} ({took})")
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


def kernel_image(k: torch.Tensor) -> Image.Image:
    """A kernel as a 16-bit gray PNG scaled to its maximum (`--kernel FILE` reads it back, sum 1)."""
    a = k.double().numpy()
    return Image.fromarray(np.round(a / max(float(a.max()), 1e-12) * 65535).astype(np.uint16))


def format_duration(seconds: float) -> str:
    """A time left, as a person says it: 40 s, 3 min, 1 h 20 min."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{round(s / 60)} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _restore_group(plan, prior, files, images, degrade, sigma_y, seed, progress, echo, workers):
    """([observation or None], [(result, std or None)]) of files restored together by `plan` (None:
    left as they are)."""
    observed = [None] * len(files)
    if plan is None:
        return observed, [(give_back(im, im.x), torch.zeros_like(im.x).float()) for im in images]
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
