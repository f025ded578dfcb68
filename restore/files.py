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


def _observation(command: str, im: Image.Image, opts: dict, seed: int, sigma_y: float):
    """--degrade: synthesise the observation from a clean image (and, for inpainting, keep its mask)."""
    from restore.operators import Blur, Downsample, add_noise

    x = api._load(im).x[None]  # the pixels on [0, 1] as the restoration reads them (16-bit, float TIFF)
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    g = torch.Generator().manual_seed(seed)
    if command == "inpaint":
        y = x * torch.from_numpy(~opts["mask"]).double()[None, None]
    elif command == "deblur":
        y = Blur(opts["kernel"]).A(x)
    elif command == "sr":
        s = opts["scale"]
        h, w = (x.shape[-2] // s) * s, (x.shape[-1] // s) * s
        y = Downsample(s, "bicubic").A(x[..., :h, :w])
    else:
        y = x
    y = add_noise(y, sigma_y, g).clamp(0, 1) if sigma_y > 0 else y
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


def _read_checked(path: Path, max_pixels: int) -> Image.Image:
    """read_image, then the checks the restoration applies to the pixels (NaN, range), so that a
    bad file among several is refused before anything runs or is written."""
    im = read_image(path, max_pixels=max_pixels)
    try:
        api._load(im)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return im


def restore_files(command: str, inputs, out, *, mask=None, mask_keeps=False, resize_mask=False, kernel=None,
                  scale=4, prior=None, method=None, steps=None, strength=None, sigma_y=None, seed=0, device="auto",
                  samples=None, uncertainty=None, degrade=False, overwrite=False, max_pixels=MAX_PIXELS, progress=None,
                  echo=print, method_options=None) -> list[Path]:
    """Run one restoration command over files; returns the written paths. method_options: more
    keywords for the command's function in restore.api (inpaint: margin, denoise_rest)."""
    samples = int(api.DEFAULTS[command].samples if samples is None else samples)
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
    for f, im in zip(files, images):  # what runs at once: the result (scale^2 x larger for sr), samples times
        s = int(scale) if command == "sr" else 1
        w, h = im.size[0] * s, im.size[1] * s
        if w * h * samples > max_pixels:
            what = f"{samples} draws of the {w}x{h} result" if samples > 1 else f"the {w}x{h} result"
            raise ValueError(f"{f}: {what} would be {w * h * samples} pixels at once, more than the "
                             f"--max-pixels limit of {max_pixels}")
    opts = {"kernel": kernel or "gaussian:3.0", "scale": int(scale)}
    if command == "inpaint":
        opts["mask"] = _load_mask(mask, images[0].size, mask_keeps, resize_mask, max_pixels)
    if command == "deblur":
        opts["kernel"] = api.parse_kernel(opts["kernel"])  # checked before anything runs
    prior_obj = api._prior(prior, device)  # loaded once, for every input
    written = []
    for f, dst, im in zip(files, outs, images):
        t0 = time.perf_counter()
        icc = im.info.get("icc_profile")
        sig = sigma_y
        if degrade:
            sig = 0.0 if sigma_y is None else sigma_y
            im = _observation(command, im, opts, seed, sig)
            obs_path = dst.with_name(dst.stem + "_observed.png")
            if obs_path.exists() and not overwrite:
                raise ValueError(f"{obs_path} exists; pass --overwrite to replace it")
        if sig is None:
            sig = api.estimate_noise(api._load(im).x)
            echo(f"{f}: estimated noise sigma_y = {sig:.4f} (on [0, 1])")
        common = dict(prior=prior_obj, method=method, steps=steps, strength=strength, sigma_y=sig, seed=seed,
                      samples=samples, return_std=True, callback=progress, **(method_options or {}))
        if command == "inpaint":
            res, std = api.inpaint(im, opts["mask"], **common)
        elif command == "deblur":
            res, std = api.deblur(im, opts["kernel"], **common)
        elif command == "sr":
            res, std = api.super_resolve(im, opts["scale"], **common)
        else:
            res, std = api.denoise(im, **common)
        if degrade:  # written with the result, so a failed restoration leaves nothing behind
            _save(im, obs_path, icc)
        _save(res, dst, icc)
        if uncertainty is not None:
            _save(_heat(std), Path(uncertainty), None)
        echo(f"{dst} ({time.perf_counter() - t0:.1f} s)")
        written.append(dst)
    return written
