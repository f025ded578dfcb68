"""Loading a prior, and training checkpoints.

`load_prior` takes a shipped prior's name, a prior file (prior_file.py: safetensors weights with
their JSON config; loading never unpickles anything), a training run or checkpoint folder, or a
pretrained network of the field. A training checkpoint is a directory (weights, EMA weights,
optimizer state, state.json) written under a temporary name and renamed into place, so a crash
never pairs one step's weights with another step's config. The prior-file names (`save_prior`,
`read_config`, ...) are importable from here too.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from .ddpm import DDPM
from .prior_file import FORMAT, atomic_save_file, prior_config, read_config, save_prior
from .schedule import Schedule, make_schedule
from .shipped import list_priors, shipped_path
from .unet import UNet, UNetConfig

__all__ = ["FORMAT", "save_prior", "load_prior", "read_config", "atomic_save_file", "save_checkpoint",
           "latest_checkpoint", "checkpoint_state", "prior_config"]

_STEP_DIR = re.compile(r"^step-(\d{9})$")
_SCHEDULE_KEYS = {"kind", "T", "abar", "t"}
MAX_T = 100_000


def _schedule_from(cfg: dict) -> Schedule:
    if not isinstance(cfg, dict) or "kind" not in cfg or "T" not in cfg:
        raise ValueError("schedule config needs 'kind' and 'T'")
    if set(cfg) - _SCHEDULE_KEYS:
        raise ValueError(f"unknown schedule config fields: {sorted(set(cfg) - _SCHEDULE_KEYS)}")
    T = int(cfg["T"])
    if not 2 <= T <= MAX_T:
        raise ValueError(f"absurd schedule length T={T}")
    if "abar" in cfg:
        if not isinstance(cfg["abar"], list) or not 1 <= len(cfg["abar"]) <= T:
            raise ValueError(f"schedule abar must be a list of 1..T={T} numbers")
        return Schedule(cfg["abar"], cfg.get("t", list(range(1, len(cfg["abar"]) + 1))), cfg["kind"], T)
    return make_schedule(cfg["kind"], T)


def _file_shapes(file: Path) -> dict:
    """{name: (shape, dtype string)} from a safetensors header, without reading any weights."""
    try:
        with safe_open(str(file), framework="pt") as f:
            return {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{file}: cannot read weights: {e}") from None


def _resolve(path) -> Path:
    """A shipped prior's name, a prior file, a training checkpoint directory, or a run directory
    (its latest checkpoint)."""
    p = Path(path)
    if not p.exists() and p.suffix == "" and len(p.parts) == 1:
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
    `arch="adm-ffhq256"|"adm-imagenet256"`; see priors/adm_checkpoint.py), and a diffusers UNet2DModel
    folder (needs the optional `diffusers` package; see priors/diffusers_adapter.py).
    `image_size` overrides the nominal size of those (256 for ADM); restore's own files carry it.
    """
    p = Path(path)
    if p.is_dir():
        from .diffusers_adapter import is_diffusers_folder, load_diffusers

        if is_diffusers_folder(p):
            return load_diffusers(p, device=device, dtype=dtype, clip=clip, image_size=image_size)
    elif p.suffix.lower() in (".pt", ".pth", ".ckpt", ".bin") or (arch is not None and p.suffix == ".safetensors"):
        from .adm_checkpoint import load_adm

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
    # the file's header must list exactly the configured network's tensors, shapes and float
    # dtypes, checked on a network without storage (meta device) before anything is allocated or
    # read, so a config claiming an absurd network is refused at the cost of its header
    with torch.device("meta"):
        expected = UNet(unet_cfg).state_dict()
    have = _file_shapes(file)
    bad = [k for k in expected if k not in have or have[k][0] != tuple(expected[k].shape)]
    extra = [k for k in have if k not in expected]
    if bad or extra:
        raise ValueError(f"{file}: weights do not match the configured architecture "
                         f"({len(bad)} missing or misshapen, {len(extra)} unexpected, e.g. {(bad + extra)[0]})")
    if any(have[k][1] not in ("F16", "BF16", "F32", "F64") for k in expected):
        raise ValueError(f"{file}: weights have a non-float dtype "
                         f"({sorted({have[k][1] for k in expected} - {'F16', 'BF16', 'F32', 'F64'})})")
    try:
        sd = load_file(str(file))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{file}: cannot read weights: {e}") from None
    nonfinite = [k for k, v in sd.items() if not bool(torch.isfinite(v).all())]
    if nonfinite:
        raise ValueError(f"{file}: {len(nonfinite)} weight tensors hold NaN or inf, e.g. {nonfinite[0]}")
    net = UNet(unet_cfg)
    net.load_state_dict({k: v.float() for k, v in sd.items()})
    net.eval().requires_grad_(False)
    net.to(device=device, dtype=dtype or torch.float32)
    return DDPM(net, schedule, image_size=size, channels=unet_cfg.channels, clip=clip,
                meta={"path": str(file), **cfg})


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoint_state(path) -> dict:
    """state.json of a training checkpoint directory, after checking that the checkpoint is whole:
    state.json parses, its step is the directory's, and every file it lists is there with the size
    it had when written (save_checkpoint records them). ValueError (one line) otherwise."""
    path = Path(path)
    m = _STEP_DIR.match(path.name)
    try:
        state = json.loads((path / "state.json").read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: unreadable state.json ({type(e).__name__})") from None
    if not isinstance(state, dict) or m is None or state.get("step") != int(m.group(1)):
        raise ValueError(f"{path}: state.json does not belong to this checkpoint")
    for name, size in (state.get("files") or {}).items():
        f = path / name
        if not f.is_file() or f.stat().st_size != size:
            raise ValueError(f"{path}: {name} is missing or not the size it was written with")
    return state


def latest_checkpoint(folder) -> Path | None:
    """The newest whole `step-*` checkpoint directory (see `checkpoint_state`; temporary and
    damaged ones are skipped, with a warning for the damaged)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    for p in sorted((p for p in folder.iterdir() if _STEP_DIR.match(p.name)), reverse=True):
        try:
            checkpoint_state(p)
        except ValueError as e:
            warnings.warn(f"skipping a damaged checkpoint: {e}", stacklevel=2)
            continue
        return p
    return None


def _discard(path: Path) -> None:
    """Remove a directory without ever leaving a half-deleted `step-*`: renamed to a temporary
    name first (a later save_checkpoint removes it if this is interrupted)."""
    gone = Path(tempfile.mkdtemp(prefix=f".tmp-{path.name}-old-", dir=path.parent))
    os.rename(path, gone / path.name)
    shutil.rmtree(gone, ignore_errors=True)


def save_checkpoint(folder, step: int, files: dict, state: dict, keep: int = 3) -> Path:
    """Write {name: (tensors, metadata)} and state.json into folder/step-NNNNNNNNN atomically
    (a temporary directory, fsynced, renamed into place); keep the newest `keep` checkpoints.
    state.json also lists the files with their sizes (checked by `checkpoint_state`). A failed
    write (a full or read-only disk) raises OSError naming the checkpoint and leaves the older
    checkpoints as they were."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:09d}"
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-step-{step:09d}-", dir=folder))
        for name, (tensors, meta) in files.items():
            atomic_save_file(tensors, tmp / name, meta)
        sizes = {name: (tmp / name).stat().st_size for name in files}
        with open(tmp / "state.json", "w") as f:
            json.dump({**state, "files": sizes}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        if final.exists():
            _discard(final)
        os.rename(tmp, final)
        _fsync_dir(folder)
    except OSError as e:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        last = latest_checkpoint(folder)
        raise OSError(e.errno, f"checkpoint {final.name} not written ({e.strerror or e}); "
                               f"the newest intact one is {last.name if last else 'none'}", str(folder)) from e
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = sorted(p for p in folder.iterdir() if _STEP_DIR.match(p.name))[:-keep]
    for p in old:
        try:
            _discard(p)
        except OSError:
            pass
    for p in folder.glob(".tmp-step-*"):  # left by a killed run
        if p != tmp:
            shutil.rmtree(p, ignore_errors=True)
    return final
