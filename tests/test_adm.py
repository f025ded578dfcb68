"""ADM (guided-diffusion UNet) checkpoints through load_prior (restore/priors/adm.py).

Always run: our ADMUNet's state dict against the committed manifests of the two published layouts
(generated from deepinv's DiffUNet by lab/make_adm_manifest.py), config inference, a tiny
ADM saved with torch.save, and the refusals (truncated file, unknown layout, pickled code).
Skipped without deepinv (the `peers` extra, which needs its own torch; CI runs them in a second
environment, .ci/run): the same eps as deepinv's DiffUNet. diffusers folders: tests/test_diffusers_adapter.py.
"""
import json
import math
import pickle
from pathlib import Path

import pytest
import torch

from _helpers import Payload, randomized
from restore.priors.adm import ADM_PRESETS, ADMConfig, ADMUNet, attention_levels
from restore.priors.adm_checkpoint import infer_adm_config
from restore.priors.checkpoint import load_prior
from restore.priors.ddpm import DDPM
from restore.priors.schedule import linear_schedule

MANIFESTS = Path(__file__).resolve().parents[1] / "priors" / "adm_manifests"
LAYOUTS = {"ffhq256": "adm-ffhq256", "imagenet256": "adm-imagenet256"}
TINY = ADMConfig(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, attn_levels=(1,), num_head_channels=64)


def tiny_pt(tmp_path, cfg=TINY, name="tiny.pt"):
    net = ADMUNet(cfg)
    sd = randomized(net.state_dict())
    net.load_state_dict(sd)
    path = tmp_path / name
    torch.save(sd, path)
    return path, net.eval()


# ----------------------------------------------------------------------------- layouts


