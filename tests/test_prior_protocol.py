"""Every prior the library builds has the interface the solvers use (restore.priors.Prior)."""
import pytest
import torch

from restore.priors import DDPM, Prior, UNet, UNetConfig, gaussian_prior, linear_schedule, load_prior, save_prior
from restore.priors.adm import ADMConfig, ADMUNet
from restore.priors.adm_checkpoint import adm_from_state_dict
from restore.priors.diffusers_adapter import diffusers_available
from restore.priors.tiling import TiledPrior, for_image


@pytest.fixture(scope="module")
def unet():
    """A small UNet prior of 16-pixel images whose sides must be multiples of 4."""
    torch.manual_seed(0)
    net = UNet(UNetConfig(channels=1, width=8, mults=(1, 2, 2), num_res_blocks=1)).eval()
    return DDPM(net, linear_schedule(), image_size=16)


def test_unet_prior(unet, tmp_path):
    assert isinstance(unet, Prior) and unet.size_multiple == 4 and unet.min_size == 1
    save_prior(tmp_path / "p.safetensors", unet.net, unet.schedule, 16)
    loaded = load_prior(tmp_path / "p.safetensors")
    assert isinstance(loaded, Prior) and loaded.size_multiple == 4 and loaded.min_size == 1


def test_tiled_prior(unet):
    tp = TiledPrior(unet, tile=8, generator=torch.Generator().manual_seed(0))
    assert isinstance(tp, Prior) and tp.size_multiple == 4 and tp.min_size == 8
    assert tp.schedule is unet.schedule and tp.device == unet.device and tp.dtype == unet.dtype
    assert tp.clip is unet.clip and tp.prior is unet
    assert isinstance(for_image(unet, (16, 40)), Prior)
    with pytest.raises(AttributeError):
        tp.loss  # only what TiledPrior defines is forwarded to the wrapped prior


def test_gaussian_prior():
    p = gaussian_prior(torch.zeros(12), torch.eye(12), (3, 2, 2))
    assert isinstance(p, Prior) and p.size_multiple == 1 and p.min_size == 1 and p.clip is False
    assert p.dtype == torch.float64


def test_adm_prior():
    cfg = ADMConfig(model_channels=32, channel_mult=(1, 2), num_res_blocks=1, attn_levels=(1,), num_head_channels=64)
    p = adm_from_state_dict(ADMUNet(cfg).state_dict(), image_size=16)
    assert isinstance(p, Prior) and p.size_multiple == cfg.multiple == 2 and p.min_size == 1


@pytest.mark.skipif(not diffusers_available(), reason="needs the optional diffusers package")
def test_diffusers_prior(tmp_path):
    from diffusers import UNet2DModel

    from restore.priors.diffusers_adapter import load_diffusers

    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 32),
                       down_block_types=("DownBlock2D",) * 2, up_block_types=("UpBlock2D",) * 2, norm_num_groups=8)
    unet.save_pretrained(tmp_path)
    p = load_diffusers(tmp_path)
    assert isinstance(p, Prior) and p.size_multiple >= 1 and p.min_size == 1


def test_not_a_prior(unet):
    assert not isinstance(object(), Prior) and not isinstance(unet.net, Prior)
