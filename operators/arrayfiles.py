"""Reading .npy / .npz arrays from users' files with a size limit checked BEFORE any data is read.

An .npy header declares the shape; numpy allocates what it declares. A 200-byte file claiming
100000 x 100000 float64 would make np.load ask for 80 GB, and a small .npz member can inflate to
gigabytes (a zip bomb). `read_array` parses the header first, refuses shapes above `max_elements`
(ValueError, one line), and only then reads; pickled (object) arrays are refused by numpy.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

__all__ = ["read_array"]


def _header(fp, source: str) -> tuple:
    """(shape, dtype) from an .npy stream positioned at its start."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise ValueError(f"{source}: not a readable .npy array ({e})") from None
    return tuple(shape), dtype


def _check(shape: tuple, dtype, source: str, max_elements: int) -> None:
    n = 1
    for s in shape:
        n *= int(s)
    if n > max_elements:
        raise ValueError(f"{source}: array of shape {shape} has {n} elements, more than the limit of {max_elements}")
    if dtype.hasobject:
        raise ValueError(f"{source}: object arrays are refused (they would unpickle code)")


def _load(fp, source: str) -> np.ndarray:
    try:
        return np.load(fp, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{source}: not a readable .npy array ({e})") from None


def read_array(path, name: str | None = None, *, max_elements: int) -> np.ndarray:
    """The array in an .npy file, or member `name` of an .npz (the only one when name is None)."""
    p = Path(path)
    if p.suffix.lower() != ".npz":
        with open(p, "rb") as fp:
            _check(*_header(fp, str(p)), str(p), max_elements)
            fp.seek(0)
            return _load(fp, str(p))
    try:
        with zipfile.ZipFile(p) as z:
            keys = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
            if name is None:
                if len(keys) != 1:
                    raise ValueError(f"{p} holds arrays {keys}; name one as '{p}:NAME'")
                name = keys[0]
            if name not in keys:
                raise ValueError(f"{p} has no array {name!r} (has {keys})")
            source = f"{p}:{name}"
            with z.open(name + ".npy") as fp:
                _check(*_header(fp, source), source, max_elements)
            with z.open(name + ".npy") as fp:
                return _load(fp, source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as e:
        raise ValueError(f"{p}: not a readable .npz archive ({type(e).__name__}: {e})") from None
