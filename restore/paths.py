"""Which files a restoration command reads and which it writes (nothing is read or written here).

Inputs: files, glob patterns and folders (a folder means the images in it, sorted by name, not its
subfolders; hidden files and earlier results beside their inputs left out). Outputs: with no -o
each result goes beside its input as NAME_restored.EXT; -o names the result for one input, or a
folder (an existing one, a path ending in "/", or any path for several inputs) that is created
when the first result is written.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

from .io import IMAGE_SUFFIXES

__all__ = ["SUFFIX", "expand_inputs", "plan_outputs", "default_output", "output_folder"]

SUFFIX = "_restored"  # photo.jpg -> photo_restored.jpg


def _images_in(folder: Path) -> list[Path]:
    """The images in `folder`, sorted by name: its files with an image suffix, not hidden, and not
    an earlier result of restore beside its input (NAME_restored.EXT where NAME.* is there too)."""
    found = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
             and p.suffix.lower() in IMAGE_SUFFIXES]
    stems = {p.stem for p in found}
    found = [p for p in found if not (p.stem.endswith(SUFFIX) and p.stem[: -len(SUFFIX)] in stems)]
    if not found:
        raise ValueError(f"{folder}: no images in this folder ({', '.join(IMAGE_SUFFIXES)})")
    return sorted(found, key=lambda p: p.name)


def expand_inputs(patterns) -> list[Path]:
    """Files, glob patterns and folders -> existing files, in order, without repeats. A folder
    gives its images (`_images_in`); a glob's folders are left out."""
    out: list[Path] = []
    for pat in patterns:
        pat = str(pat)
        if any(ch in pat for ch in "*?["):
            hits = [Path(h) for h in sorted(glob.glob(pat)) if not Path(h).is_dir()]
            if not hits:
                raise ValueError(f"{pat}: no file matches")
        elif Path(pat).is_dir():
            hits = _images_in(Path(pat))
        else:
            hits = [Path(pat)]
        for p in hits:
            if not p.is_file():
                raise ValueError(f"{p}: no such file")
            if p not in out:
                out.append(p)
    return out


def default_output(src: Path) -> Path:
    """NAME_restored.EXT beside the input (a PNG where the input's format is not one restore writes)."""
    suffix = src.suffix if src.suffix.lower() in IMAGE_SUFFIXES else ".png"
    return src.with_name(src.stem + SUFFIX + suffix)


def output_folder(out, n_inputs: int) -> bool:
    """Whether -o `out` names a folder: one that exists, a path ending in a separator, or any path
    when there are several inputs."""
    text = str(out)
    return n_inputs > 1 or Path(out).is_dir() or text.endswith(("/", os.sep))


def plan_outputs(inputs: list[Path], out=None, overwrite: bool = False, check_existing: bool = True) -> list[Path]:
    """One output path per input (module docstring): beside each input with no `out`, out/NAME in
    a folder, `out` itself for one input. Never an input, never two inputs' same output, never an
    existing file unless overwrite is given (check_existing=False: the caller checks that). A
    folder to be made is only checked here (a file where it should be is refused)."""
    if out is None:
        paths = [default_output(p) for p in inputs]
    elif output_folder(out, len(inputs)):
        folder = Path(out)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{folder}: is a file; several inputs need an output folder")
        paths = [folder / (p.name if p.suffix.lower() in IMAGE_SUFFIXES else p.stem + ".png") for p in inputs]
    else:
        out = Path(out)
        if not out.parent.is_dir():
            raise ValueError(f"{out.parent}: output folder does not exist (end -o with / to have it made)")
        if out.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"{out}: unknown image format (use one of {', '.join(IMAGE_SUFFIXES)})")
        paths = [out]
    seen = {}
    for src, dst in zip(inputs, paths):
        if dst.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"{dst}: unknown image format (use one of {', '.join(IMAGE_SUFFIXES)})")
        if dst.resolve() == src.resolve() and not overwrite:
            raise ValueError(f"{dst}: output would replace its input; pass --overwrite to allow it")
        if dst.resolve() in seen:
            raise ValueError(f"{seen[dst.resolve()]} and {src} would both be written to {dst}")
        seen[dst.resolve()] = src
        if check_existing and dst.exists() and not overwrite:
            raise ValueError(f"{dst} exists; pass --overwrite to replace it")
    return paths
