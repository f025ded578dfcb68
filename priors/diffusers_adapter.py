"""diffusers `UNet2DModel` folders as DDPM priors (optional: needs the `diffusers` package).

A folder is either a model folder (config.json with `_class_name` "UNet2DModel" and
diffusion_pytorch_model[.fp16].safetensors or .bin) or a pipeline folder (model_index.json with
unet/ and scheduler/ sub-folders). The network is built from its config with
`UNet2DModel.from_config` and the weights are read here, with safetensors or
`torch.load(weights_only=True)`: nothing from the folder is executed and nothing is downloaded.
The beta schedule comes from scheduler_config.json when there is one, else DDPM's linear schedule.
Networks trained to predict `v` or `sample` are turned into eps predictors.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn

from .ddpm import DDPM
from .schedule import Schedule, cosine_schedule, linear_schedule

__all__ = ["DiffusersUNet", "is_diffusers_folder", "load_diffusers", "schedule_from_scheduler_config",
           "diffusers_available"]

_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
            "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin")
# names of the attention parameters in checkpoints saved before diffusers 0.14 -> current names
_DEPRECATED_ATTN = {".query.": ".to_q.", ".key.": ".to_k.", ".value.": ".to_v.", ".proj_attn.": ".to_out.0."}


def diffusers_available() -> bool:
    try:
        import diffusers  # noqa: F401
    except ImportError:
        return False
    return True


def _read_json(path: Path) -> dict:
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable JSON config: {e}") from None
    if not isinstance(d, dict):
        raise ValueError(f"{path}: config is not a JSON object")
    return d


def _folders(p: Path) -> tuple[Path, Path | None]:
    """(model folder, scheduler_config.json or None) of a model or pipeline folder."""
    if (p / "model_index.json").is_file() and (p / "unet" / "config.json").is_file():
        sched = p / "scheduler" / "scheduler_config.json"
        return p / "unet", sched if sched.is_file() else None
    sched = p / "scheduler_config.json"
    if not sched.is_file() and (p.parent / "scheduler" / "scheduler_config.json").is_file():
        sched = p.parent / "scheduler" / "scheduler_config.json"  # the unet/ folder of a pipeline
    return p, sched if sched.is_file() else None


def is_diffusers_folder(path) -> bool:
    """A diffusers model or pipeline folder (and not one of restore's run folders)."""
    p = Path(path)
    if not p.is_dir() or (p / "ema.safetensors").is_file() or (p / "prior.safetensors").is_file() \
            or (p / "checkpoints").is_dir():
        return False
    model, _ = _folders(p)
    if any((model / w).is_file() for w in _WEIGHTS):
        return True
    try:
        return "_class_name" in json.loads((model / "config.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError):
        return False


def schedule_from_scheduler_config(cfg: dict | None) -> Schedule:
    """The Schedule of a diffusers scheduler config (DDPMScheduler, DDIMScheduler, ... fields);
    None gives DDPM's linear schedule (betas 1e-4..0.02, T = 1000)."""
    if cfg is None:
        return linear_schedule()
    T = int(cfg.get("num_train_timesteps", 1000))
    if not 2 <= T <= 100_000:
        raise ValueError(f"absurd num_train_timesteps {T}")
    if cfg.get("trained_betas") is not None:
        return Schedule.from_betas(torch.as_tensor(cfg["trained_betas"], dtype=torch.float64), "custom")
    kind = cfg.get("beta_schedule", "linear")
    b0, b1 = float(cfg.get("beta_start", 1e-4)), float(cfg.get("beta_end", 0.02))
    if kind == "linear":
        ref = linear_schedule(T)
        betas = torch.linspace(b0, b1, T, dtype=torch.float32)  # diffusers' own arithmetic
        return ref if torch.allclose(ref.betas, betas.double(), rtol=1e-6, atol=0) else Schedule.from_betas(betas, "custom")
    if kind == "scaled_linear":
        return Schedule.from_betas(torch.linspace(b0**0.5, b1**0.5, T, dtype=torch.float32) ** 2, "custom")
    if kind == "squaredcos_cap_v2":
        return cosine_schedule(T)  # the same alpha_bar, betas capped at 0.999
    if kind == "sigmoid":
        return Schedule.from_betas(torch.sigmoid(torch.linspace(-6, 6, T)) * (b1 - b0) + b0, "custom")
    raise ValueError(f"unsupported beta_schedule {kind!r}")


class DiffusersUNet(nn.Module):
    """A diffusers UNet2DModel as restore's eps-network: forward(x, t) with t in 0..T-1.

    v- and x0-predicting networks are converted to eps with the schedule's abar; a learned-variance
    second half of the channels is passed through (DDPM.eps drops it).
    """

    def __init__(self, unet: nn.Module, schedule: Schedule, prediction_type: str = "epsilon"):
        super().__init__()
        if prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise ValueError(f"unsupported prediction_type {prediction_type!r}")
        self.unet, self.prediction_type = unet, prediction_type
        self._abar = schedule.abar.clone()  # float64 on CPU, not a buffer: .to(float16) must not round it
        if len(schedule) != schedule.T:
            raise ValueError("the network's schedule must be its full training schedule")

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        t = torch.as_tensor(t, device=x.device).reshape(-1).expand(x.shape[0])
        out = self.unet(x, t.long(), return_dict=False)[0]
        if self.prediction_type == "epsilon":
            return out
        c = x.shape[1]
        pred, rest = out[:, :c].float(), out[:, c:]
        abar = self._abar[t.cpu().long()].to(device=x.device, dtype=torch.float32).reshape(-1, 1, 1, 1)
        xf = x.float()
        if self.prediction_type == "v_prediction":  # v = sqrt(abar) eps - sqrt(1 - abar) x0
            eps = abar.sqrt() * pred + (1 - abar).sqrt() * xf
        else:  # x0 prediction
            eps = (xf - abar.sqrt() * pred) / (1 - abar).sqrt()
        return torch.cat([eps.to(out.dtype), rest], dim=1)


def _read_weights(model_dir: Path) -> tuple[dict, Path]:
    for name in _WEIGHTS:
        f = model_dir / name
        if not f.is_file():
            continue
        if f.suffix == ".safetensors":
            from safetensors import SafetensorError
            from safetensors.torch import load_file

            try:
                return load_file(str(f)), f
            except (SafetensorError, OSError) as e:
                raise ValueError(f"{f}: not a readable safetensors file (truncated?): {e}") from None
        from .adm_checkpoint import read_torch_state_dict

        return read_torch_state_dict(f), f
    if any(model_dir.glob("diffusion_pytorch_model*.index.json")):
        raise ValueError(f"{model_dir}: sharded diffusers weights are not supported")
    raise ValueError(f"{model_dir}: no diffusion_pytorch_model.safetensors or .bin")


def _rename_deprecated(sd: dict, expected: set[str]) -> dict:
    out = {}
    for k, v in sd.items():
        new = k
        if k not in expected:
            for old, cur in _DEPRECATED_ATTN.items():
                cand = k.replace(old, cur)
                if cand != k and cand in expected:
                    new = cand
                    break
        out[new] = v
    return out


def load_diffusers(path, *, device="cpu", dtype: torch.dtype | None = None, clip: bool = True,
                   image_size: int | None = None) -> DDPM:
    """A DDPM prior from a local diffusers UNet2DModel (or DDPM pipeline) folder."""
    p = Path(path)
    if not diffusers_available():
        raise ValueError(f"{p}: a diffusers folder needs the optional 'diffusers' package (pip install diffusers)")
    from diffusers import UNet2DModel

    model_dir, sched_file = _folders(p)
    cfg = _read_json(model_dir / "config.json")
    if cfg.get("_class_name", "UNet2DModel") != "UNet2DModel":
        raise ValueError(f"{model_dir}: {cfg.get('_class_name')} is not supported (UNet2DModel only)")
    if cfg.get("time_embedding_type", "positional") != "positional":
        raise ValueError(f"{model_dir}: time_embedding_type {cfg['time_embedding_type']!r} is not a DDPM network")
    if cfg.get("num_class_embeds") or cfg.get("class_embed_type"):
        raise ValueError(f"{model_dir}: class-conditional networks are not supported")
    sched_cfg = _read_json(sched_file) if sched_file is not None else None
    try:
        schedule = schedule_from_scheduler_config(sched_cfg)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{sched_file}: {e}") from None
    try:
        unet = UNet2DModel.from_config({k: v for k, v in cfg.items() if not k.startswith("_")})
    except Exception as e:  # diffusers raises assorted types for a bad config
        raise ValueError(f"{model_dir}/config.json: cannot build UNet2DModel: {e}") from None
    sd, wfile = _read_weights(model_dir)
    expected = unet.state_dict()
    sd = _rename_deprecated(sd, set(expected))
    bad = [k for k in expected if k not in sd or sd[k].shape != expected[k].shape]
    extra = [k for k in sd if k not in expected]
    if bad or extra:
        raise ValueError(f"{wfile}: weights do not match config.json ({len(bad)} missing or misshapen, "
                         f"{len(extra)} unexpected, e.g. {(bad + extra)[0]})")
    unet.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    unet.eval().requires_grad_(False)
    pred = (sched_cfg or {}).get("prediction_type", "epsilon")
    try:
        net = DiffusersUNet(unet, schedule, pred)
    except ValueError as e:
        raise ValueError(f"{sched_file}: {e}") from None
    net = net.eval().to(device=device, dtype=dtype or torch.float32)
    cin = int(cfg.get("in_channels", 3))
    size = image_size or cfg.get("sample_size")
    if isinstance(size, (list, tuple)):
        size = size[0]
    meta = {"format": "diffusers", "path": str(p), "unet": {k: v for k, v in cfg.items()},
            "scheduler": sched_cfg, "prediction_type": pred,
            "schedule": {"kind": schedule.kind, "T": schedule.T}, "image_size": size, "channels": cin}
    return DDPM(net, schedule, image_size=int(size) if size else None, channels=cin, clip=clip, meta=meta)
