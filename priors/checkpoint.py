"""Checkpoints: safetensors weights with their config in the file's metadata, written atomically.

A prior file holds the network weights and, under the metadata key `restore`, a JSON config
(format version, UNet architecture, schedule, image size and channels, training state). Loading
never unpickles anything. A training checkpoint is a directory (weights, EMA weights, optimizer
state, state.json) written under a temporary name and renamed into place, so a crash never pairs
one step's weights with another step's config.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .ddpm import DDPM
from .schedule import Schedule, make_schedule
from .unet import UNet, UNetConfig

__all__ = ["FORMAT", "save_prior", "load_prior", "read_config", "atomic_save_file", "save_checkpoint",
           "latest_checkpoint", "prior_config"]

FORMAT = "restore-ddpm/1"
_STEP_DIR = re.compile(r"^step-(\d{9})$")


def atomic_save_file(tensors: dict, path: Path, metadata: dict | None = None) -> None:
    """safetensors save to a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
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


def _schedule_from(cfg: dict) -> Schedule:
    if not isinstance(cfg, dict) or "kind" not in cfg or "T" not in cfg:
        raise ValueError("schedule config needs 'kind' and 'T'")
    if "abar" in cfg:
        return Schedule(cfg["abar"], cfg.get("t", list(range(1, len(cfg["abar"]) + 1))), cfg["kind"], int(cfg["T"]))
    T = int(cfg["T"])
    if not 2 <= T <= 100_000:
        raise ValueError(f"absurd schedule length T={T}")
    return make_schedule(cfg["kind"], T)


def read_config(path) -> dict:
    """The config stored in a prior file, with one-line errors for every way it can be wrong."""
    path = Path(path)
    try:
        from safetensors import safe_open

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
    return cfg


def _resolve(path) -> Path:
    """A shipped prior's name, a prior file, a training checkpoint directory, or a run directory
    (its latest checkpoint)."""
    p = Path(path)
    if not p.exists() and p.suffix == "" and len(p.parts) == 1:
        from .shipped import list_priors, shipped_path

        named = shipped_path(str(path))
        if named is None:
            names = ", ".join(r["name"] for r in list_priors()) or "none in this build"
            raise ValueError(f"unknown prior {str(path)!r}: no such file, and not a shipped prior ({names})")
        return named
    if p.is_dir():
        if (p / "ema.safetensors").is_file():
            return p / "ema.safetensors"
        last = latest_checkpoint(p / "checkpoints") if (p / "checkpoints").is_dir() else None
        if last is not None:
            return last / "ema.safetensors"
        if (p / "prior.safetensors").is_file():
            return p / "prior.safetensors"
        raise ValueError(f"{p}: folder holds no checkpoint (ema.safetensors or checkpoints/step-*)")
    return p


def load_prior(path, *, device="cpu", dtype: torch.dtype | None = None, clip: bool = True,
               arch=None, image_size: int | None = None) -> DDPM:
    """Load a prior from a file or folder written by restore; no other argument is needed.

    Pretrained networks of the field load too, from local files only and never running code
    from them: a guided-diffusion (ADM) state dict (.pt/.pth/.ckpt/.bin, read with
    torch.load(weights_only=True); its layout inferred from keys and shapes, or named by
    `arch="adm-ffhq256"|"adm-imagenet256"`; see priors/adm.py), and a diffusers UNet2DModel
    folder (needs the optional `diffusers` package; see priors/diffusers_adapter.py).
    `image_size` overrides the nominal size of those (256 for ADM); restore's own files carry it.
    """
    p = Path(path)
    if p.is_dir():
        from .diffusers_adapter import is_diffusers_folder, load_diffusers

        if is_diffusers_folder(p):
            return load_diffusers(p, device=device, dtype=dtype, clip=clip, image_size=image_size)
    elif p.suffix.lower() in (".pt", ".pth", ".ckpt", ".bin") or (arch is not None and p.suffix == ".safetensors"):
        from .adm import load_adm

        return load_adm(p, arch=arch, device=device, dtype=dtype, image_size=image_size, clip=clip)
    if arch is not None:
        raise ValueError(f"{p}: arch= applies to ADM checkpoints (.pt or .safetensors state dicts) only")
    file = _resolve(path)
    cfg = read_config(file)
    try:
        unet_cfg = UNetConfig.from_dict(cfg["unet"])
        schedule = _schedule_from(cfg["schedule"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{file}: bad config: {e}") from None
    size = int(cfg["image_size"])
    if not 1 <= size <= 4096 or size % unet_cfg.multiple:
        raise ValueError(f"{file}: bad image_size {size} for this network")
    net = UNet(unet_cfg)
    try:
        sd = load_file(str(file))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{file}: cannot read weights: {e}") from None
    expected = net.state_dict()
    bad = [k for k in expected if k not in sd or sd[k].shape != expected[k].shape]
    extra = [k for k in sd if k not in expected]
    if bad or extra:
        raise ValueError(f"{file}: weights do not match the configured architecture "
                         f"({len(bad)} missing or misshapen, {len(extra)} unexpected, e.g. {(bad + extra)[0]})")
    if any(not sd[k].is_floating_point() for k in expected if expected[k].is_floating_point()):
        raise ValueError(f"{file}: weights have a non-float dtype")
    net.load_state_dict({k: v.float() for k, v in sd.items()})
    net.eval().requires_grad_(False)
    net.to(device=device, dtype=dtype or torch.float32)
    return DDPM(net, schedule, image_size=size, channels=unet_cfg.channels, clip=clip,
                meta={"path": str(file), **cfg})


def latest_checkpoint(folder) -> Path | None:
    """The newest complete `step-*` checkpoint directory (temporary ones are ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    steps = sorted(p for p in folder.iterdir() if _STEP_DIR.match(p.name) and (p / "state.json").is_file())
    return steps[-1] if steps else None


def save_checkpoint(folder, step: int, files: dict, state: dict, keep: int = 3) -> Path:
    """Write {name: (tensors, metadata)} and state.json into folder/step-NNNNNNNNN atomically
    (a temporary directory renamed into place); keep the newest `keep` checkpoints."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:09d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-step-{step:09d}-", dir=folder))
    try:
        for name, (tensors, meta) in files.items():
            atomic_save_file(tensors, tmp / name, meta)
        with open(tmp / "state.json", "w") as f:
            json.dump(state, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = sorted(p for p in folder.iterdir() if _STEP_DIR.match(p.name))[:-keep]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
    for p in folder.glob(".tmp-step-*"):  # left by a killed run
        if p != tmp:
            shutil.rmtree(p, ignore_errors=True)
    return final
