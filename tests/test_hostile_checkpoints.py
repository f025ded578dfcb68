"""Checkpoints that would run code, lie about their shapes, dtypes or sizes, and networks that
produce NaN: refused with one clear line, nothing executed, never a black image."""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import save_file
from skimage import data as skdata

import restore
from restore.cli import main
from restore.priors import DDPM, UNet, UNetConfig, ddim_sample, linear_schedule, load_prior, save_prior
from restore.priors.checkpoint import prior_config

TINY = UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _meta(cfg: UNetConfig, **extra) -> dict:
    return {"restore": json.dumps({**prior_config(cfg, linear_schedule(), 8), **extra})}


@pytest.mark.parametrize("name", ["evil.pt", "evil.ckpt", "evil.bin", "evil.pth", "evil.safetensors", "evil",
                                  "run/ema.safetensors", "zip.pt"])
def test_pickle_that_runs_code_is_refused_unrun(tmp_path, name):
    marker = tmp_path / "PWNED"
    path = tmp_path / name
    path.parent.mkdir(exist_ok=True)
    if name == "zip.pt":  # torch.save's zip format holding the same pickle
        torch.save({"w": _RunsCode(marker)}, path)
    else:
        path.write_bytes(pickle.dumps({"w": _RunsCode(marker)}))
    target = path.parent if name.startswith("run/") else path
    with pytest.raises(ValueError) as e:
        load_prior(target)
    assert "\n" not in str(e.value) and str(path.parent) in str(e.value)
    assert not marker.exists()
    r = CliRunner().invoke(main, ["sample", str(target), "-o", str(tmp_path / "g.png")])
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and not marker.exists()


def test_wrong_shapes_and_dtypes(tmp_path):
    net = UNet(TINY)
    sd = net.state_dict()
    first = next(iter(sd))
    cases = {
        "shape": ({**sd, first: torch.zeros(3)}, "misshapen"),
        "missing": ({k: v for k, v in sd.items() if k != first}, "missing"),
        "extra": ({**sd, "extra.weight": torch.zeros(1)}, "unexpected"),
        "int": ({k: v.to(torch.int32) for k, v in sd.items()}, "non-float dtype"),
        "bool": ({**sd, first: sd[first] > 0}, "non-float dtype"),
        "nan": ({**sd, first: torch.full_like(sd[first], float("nan"))}, "NaN or inf"),
    }
    for name, (tensors, message) in cases.items():
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp_path / f"{name}.safetensors"),
                  metadata=_meta(TINY))
        with pytest.raises(ValueError, match=message):
            load_prior(tmp_path / f"{name}.safetensors")


def test_config_with_unknown_fields_or_absurd_sizes(tmp_path):
    net = UNet(TINY)
    sd = {k: v.contiguous() for k, v in net.state_dict().items()}
    base = prior_config(TINY, linear_schedule(), 8)
    huge = {**TINY.to_dict(), "width": 4096, "mults": [1] * 8, "num_res_blocks": 8}  # ~30G parameters
    cases = {
        "top": ({**base, "exec": "rm -rf /"}, "unknown fields"),
        "unet": ({**base, "unet": {**base["unet"], "activation": "evil"}}, "unknown UNet config fields"),
        "schedule": ({**base, "schedule": {"kind": "linear", "T": 1000, "hook": 1}}, "unknown schedule config"),
        "T": ({**base, "schedule": {"kind": "linear", "T": 10**9}}, "absurd schedule length"),
        "abar": ({**base, "schedule": {"kind": "linear", "T": 10, "abar": [0.5] * 11}}, "abar"),
        "size": ({**base, "image_size": 10**6}, "bad image_size"),
        "width": ({**base, "unet": {**base["unet"], "width": 10**6}}, "too wide"),
        "huge": ({**base, "unet": huge, "image_size": 128}, "do not match"),
        "format": ({**base, "format": "pickle/1"}, "unknown checkpoint format"),
    }
    for name, (cfg, message) in cases.items():
        save_file(sd, str(tmp_path / f"{name}.safetensors"), metadata={"restore": json.dumps(cfg)})
        with pytest.raises(ValueError, match=message):
            load_prior(tmp_path / f"{name}.safetensors")


def _overflowing_prior(path):
    """A prior file with finite weights whose network overflows to inf/NaN on any input."""
    torch.manual_seed(0)
    net = UNet(TINY)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("weight") and p.ndim == 4:
                p.fill_(1e30)
    save_prior(path, net, linear_schedule(), 8)
    return path


def test_network_nan_stops_sampling_naming_the_step(tmp_path):
    prior = load_prior(_overflowing_prior(tmp_path / "nan.safetensors"))
    with pytest.raises(FloatingPointError, match=r"network output has NaN or inf values at diffusion step t=\d+"):
        ddim_sample(prior, (1, 3, 8, 8), steps=5, generator=torch.Generator().manual_seed(0))
    with pytest.raises(FloatingPointError, match="diffusion step t="):
        restore.denoise(skdata.astronaut()[::32, ::32], prior=prior, steps=3, sigma_y=0.05)
    prior.net.train()  # training keeps its own check (the loss), not this one
    x = torch.zeros(2, 3, 8, 8)
    assert not torch.isfinite(prior.eps(x, 10)).all()


def test_solver_nan_is_an_error_not_a_black_image(tmp_path, monkeypatch):
    """NaN that does not come from the network (here: injected into the solver's result)."""
    import importlib

    solve_mod = importlib.import_module("restore.solvers.solve")  # the module, not the function
    torch.manual_seed(0)
    prior = DDPM(UNet(TINY).eval(), linear_schedule(), image_size=8)
    real = solve_mod.METHODS["ddrm"]
    monkeypatch.setitem(solve_mod.METHODS, "ddrm", lambda *a, **k: real(*a, **k) * float("nan"))
    with pytest.raises(FloatingPointError, match="ddrm restoration produced NaN"):
        restore.denoise(skdata.astronaut()[::32, ::32], prior=prior, steps=2, sigma_y=0.05, method="ddrm")


def test_cli_nan_exit_2_nothing_written(tmp_path):
    _overflowing_prior(tmp_path / "nan.safetensors")
    Image.fromarray(skdata.astronaut()[::32, ::32]).save(tmp_path / "a.png")
    for args in (["denoise", str(tmp_path / "a.png"), "--sigma-y", "0.05", "--steps", "3", "-o", str(tmp_path / "o.png")],
                 ["sample", "--num", "2", "--steps", "3", "-o", str(tmp_path / "g.png")]):
        argv = [args[0], *(["--prior", str(tmp_path / "nan.safetensors")] if args[0] != "sample" else
                           [str(tmp_path / "nan.safetensors")]), *args[1:]]
        r = CliRunner().invoke(main, argv)
        assert r.exit_code == 2, r.output
        lines = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1 and "diffusion step t=" in lines[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "nan.safetensors"]
    assert np.asarray(Image.open(tmp_path / "a.png")).any()
