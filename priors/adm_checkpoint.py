"""Reading guided-diffusion (ADM) checkpoints as DDPM priors.

`load_adm(path)` reads a `.pt` state dict with `torch.load(weights_only=True)` (no pickled code is
ever run; `read_torch_state_dict`) or a safetensors file, infers the configuration from the keys and
shapes (`infer_adm_config`; or takes a named `arch` of `ADM_PRESETS`), and returns a `DDPM` on an
`ADMUNet` (adm.py) with the linear schedule both published checkpoints were trained with.
The committed manifests of the two published layouts (adm_manifests/*.json) are what
tests/test_adm.py checks the network's state dict against.
"""
from __future__ import annotations

import pickle
import re
import warnings
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor, nn

from .adm import ADM_PRESETS, ADMConfig, ADMUNet
from .ddpm import DDPM
from .schedule import linear_schedule

__all__ = ["infer_adm_config", "read_torch_state_dict", "read_state_dict", "load_adm", "adm_from_state_dict"]


_NUM = re.compile(r"^(input_blocks|output_blocks)\.(\d+)\.(\d+)\.(.*)$")


def _blocks(sd: dict, name: str) -> dict[int, dict[int, set[str]]]:
    """{block index: {layer index: {parameter suffixes}}} for input_blocks or output_blocks."""
    out: dict[int, dict[int, set[str]]] = {}
    for k in sd:
        m = _NUM.match(k)
        if m and m.group(1) == name:
            out.setdefault(int(m.group(2)), {}).setdefault(int(m.group(3)), set()).add(m.group(4))
    return out


def _kind(suffixes: set[str]) -> str:
    if "qkv.weight" in suffixes:
        return "attn"
    if "in_layers.2.weight" in suffixes:
        return "res"
    if "op.weight" in suffixes:
        return "down"
    if "conv.weight" in suffixes:
        return "up"
    if suffixes == {"weight", "bias"}:
        return "conv"
    return "?"


