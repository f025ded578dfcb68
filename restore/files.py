"""The restoration commands on files: read, (optionally) degrade, restore, write atomically.

Used by the command line; every failure is a ValueError with a one-line message, raised before
anything is written. Outputs keep the input's mode (gray, RGB, RGBA, 16-bit) and ICC profile.
"""
from __future__ import annotations

import glob
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import api
from .io import IMAGE_SUFFIXES, MAX_PIXELS, atomic_write, read_image

__all__ = ["expand_inputs", "plan_outputs", "restore_files"]


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


def plan_outputs(inputs: list[Path], out, overwrite: bool) -> list[Path]:
    """One output path per input: `out` itself for one input (a file path, or a folder that exists),
    out/NAME for several (the folder must exist). Never an input, never an existing file unless
    overwrite is given."""
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
        if dst.exists() and not overwrite:
            raise ValueError(f"{dst} exists; pass --overwrite to replace it")
    return paths


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
    from restore.operators import add_noise

    x = api._load(image).x[None]  # the pixels on [0, 1] as the restoration reads them (16-bit, float TIFF)
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    if command == "sr":  # a whole number of low-resolution pixels
        s = task["scale"]
        x = x[..., : (x.shape[-2] // s) * s, : (x.shape[-1] // s) * s]
    y = api.command_operator(command, **task).A(x)
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
    """The file decoded once (api._load) with the checks the restoration applies (NaN, range), so
    that a bad file among several is refused before anything runs or is written."""
    im = read_image(path, max_pixels=max_pixels)
    try:
        return api._load(im)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def restore_files(command: str, inputs, out, *, task: dict | None = None, degrade=False, overwrite=False,
                  uncertainty=None, max_pixels=MAX_PIXELS, progress=None, echo=print, **options) -> list[Path]:
    """Run one restoration command over files; returns the written paths.

    task: the command's own inputs: inpaint {mask: path, mask_keeps, resize_mask}, deblur {kernel:
    spec}, sr {scale}; options: keywords of its function in restore.api (prior, method, steps,
    strength, sigma_y, seed, device, precision, workers, samples; inpaint: margin, denoise_rest)."""
    task = dict(task or {})
    samples = int(api.DEFAULTS[command].samples if options.get("samples") is None else options["samples"])
    options["samples"] = samples
    files = expand_inputs(inputs)
    outs = plan_outputs(files, out, overwrite)
    if uncertainty is not None and len(files) > 1:
        raise ValueError("--uncertainty takes one input; run the inputs one by one")
    if uncertainty is not None and samples < 2:
        raise ValueError("--uncertainty needs --samples of at least 2")
    if uncertainty is not None:
        plan_outputs(files, uncertainty, overwrite)
    if samples < 1:
        raise ValueError("--samples must be at least 1")
    images = [_read_checked(f, max_pixels) for f in files]  # every input is checked first
    for dst, im in zip(outs, images):
        _check_format(api.result_mode(im.mode, im.info), dst)
    scale = int(task.get("scale", 1))
    for f, im in zip(files, images):  # what runs at once: the result (scale^2 x larger for sr), samples times
        h, w = im.x.shape[-2] * scale, im.x.shape[-1] * scale
        if w * h * samples > max_pixels:
            what = f"{samples} draws of the {w}x{h} result" if samples > 1 else f"the {w}x{h} result"
            raise ValueError(f"{f}: {what} would be {w * h * samples} pixels at once, more than the "
                             f"--max-pixels limit of {max_pixels}")
    if "mask" in task:  # a path: the mask of what to fill, checked against the first image
        h, w = images[0].x.shape[-2:]
        task = {"mask": _load_mask(task["mask"], (w, h), task.get("mask_keeps", False), task.get("resize_mask", False),
                                   max_pixels)}
    if "kernel" in task:
        task["kernel"] = api.parse_kernel(task["kernel"] or "gaussian:3.0")  # checked before anything runs
    if "scale" in task:
        task["scale"] = scale
    if not options.get("workers"):
        options["workers"] = None  # 0: the default
    options["prior"] = api._prior(options.get("prior"), options.pop("device", "auto"),  # loaded once, for every input
                                  options.pop("precision", None))
    from restore.priors.tiling import default_workers

    workers = options["workers"] or default_workers(options["prior"].device)
    if workers > 1 and options["prior"].device.type == "cpu":
        torch.set_num_threads(1)  # the cores go to the tile workers: one thread here (benchmarks/cores.py)
        size = getattr(options["prior"], "image_size", None)
        if size and any(max(im.x.shape[-2:]) * scale > int(size) for im in images):  # it will run by tiles
            from restore.priors.tiling import start_workers

            start_workers(options["prior"], workers)  # forked now, before a restoration's buffers exist
    restore = api.COMMANDS[command]
    sigma_y = options.pop("sigma_y", None)
    written = []
    for f, dst, im in zip(files, outs, images):
        t0 = time.perf_counter()
        icc = im.info.get("icc_profile")
        if degrade:
            sigma = 0.0 if sigma_y is None else sigma_y
            observed = _observation(command, im, _operator_task(task), options.get("seed", 0), sigma)
            obs_path = dst.with_name(dst.stem + "_observed.png")
            if obs_path.exists() and not overwrite:
                raise ValueError(f"{obs_path} exists; pass --overwrite to replace it")
            im = api._load(observed)
        else:
            sigma = api.noise_level(im, sigma_y)
            if sigma_y is None:
                echo(f"{f}: estimated noise sigma_y = {sigma:.4f} (on [0, 1])")
        res, std = restore(im, **task, sigma_y=sigma, return_std=True, callback=progress, **options)
        if degrade:  # written with the result, so a failed restoration leaves nothing behind
            _save(observed, obs_path, icc)
        _save(res, dst, icc)
        if uncertainty is not None:
            _save(_heat(std), Path(uncertainty), None)
        echo(f"{dst} ({time.perf_counter() - t0:.1f} s)")
        written.append(dst)
    return written


def _operator_task(task: dict) -> dict:
    """The command's task inputs as `api.command_operator` takes them (a fill mask becomes the observed pixels)."""
    if "mask" not in task:
        return task
    return {"observed": torch.from_numpy(~task["mask"]).double()[None]}
