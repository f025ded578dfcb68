"""Prior files and loading by name (restore/priors/checkpoint.py): a round trip is exact, bad files give
clear errors, shipped priors load by name. Hostile files: tests/test_hostile_checkpoints.py."""
import json

import pytest
import torch
from safetensors.torch import save_file

from restore.priors import DDPM, UNet, UNetConfig, linear_schedule
from restore.priors.checkpoint import load_prior, save_prior


def test_checkpoint_round_trip_is_exact(tmp_path):
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=3, width=16, mults=(1, 2), num_res_blocks=1, attn_levels=(1,)))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.05)
    save_prior(tmp_path / "p.safetensors", net, linear_schedule(), 16)
    prior = load_prior(tmp_path / "p.safetensors")
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(prior.eps(x, 500), DDPM(net.eval(), linear_schedule()).eps(x, 500))
    assert prior.image_size == 16 and prior.channels == 3


def test_bad_checkpoints_give_clear_errors(tmp_path):
    net = UNet(UNetConfig(channels=1, width=8, mults=(1, 2), num_res_blocks=1))
    save_prior(tmp_path / "p.safetensors", net, linear_schedule(), 8)
    data = (tmp_path / "p.safetensors").read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_prior(tmp_path / "trunc.safetensors")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "noconfig.safetensors"))
    with pytest.raises(ValueError, match="no 'restore' config"):
        load_prior(tmp_path / "noconfig.safetensors")
    other = UNet(UNetConfig(channels=1, width=16, mults=(1, 2), num_res_blocks=1))
    meta = {"restore": json.dumps({"format": "restore-ddpm/1", "unet": net.config.to_dict(),
                                   "schedule": {"kind": "linear", "T": 1000}, "image_size": 8})}
    save_file(other.state_dict(), str(tmp_path / "arch.safetensors"), metadata=meta)
    with pytest.raises(ValueError, match="do not match the configured architecture"):
        load_prior(tmp_path / "arch.safetensors")
    torch.save({"a": 1}, tmp_path / "pickle.pt")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_prior(tmp_path / "pickle.pt")
    with pytest.raises(ValueError, match="no such checkpoint"):
        load_prior(tmp_path / "missing.safetensors")


def test_load_shipped_prior_by_name(tmp_path, monkeypatch):
    import restore.priors.shipped as shipped

    net = UNet(UNetConfig(channels=1, width=8, mults=(1, 2), num_res_blocks=1))
    save_prior(tmp_path / "tiny.safetensors", net, linear_schedule(), 8, card={"data": "d", "licence": "l"})
    monkeypatch.setattr(shipped, "SHIPPED_DIR", tmp_path)
    monkeypatch.chdir(tmp_path / "..")
    assert load_prior("tiny").image_size == 8
    assert [r["name"] for r in shipped.list_priors()] == ["tiny"]
    with pytest.raises(ValueError, match="not a shipped prior \\(tiny\\)"):
        load_prior("faces")
