"""Shared by the fuzz tests: hostile files (truncated, mutated, bombs, NaN) and a per-case time limit."""
from __future__ import annotations

import contextlib
import io
import signal
import struct
import zlib

import numpy as np
from PIL import Image

FORMATS = {"png": "PNG", "jpg": "JPEG", "tif": "TIFF", "bmp": "BMP", "webp": "WEBP"}
LOSSLESS = {"png", "tif", "bmp"}


class CaseTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise CaseTimeout in the main thread after `seconds` (a hang fails the case, not the suite)."""

    def fire(signum, frame):
        raise CaseTimeout(f"case took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def encode(a: np.ndarray, ext: str, mode: str | None = None) -> bytes:
    """An array as the bytes of an image file of format `ext`."""
    buf = io.BytesIO()
    Image.fromarray(a, mode).save(buf, format=FORMATS[ext])
    return buf.getvalue()


def png_with_size(width: int, height: int, bit_depth: int = 1, colour: int = 0, idat: bytes = b"") -> bytes:
    """A PNG whose header declares width x height (CRCs right), with the given (maybe no) data:
    a decompression bomb when the size is huge, a zero-size image when a side is 0."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(idat)) + chunk(b"IEND", b"")


def tiff_float(a: np.ndarray) -> bytes:
    """A 32-bit float (mode F) TIFF of a 2-D array (NaN and inf kept)."""
    return encode(a.astype(np.float32), "tif", "F")


def npy_header_only(shape: tuple, dtype: str = "<f8", tail: bytes = b"") -> bytes:
    """An .npy file declaring `shape` followed by `tail` (few or no data bytes)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue() + tail


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def mutate(data: bytes, how: str, pos: float, value: int) -> bytes:
    """truncate at a fraction `pos`, flip the byte there, or insert one."""
    i = min(len(data) - 1, int(pos * len(data))) if data else 0
    if how == "truncate":
        return data[:i]
    if how == "flip" and data:
        return data[:i] + bytes([data[i] ^ (value or 1)]) + data[i + 1:]
    return data[:i] + bytes([value]) + data[i:]


def one_line_error(message: str) -> bool:
    return bool(message) and "\n" not in message.strip() and "Traceback" not in message
