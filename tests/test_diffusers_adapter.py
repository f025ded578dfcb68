"""diffusers UNet2DModel folders through load_prior (restore/priors/diffusers_adapter.py): scheduler
configs and folder detection (no package needed), and, with diffusers (in the `dev` extra, so in CI),
the same eps as diffusers' own UNet2DModel for tiny networks with random weights built here from a
config: no download, no network."""
import json
import sys

import pytest
import torch

from _helpers import Payload, randomized
from restore.priors.checkpoint import load_prior
from restore.priors.schedule import cosine_schedule, linear_schedule


# ----------------------------------------------------------------------------- no package needed


def test_scheduler_configs():
    from restore.priors.diffusers_adapter import schedule_from_scheduler_config as sched

    assert torch.equal(sched(None).abar, linear_schedule().abar)
    lin = sched({"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "num_train_timesteps": 1000})
    assert lin.kind == "linear" and torch.equal(lin.abar, linear_schedule().abar)
    cos = sched({"beta_schedule": "squaredcos_cap_v2", "num_train_timesteps": 1000})
    torch.testing.assert_close(cos.abar, cosine_schedule(1000).abar)
    sl = sched({"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000})
    torch.testing.assert_close(sl.betas[[0, -1]], torch.tensor([0.00085, 0.012], dtype=torch.float64), rtol=1e-5, atol=0)
    short = sched({"beta_schedule": "linear", "beta_start": 0.001, "beta_end": 0.02, "num_train_timesteps": 100})
    assert short.kind == "custom" and short.T == 100
    with pytest.raises(ValueError, match="beta_schedule"):
        sched({"beta_schedule": "exotic"})


def test_diffusers_folder_detection(tmp_path, monkeypatch):
    from restore.priors.diffusers_adapter import diffusers_available, is_diffusers_folder

    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel", "in_channels": 3}))
    assert is_diffusers_folder(tmp_path)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")  # a restore run folder also has a config.json
    assert not is_diffusers_folder(run)
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as where the optional package is not installed
    assert not diffusers_available()
    with pytest.raises(ValueError, match="optional 'diffusers' package"):
        load_prior(tmp_path)


# ----------------------------------------------------------------------------- against diffusers' own UNet2DModel


def _tiny_diffusers(diffusers, tmp_path, sched=None, layout="model"):
    unet = diffusers.UNet2DModel(sample_size=16, in_channels=3, out_channels=3, layers_per_block=1,
                                 block_out_channels=(32, 64), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                                 up_block_types=("AttnUpBlock2D", "UpBlock2D"), attention_head_dim=32, norm_num_groups=8)
    unet.load_state_dict(randomized(unet.state_dict(), seed=1))
    folder = tmp_path / "pipe" if layout == "pipeline" else tmp_path / "unet"
    model_dir = folder / "unet" if layout == "pipeline" else folder
    unet.save_pretrained(model_dir)
    if layout == "pipeline":
        (folder / "model_index.json").write_text(json.dumps({"_class_name": "DDPMPipeline"}))
    if sched is not None:
        sdir = folder / "scheduler" if layout == "pipeline" else folder
        sdir.mkdir(exist_ok=True)
        (sdir / "scheduler_config.json").write_text(json.dumps(sched))
    return folder, unet.eval()


@pytest.mark.parametrize("layout", ["model", "pipeline"])
def test_diffusers_unet_matches_reference(tmp_path, layout):
    diffusers = pytest.importorskip("diffusers")
    sched = {"_class_name": "DDPMScheduler", "beta_schedule": "squaredcos_cap_v2", "num_train_timesteps": 1000}
    folder, unet = _tiny_diffusers(diffusers, tmp_path, sched, layout)
    prior = load_prior(folder)
    assert prior.image_size == 16 and prior.channels == 3 and prior.schedule.kind == "cosine"
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([1, 640])
    with torch.no_grad():
        ref = unet(x, t - 1).sample
    torch.testing.assert_close(prior.eps(x, t), ref, rtol=1e-5, atol=1e-5)


def test_diffusers_v_prediction(tmp_path):
    diffusers = pytest.importorskip("diffusers")
    sched = {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "num_train_timesteps": 1000,
             "prediction_type": "v_prediction"}
    folder, unet = _tiny_diffusers(diffusers, tmp_path, sched)
    prior = load_prior(folder)
    x, t = torch.randn(1, 3, 16, 16), torch.tensor([400])
    ab = prior.schedule.abar[399].float()
    with torch.no_grad():
        v = unet(x, t - 1).sample
    # eps = sqrt(abar) v + sqrt(1 - abar) x_t for v = sqrt(abar) eps - sqrt(1 - abar) x0
    torch.testing.assert_close(prior.eps(x, t), ab.sqrt() * v + (1 - ab).sqrt() * x, rtol=1e-5, atol=1e-5)


def test_diffusers_bin_weights_load_safely(tmp_path):
    diffusers = pytest.importorskip("diffusers")
    folder, unet = _tiny_diffusers(diffusers, tmp_path)
    sd = unet.state_dict()
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    torch.save(sd, folder / "diffusion_pytorch_model.bin")
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(load_prior(folder).eps(x, 3), unet(x, torch.tensor([2])).sample)
    torch.save({"w": Payload(tmp_path / "pwned")}, folder / "diffusion_pytorch_model.bin")
    with pytest.raises(ValueError, match="refusing"):
        load_prior(folder)
    assert not (tmp_path / "pwned").exists()


def test_diffusers_sample_prediction_old_attention_names_and_refusals(tmp_path):
    """An x0-predicting network's eps is (x_t - sqrt(abar) x0) / sqrt(1 - abar); weights saved before
    diffusers 0.14 (attention as query / key / value / proj_attn) load under the current names; weights
    that do not match the config, class-conditional networks and other model classes are refused in
    one line."""
    diffusers = pytest.importorskip("diffusers")
    from safetensors.torch import load_file, save_file

    sched = {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "num_train_timesteps": 1000,
             "prediction_type": "sample"}
    folder, unet = _tiny_diffusers(diffusers, tmp_path, sched)
    x, t = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)), torch.tensor([400, 900])
    prior = load_prior(folder)
    ab = prior.schedule.abar[t - 1].float().reshape(-1, 1, 1, 1)
    with torch.no_grad():
        x0 = unet(x, t - 1).sample
    want = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
    torch.testing.assert_close(prior.eps(x, t), want, rtol=1e-5, atol=1e-5)
    weights = folder / "diffusion_pytorch_model.safetensors"
    sd = load_file(str(weights))
    old = {".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."}
    renamed = {}
    for k, v in sd.items():
        for cur, dep in old.items():
            k = k.replace(cur, dep)
        renamed[k] = v
    assert sum(k not in sd for k in renamed) >= 4  # the attention block's names did change
    save_file(renamed, str(weights))
    torch.testing.assert_close(load_prior(folder).eps(x, t), want, rtol=1e-5, atol=1e-5)
    save_file({k: v for k, v in sd.items() if not k.startswith("conv_out.")}, str(weights))
    with pytest.raises(ValueError, match="weights do not match config.json") as e:
        load_prior(folder)
    assert "\n" not in str(e.value)
    save_file(sd, str(weights))
    cfg = json.loads((folder / "config.json").read_text())
    for change, message in (({"num_class_embeds": 10}, "class-conditional"),
                            ({"_class_name": "UNet2DConditionModel"}, "UNet2DModel only"),
                            ({"time_embedding_type": "fourier"}, "not a DDPM network")):
        (folder / "config.json").write_text(json.dumps({**cfg, **change}))
        with pytest.raises(ValueError, match=message) as e:
            load_prior(folder)
        assert "\n" not in str(e.value)