def infer_adm_config(sd: dict, **overrides) -> ADMConfig:
    """The ADMConfig whose state dict has `sd`'s keys, from its keys and shapes alone.

    Heads (`num_head_channels`, `num_heads`) and the attention order cannot be seen in shapes:
    they default to guided-diffusion's 256x256 models (64-channel heads, legacy order) and can be
    overridden. Raises ValueError for anything that is not an unconditional guided-diffusion UNet.
    """
    need = ("time_embed.0.weight", "input_blocks.0.0.weight", "out.2.weight", "middle_block.1.qkv.weight")
    missing = [k for k in need if k not in sd]
    if missing:
        raise ValueError(f"not a guided-diffusion UNet state dict (no {missing[0]})")
    if any(k.startswith("label_emb.") for k in sd):
        raise ValueError("class-conditional ADM checkpoints are not supported (label_emb present)")
    w0 = sd["input_blocks.0.0.weight"]
    if w0.ndim != 4:
        raise ValueError("only 2-D ADM networks are supported")
    mc, cin = int(w0.shape[0]), int(w0.shape[1])
    ib, ob = _blocks(sd, "input_blocks"), _blocks(sd, "output_blocks")
    if sorted(ib) != list(range(len(ib))) or sorted(ob) != list(range(len(ob))) or not ob:
        raise ValueError("input/output block indices are not contiguous")
    kinds_out = [[_kind(ob[i][j]) for j in sorted(ob[i])] for i in range(len(ob))]
    ups = [i for i, ks in enumerate(kinds_out) if ks[-1] in ("up",) or ks.count("res") == 2]
    levels = len(ups) + 1
    if len(ob) % levels:
        raise ValueError(f"{len(ob)} output blocks do not split into {levels} levels")
    nrb = len(ob) // levels - 1
    if nrb < 1 or ups != [(nrb + 1) * k + nrb for k in range(levels - 1)]:
        raise ValueError("output blocks do not follow the ADM level structure")
    updown = bool(ups) and kinds_out[ups[0]][-1] == "res"
    if not ups:
        updown = not any(_kind(l) == "down" for b in ib.values() for l in b.values())
    if len(ib) != 1 + levels * nrb + levels - 1:
        raise ValueError(f"{len(ib)} input blocks do not match {levels} levels of {nrb} res blocks")
    mults, attn_in, attn_out = [], set(), set()
    i = 1
    for lvl in range(levels):
        for r in range(nrb):
            w = sd.get(f"input_blocks.{i}.0.in_layers.2.weight")
            if w is None:
                raise ValueError(f"input block {i} is not a ResBlock")
            if w.shape[0] % mc:
                raise ValueError(f"width {w.shape[0]} of input block {i} is not a multiple of {mc}")
            if r == 0:
                mults.append(int(w.shape[0]) // mc)
            if 1 in ib[i] and _kind(ib[i][1]) == "attn":
                attn_in.add(lvl)
            i += 1
        if lvl < levels - 1:
            i += 1
    for lvl_rev in range(levels):
        lvl = levels - 1 - lvl_rev
        for r in range(nrb + 1):
            k = lvl_rev * (nrb + 1) + r
            if 1 in ob[k] and _kind(ob[k][1]) == "attn":
                attn_out.add(lvl)
    if attn_in != attn_out:
        raise ValueError(f"attention levels differ between input {sorted(attn_in)} and output {sorted(attn_out)} blocks")
    e = sd.get("input_blocks.1.0.emb_layers.1.weight")
    o = sd.get("input_blocks.1.0.in_layers.2.weight")
    if e is None or o is None:
        raise ValueError("input block 1 is not a ResBlock")
    scale_shift = int(e.shape[0]) == 2 * int(o.shape[0])
    cfg = dict(in_channels=cin, model_channels=mc, out_channels=int(sd["out.2.weight"].shape[0]),
               num_res_blocks=nrb, channel_mult=tuple(mults), attn_levels=tuple(sorted(attn_in)),
               use_scale_shift_norm=scale_shift, resblock_updown=updown)
    cfg.update(overrides)
    return ADMConfig(**cfg)


def _check_layout(sd: dict, net: nn.Module, what: str) -> None:
    expected = net.state_dict()
    bad = [k for k in expected if k not in sd or tuple(sd[k].shape) != tuple(expected[k].shape)]
    extra = [k for k in sd if k not in expected]
    if bad or extra:
        k = (bad + extra)[0]
        got = tuple(sd[k].shape) if k in sd else None
        want = tuple(expected[k].shape) if k in expected else None
        raise ValueError(f"{what}: weights do not match the ADM layout ({len(bad)} missing or misshapen, "
                         f"{len(extra)} unexpected; e.g. {k}: file {got}, model {want})")
    if any(not sd[k].is_floating_point() for k in expected):
        raise ValueError(f"{what}: weights have a non-float dtype")


def _refused_what(msg: str) -> str:
    """What torch's weights-only unpickler refused, in a few words."""
    m = re.search(r"GLOBAL ([\w.]+)", msg)
    if m:
        return f"it references {m.group(1)}"
    m = re.search(r"Unsupported operand (\d+)", msg)
    return f"unsupported pickle opcode {m.group(1)}" if m else "non-tensor objects"


def read_torch_state_dict(path) -> dict[str, Tensor]:
    """A flat {name: tensor} from a torch checkpoint, loaded with weights_only=True (never unpickles
    code). Accepts a bare state dict or one wrapped under 'state_dict'/'model'/'ema'; strips 'module.'."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(f"{path}: refusing to load: the file holds pickled code, not only weights "
                         f"({_refused_what(str(e))})") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not a readable torch checkpoint (truncated or another format): {first}") from None
    if isinstance(obj, dict) and not any(isinstance(v, Tensor) for v in obj.values()):
        for key in ("state_dict", "model", "ema", "module"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) and isinstance(v, Tensor)
                                                       for k, v in obj.items()):
        raise ValueError(f"{path}: not a readable safetensors checkpoint nor a torch state dict of named tensors")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _resolve_config(sd: dict, arch, what: str, **overrides) -> tuple[ADMConfig, str | None]:
    if isinstance(arch, ADMConfig):
        return arch, None
    if arch is not None:
        if arch not in ADM_PRESETS:
            raise ValueError(f"unknown arch {arch!r}: use one of {sorted(ADM_PRESETS)} or an ADMConfig")
        return replace(ADM_PRESETS[arch], **overrides), arch
    try:
        cfg = infer_adm_config(sd, **overrides)
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{what}: unknown checkpoint layout: {e}; pass arch= one of {sorted(ADM_PRESETS)}") from None
    name = next((n for n, p in ADM_PRESETS.items() if replace(p, **overrides) == cfg), None)
    return cfg, name


def adm_from_state_dict(sd: dict, *, arch=None, device="cpu", dtype: torch.dtype | None = None,
                        image_size: int | None = None, clip: bool = True, what: str = "checkpoint",
                        meta: dict | None = None, **overrides) -> DDPM:
    """A DDPM prior on an ADMUNet holding `sd`'s weights, the linear schedule (T = 1000)."""
    cfg, name = _resolve_config(sd, arch, what, **overrides)
    with torch.device("meta"):
        net = ADMUNet(cfg)
    _check_layout(sd, net, what)
    net.load_state_dict({k: v.float().contiguous() for k, v in sd.items()}, strict=True, assign=True)
    net.eval().requires_grad_(False)
    net.to(device=device, dtype=dtype or torch.float32)
    size = int(image_size) if image_size is not None else 256
    if size < 1 or size % cfg.multiple:
        raise ValueError(f"{what}: image_size {size} is not a multiple of {cfg.multiple}")
    m = {"format": "adm", "arch": name, "adm": cfg.to_dict(), "schedule": {"kind": "linear", "T": 1000},
         "image_size": size, "channels": cfg.in_channels, **(meta or {})}
    return DDPM(net, linear_schedule(), image_size=size, channels=cfg.in_channels, clip=clip, meta=m)


def load_adm(path, *, arch=None, device="cpu", dtype: torch.dtype | None = None,
             image_size: int | None = None, clip: bool = True, **overrides) -> DDPM:
    """Load a guided-diffusion checkpoint (.pt state dict; or safetensors) as a DDPM prior.

    `arch`: None (infer from keys and shapes), "adm-ffhq256", "adm-imagenet256" or an ADMConfig.
    `overrides` (e.g. num_head_channels=-1, num_heads=4) adjust what shapes cannot tell.
    `dtype=torch.float16` halves memory on GPU (norms and softmax stay in float32).
    """
    path = Path(path)
    return adm_from_state_dict(read_state_dict(path), arch=arch, device=device, dtype=dtype, image_size=image_size,
                               clip=clip, what=str(path), meta={"path": str(path)}, **overrides)


def read_state_dict(path) -> dict[str, Tensor]:
    """{name: tensor} of a .safetensors file or of a torch checkpoint (`read_torch_state_dict`: never
    unpickles code); a missing or unreadable file is a one-line ValueError."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return read_torch_state_dict(path)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such checkpoint") from None
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path}: not a readable safetensors checkpoint: {e}") from None
