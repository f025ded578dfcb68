"""The prior file: safetensors weights with their config in the file's metadata, written atomically.

A prior file holds the network weights and, under the metadata key `restore`, a JSON config
(format version, UNet architecture, schedule, image size and channels, training state, card).
Reading it never unpickles anything. Loading a prior (and training checkpoints) is in
checkpoint.py, the shipped priors in shipped.py; both build on this module.
"""
from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from restore.io import plain_mode, temp_beside

from .schedule import Schedule
from .unet import UNet, UNetConfig

__all__ = ["FORMAT", "atomic_save_file", "prior_config", "save_prior", "read_config"]

FORMAT = "restore-ddpm/1"
_CONFIG_KEYS = {"format", "unet", "schedule", "image_size", "channels", "train", "card"}


def atomic_save_file(tensors: dict, path: Path, metadata: dict | None = None) -> None:
    """safetensors save to a temporary file in the same folder, fsync, then rename over `path`.
    A failed write (full or read-only disk) is an OSError with the errno; `path` is untouched."""
    path = Path(path)
    tmp = temp_beside(path, ".tmp")
    try:
        try:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        except SafetensorError as e:  # a full disk reaches us as "I/O error: ... (os error 28)"
            code = re.search(r"os error (\d+)", str(e))
            raise OSError(int(code.group(1)) if code else errno.EIO,
                          os.strerror(int(code.group(1))) if code else str(e), str(path)) from None
        os.chmod(tmp, plain_mode())  # safetensors replaces the file it writes with a 0600 one
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prior_config(unet: UNetConfig, schedule: Schedule, image_size: int, train: dict | None = None,
                 card: dict | None = None) -> dict:
    sched = {"kind": schedule.kind, "T": schedule.T}
    if schedule.kind not in ("linear", "cosine") or len(schedule) != schedule.T:
        sched["abar"] = schedule.abar.tolist()
    return {"format": FORMAT, "unet": unet.to_dict(), "schedule": sched, "image_size": int(image_size),
            "channels": unet.channels, "train": dict(train or {}), "card": dict(card or {})}


def save_prior(path, net: UNet, schedule: Schedule, image_size: int, *, train: dict | None = None,
               dtype: torch.dtype | None = None, card: dict | None = None) -> None:
    """Write a loadable prior: the network's weights (optionally cast, e.g. fp16) and its config."""
    cfg = prior_config(net.config, schedule, image_size, train, card)
    sd = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v) for k, v in net.state_dict().items()}
    atomic_save_file(sd, Path(path), {"restore": json.dumps(cfg)})


def read_config(path) -> dict:
    """The config stored in a prior file, with one-line errors for every way it can be wrong."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such checkpoint") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable safetensors checkpoint (truncated or another format): {e}") from None
    if "restore" not in meta:
        raise ValueError(f"{path}: checkpoint has no 'restore' config in its metadata (not written by restore?)")
    try:
        cfg = json.loads(meta["restore"])
    except json.JSONDecodeError:
        raise ValueError(f"{path}: checkpoint config is not valid JSON") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise ValueError(f"{path}: unknown checkpoint format {cfg.get('format') if isinstance(cfg, dict) else cfg!r} (expected {FORMAT})")
    missing = {"unet", "schedule", "image_size"} - set(cfg)
    if missing:
        raise ValueError(f"{path}: checkpoint config lacks {sorted(missing)}")
    if set(cfg) - _CONFIG_KEYS:
        raise ValueError(f"{path}: checkpoint config has unknown fields {sorted(set(cfg) - _CONFIG_KEYS)}")
    return cfg