def _manifest(name):
    return json.loads((MANIFESTS / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_state_dict_matches_reference_manifest(name):
    m = _manifest(name)
    with torch.device("meta"):
        net = ADMUNet(ADM_PRESETS[LAYOUTS[name]])
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert list(ours) == list(m["keys"])  # same keys, same order
    assert ours == m["keys"]
    assert sum(math.prod(s) for s in ours.values()) == m["parameters"]


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_config_inferred_from_reference_layout(name):
    sd = {k: torch.empty(s, device="meta") for k, s in _manifest(name)["keys"].items()}
    cfg = infer_adm_config(sd)
    assert cfg == ADM_PRESETS[LAYOUTS[name]]
    assert cfg.learn_sigma and cfg.use_scale_shift_norm and cfg.resblock_updown


def test_preset_hyperparameters():
    ffhq, inet = ADM_PRESETS["adm-ffhq256"], ADM_PRESETS["adm-imagenet256"]
    assert (ffhq.model_channels, ffhq.num_res_blocks, ffhq.attn_levels, ffhq.out_channels) == (128, 1, (4,), 6)
    assert (inet.model_channels, inet.num_res_blocks, inet.attn_levels) == (256, 2, (3, 4, 5))
    assert attention_levels("32,16,8", 256, 6) == (3, 4, 5)
    with pytest.raises(ValueError):
        attention_levels("24", 256, 6)


@pytest.mark.parametrize("cfg", [
    ADMConfig(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, attn_levels=(1,), num_head_channels=32),
    ADMConfig(model_channels=32, channel_mult=(1, 2, 2), num_res_blocks=2, attn_levels=(1, 2), num_head_channels=32,
              out_channels=3, use_scale_shift_norm=False, resblock_updown=False),
    ADMConfig(in_channels=1, out_channels=2, model_channels=32, channel_mult=(1,), num_res_blocks=2, attn_levels=(),
              num_head_channels=32),
])
def test_infer_config_round_trip(cfg):
    with torch.device("meta"):
        sd = ADMUNet(cfg).state_dict()
    assert infer_adm_config(sd, num_head_channels=32) == cfg


# ----------------------------------------------------------------------------- loading


def test_tiny_pt_loads_and_runs(tmp_path):
    path, net = tiny_pt(tmp_path)
    prior = load_prior(path, image_size=16)
    assert isinstance(prior, DDPM) and isinstance(prior.net, ADMUNet)
    assert prior.net.config == TINY and prior.meta["arch"] is None
    assert prior.channels == 3 and prior.image_size == 16 and prior.meta["format"] == "adm"
    assert torch.equal(prior.schedule.abar, linear_schedule().abar)
    x = torch.randn(2, 3, 16, 16)
    t = torch.tensor([1, 800])
    eps = prior.eps(x, t)
    assert eps.shape == x.shape and torch.isfinite(eps).all()
    with torch.no_grad():
        ref = net(x, t - 1)[:, :3]
    torch.testing.assert_close(eps, ref, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(prior.eps(x, 5), prior.eps(x, 900))  # the time embedding reaches the output
    x0 = prior.x0_hat(x, 500)
    assert x0.abs().max() <= 1


def test_heads_and_order_overrides(tmp_path):
    """Shapes cannot tell heads or the attention order: both are arguments, and they matter."""
    from dataclasses import replace

    path, net = tiny_pt(tmp_path, replace(TINY, num_head_channels=32))  # 64 channels in 2 heads of 32
    x, t = torch.randn(1, 3, 16, 16), torch.tensor([300])
    from restore.priors.adm_checkpoint import load_adm

    good = load_adm(path, num_head_channels=32).eps(x, t)
    with torch.no_grad():
        torch.testing.assert_close(good, net(x, t - 1)[:, :3], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(good, load_adm(path, num_head_channels=64).eps(x, t), atol=1e-4)
    assert not torch.allclose(good, load_adm(path, num_head_channels=32, use_new_attention_order=True).eps(x, t),
                              atol=1e-4)


def test_wrapped_and_safetensors_state_dicts(tmp_path):
    from safetensors.torch import save_file

    path, net = tiny_pt(tmp_path)
    sd = torch.load(path, weights_only=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "wrapped.pth")
    save_file(sd, tmp_path / "tiny.safetensors")
    x = torch.randn(1, 3, 16, 16)
    ref = load_prior(path).eps(x, 10)
    torch.testing.assert_close(load_prior(tmp_path / "wrapped.pth").eps(x, 10), ref)
    torch.testing.assert_close(load_prior(tmp_path / "tiny.safetensors", arch=TINY).eps(x, 10), ref)


def test_arch_preset_must_match(tmp_path):
    path, _ = tiny_pt(tmp_path)
    with pytest.raises(ValueError, match="do not match the ADM layout"):
        load_prior(path, arch="adm-ffhq256")
    with pytest.raises(ValueError, match="unknown arch"):
        load_prior(path, arch="adm-lsun")


def test_truncated_file(tmp_path):
    path, _ = tiny_pt(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable torch checkpoint") as e:
        load_prior(path)
    assert "\n" not in str(e.value)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        load_prior(tmp_path / "empty.pt")
    with pytest.raises(ValueError, match="no such checkpoint"):
        load_prior(tmp_path / "missing.pt")


def test_unknown_layout(tmp_path):
    from restore.priors import UNet, UNetConfig

    torch.save(UNet(UNetConfig(width=16, mults=(1, 2), num_res_blocks=1)).state_dict(), tmp_path / "ours.pt")
    torch.save({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "other.pt")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    for name in ("ours.pt", "other.pt"):
        with pytest.raises(ValueError, match="unknown checkpoint layout") as e:
            load_prior(tmp_path / name)
        assert "adm-ffhq256" in str(e.value)
    with pytest.raises(ValueError, match="state dict of named tensors"):
        load_prior(tmp_path / "list.pt")
    # a guided-diffusion layout with a block missing
    path, _ = tiny_pt(tmp_path)
    sd = torch.load(path, weights_only=True)
    torch.save({k: v for k, v in sd.items() if not k.startswith("output_blocks.2.")}, tmp_path / "cut.pt")
    with pytest.raises(ValueError, match="unknown checkpoint layout|do not match"):
        load_prior(tmp_path / "cut.pt")
    # class-conditional
    torch.save({**sd, "label_emb.weight": torch.zeros(10, 128)}, tmp_path / "cond.pt")
    with pytest.raises(ValueError, match="class-conditional"):
        load_prior(tmp_path / "cond.pt")



@pytest.mark.parametrize("fmt", ["torch", "pickle"])
def test_pickled_code_is_refused(tmp_path, fmt):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    if fmt == "torch":
        torch.save({"input_blocks.0.0.weight": torch.zeros(1), "x": Payload(marker)}, path)
    else:  # a bare (non-zip) pickle, as torch's legacy format
        path.write_bytes(pickle.dumps({"x": Payload(marker)}, protocol=2))
    with pytest.raises(ValueError, match="refusing .* pickled code") as e:
        load_prior(path)
    assert "\n" not in str(e.value) and "system" in str(e.value)
    assert not marker.exists()


def test_safetensors_and_run_folders_unchanged(tmp_path):
    """A restore-format file still goes through the restore loader (and arch= only applies to ADM)."""
    from restore.priors import UNet, UNetConfig
    from restore.priors.checkpoint import save_prior

    net = UNet(UNetConfig(channels=1, width=16, mults=(1, 2), num_res_blocks=1))
    save_prior(tmp_path / "prior.safetensors", net, linear_schedule(50), 8)
    prior = load_prior(tmp_path / "prior.safetensors")
    assert prior.image_size == 8 and len(prior.schedule) == 50
    assert load_prior(tmp_path).image_size == 8  # a folder with prior.safetensors
    with pytest.raises(ValueError, match="arch="):
        load_prior(tmp_path, arch="adm-ffhq256")


def test_ffhq_layout_runs_at_64(tmp_path):
    """The 256x256 FFHQ layout on 64x64 inputs (attention placed by level, not resolution)."""
    from restore.priors.adm_checkpoint import adm_from_state_dict

    torch.manual_seed(0)
    with torch.device("meta"):
        sd = ADMUNet(ADM_PRESETS["adm-ffhq256"]).state_dict()
    prior = adm_from_state_dict(randomized(sd))
    assert prior.meta["arch"] == "adm-ffhq256" and prior.image_size == 256
    x = torch.randn(1, 3, 64, 64)
    eps = prior.eps(x, 500)
    assert eps.shape == x.shape and torch.isfinite(eps).all()
    with pytest.raises(ValueError, match="multiple of 32"):
        prior.eps(torch.randn(1, 3, 48, 40), 500)


def test_half_precision(tmp_path):
    path, net = tiny_pt(tmp_path)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    dt = torch.float16 if dev == "cuda" else torch.bfloat16
    prior = load_prior(path, device=dev, dtype=dt)
    assert prior.dtype == dt
    x = torch.randn(2, 3, 16, 16, device=dev)
    eps = prior.eps(x, torch.tensor([10, 700], device=dev))
    assert eps.dtype == torch.float32 and eps.shape == x.shape
    ref = load_prior(path, device=dev).eps(x, torch.tensor([10, 700], device=dev))
    assert (eps - ref).abs().max() < 0.05 * ref.abs().max()


# ----------------------------------------------------------------------------- optional: deepinv's DiffUNet (the peers extra)


def _deepinv_eps_diff(large_model: bool) -> float:
    deepinv = pytest.importorskip("deepinv")
    ref = deepinv.models.DiffUNet(in_channels=3, out_channels=3, large_model=large_model, pretrained=None)
    sd = {k: v for k, v in ref.state_dict().items() if not k.startswith("sqrt_")}
    sd = randomized(sd, seed=2)
    missing, unexpected = ref.load_state_dict(sd, strict=False)
    assert not unexpected and all(k.startswith("sqrt_") for k in missing)  # deepinv's own schedule buffers
    ref.eval()
    from restore.priors.adm_checkpoint import adm_from_state_dict

    prior = adm_from_state_dict(sd)
    assert prior.meta["arch"] == ("adm-imagenet256" if large_model else "adm-ffhq256")
    g = torch.Generator().manual_seed(3)
    x, t = torch.randn(2, 3, 64, 64, generator=g), torch.tensor([1, 731])
    with torch.no_grad():
        want = ref(x, t - 1, type_t="timestep")[:, :3]
    got = prior.eps(x, t)
    scale = want.abs().max().item()
    diff = (got - want).abs().max().item()
    print(f"deepinv DiffUNet large_model={large_model}: max |eps diff| = {diff:.3g} (max |eps| = {scale:.3g})")
    # fp32, the same operations (deepinv also uses scaled_dot_product_attention); measured: 0 on CPU
    assert diff <= 1e-5 * max(scale, 1.0)
    return diff


def test_matches_deepinv_ffhq():
    _deepinv_eps_diff(large_model=False)


@pytest.mark.slow
def test_matches_deepinv_imagenet():
    _deepinv_eps_diff(large_model=True)
