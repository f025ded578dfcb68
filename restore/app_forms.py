"""What a request to `restore app` carries, checked: the uploaded images and the option fields.

The options are the command line's own (`restore COMMAND --help`): the page lists them with the
CLI's types, defaults and help (`describe`), and a field's value is converted by the CLI's own
option type (`parse`), so the page, the endpoints and the command line accept the same values.
Images are decoded by `restore.io.read_image` (the header's size checked against the pixel limit
before anything is decoded, EXIF orientation honoured).
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import click
import numpy as np
from PIL import Image

from .io import read_image

__all__ = ["FILES", "PLAIN", "decode", "describe", "encode_png", "parse"]

# the options the page offers and the endpoints take, where the command has them (`restore COMMAND --help`)
PLAIN = ("kernel", "scale", "look", "samples", "steps", "strength", "sigma_y", "seed")
FILES = {"inpaint": ("image", "mask")}


def _plain(command: click.Command) -> dict[str, click.Parameter]:
    """The command's plain options, in PLAIN's order."""
    params = {p.name: p for p in command.params}
    return {name: params[name] for name in PLAIN if name in params}


def _kind(p: click.Parameter) -> str:
    if isinstance(p.type, (click.types.IntParamType, click.IntRange)):
        return "int"
    return "float" if isinstance(p.type, (click.types.FloatParamType, click.FloatRange)) else "text"


def describe(command: click.Command) -> dict:
    """The command's plain options as the page shows them: name, flag, kind (int | float | text),
    default (None: the library chooses, see help), bounds, choices (None: any value of its kind),
    help; and the files it takes."""
    options = []
    for name, p in _plain(command).items():
        default = p.default if isinstance(p.default, (int, float, str)) else None
        options.append({"name": name, "flag": p.opts[0], "kind": _kind(p), "default": default,
                        "min": getattr(p.type, "min", None), "max": getattr(p.type, "max", None),
                        "choices": list(p.type.choices) if isinstance(p.type, click.Choice) else None,
                        "help": p.help or ""})
    return {"help": (command.help or "").split("\n\n")[0], "files": list(FILES.get(command.name, ("image",))),
            "options": options}


def parse(command: click.Command, form) -> dict:
    """The option fields of a request (name -> text; empty: the default) converted by the CLI's
    types; ValueError (one line) for a field the command does not take or a bad value."""
    params, out = _plain(command), {}
    for name, text in form.items():
        if name == "command":
            continue
        if name not in params:
            takes = ", ".join([*FILES.get(command.name, ("image",)), *params])
            raise ValueError(f"{command.name} takes no field {name!r} (it takes {takes})")
        if not str(text).strip():
            continue
        try:
            out[name] = params[name].type.convert(str(text).strip(), params[name], None)
        except click.BadParameter as e:
            raise ValueError(f"{name}: {e.message}") from None
    return out


def decode(upload, field: str, max_pixels: int) -> Image.Image:
    """An uploaded file (werkzeug FileStorage or None) decoded; ValueError naming the field."""
    if upload is None:
        raise ValueError(f"no {field!r} file in the request (multipart/form-data)")
    with tempfile.TemporaryDirectory(prefix="restore-app-") as folder:
        path = Path(folder) / field
        upload.save(path)
        try:
            return read_image(path, max_pixels=max_pixels)
        except ValueError as e:
            raise ValueError(str(e).replace(str(path), field)) from None


def encode_png(im: Image.Image) -> bytes:
    """A restored image as PNG bytes (16-bit stays 16-bit; a float image becomes 16-bit gray), its
    ICC profile kept."""
    icc = im.info.get("icc_profile")
    if im.mode == "F":
        im = Image.fromarray(np.round(np.clip(np.asarray(im, dtype=np.float64), 0, 1) * 65535).astype(np.uint16))
    buf = io.BytesIO()
    im.save(buf, format="PNG", **({"icc_profile": icc} if icc else {}))
    return buf.getvalue()
