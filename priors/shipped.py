"""The priors shipped inside the package (priors/shipped/NAME.safetensors, EMA weights in fp16)
and the export that makes one from a training run. Each file describes itself: its config carries
a `card` (data, licence, training) that `restore priors` prints."""
from __future__ import annotations

from pathlib import Path

import torch

from .prior_file import read_config, save_prior
from .ddpm import DDPM

__all__ = ["SHIPPED_DIR", "shipped_path", "list_priors", "export_prior"]

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


def shipped_path(name: str) -> Path | None:
    """The file of a shipped prior, or None when `name` is not one."""
    if not name.replace("-", "").replace("_", "").isalnum():
        return None
    p = SHIPPED_DIR / f"{name}.safetensors"
    return p if p.is_file() else None


# the data set each shipped prior was trained on, as `restore priors` names it (the cards' `data`
# says where the files were on the machine that trained it)
DATA_SETS = {"natural": "BSDS500 (400 photos, 32x32 crops)", "faces": "UTKFace (23,009 faces, 64x64)",
             "digits": "MNIST (t10k images 0-7999)"}


def _data_set(name: str, data: str) -> str:
    """The data set of a prior: DATA_SETS', or its card's description without local paths."""
    if name in DATA_SETS:
        return DATA_SETS[name]
    words = [w for w in data.split() if "/" not in w and "\\" not in w]
    return " ".join(words).replace("()", "").strip(" ,:") or "?"


def list_priors() -> list[dict]:
    """One row per shipped prior: name, size, channels, parameters, bytes, data (the card's), dataset
    (its name, `DATA_SETS`), licence."""
    rows = []
    for p in sorted(SHIPPED_DIR.glob("*.safetensors")):
        cfg = read_config(p)
        card = cfg.get("card", {})
        rows.append({"name": p.stem, "size": cfg["image_size"], "channels": cfg["unet"]["channels"],
                     "params": cfg.get("train", {}).get("params"), "bytes": p.stat().st_size,
                     "data": card.get("data", "?"), "dataset": _data_set(p.stem, card.get("data", "?")),
                     "licence": card.get("licence", "?"),
                     "use": card.get("use", "")})
    return rows


def export_prior(prior: DDPM, out, *, card: dict, fp16: bool = True) -> Path:
    """Write `prior`'s network (EMA weights when loaded from a run) as a standalone prior file with
    its card; fp16 halves the size (eps differs from fp32 by ~1e-3 relative)."""
    out = Path(out)
    train = dict(prior.meta.get("train", {}))
    train["params"] = sum(p.numel() for p in prior.net.parameters())
    save_prior(out, prior.net, prior.schedule, prior.image_size, train=train,
               dtype=torch.float16 if fp16 else None, card=card)
    return out
