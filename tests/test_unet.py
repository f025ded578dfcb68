import pytest
import torch

from restore.priors import UNet, UNetConfig


@pytest.mark.parametrize("channels", [1, 3])
def test_fully_convolutional(channels):
    net = UNet(UNetConfig(channels=channels, width=16, mults=(1, 2, 2), num_res_blocks=1, attn_levels=(1,), dropout=0.1))
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.02)
    net.eval()
    for h, w in [(8, 8), (12, 20)]:
        x = torch.randn(2, channels, h, w)
        out = net(x, torch.tensor([0, 999]))
        assert out.shape == x.shape and torch.isfinite(out).all()
    t0, t1 = net(x, torch.tensor([5, 5])), net(x, torch.tensor([900, 900]))
    assert not torch.allclose(t0, t1)  # the time embedding reaches the output


def test_size_must_be_multiple():
    net = UNet(UNetConfig(channels=1, width=8, mults=(1, 2, 2), num_res_blocks=1))
    with pytest.raises(ValueError, match="multiple of 4"):
        net(torch.randn(1, 1, 10, 8), torch.tensor([0]))


@pytest.mark.parametrize("bad", [dict(channels=2), dict(width=12), dict(mults=()), dict(attn_levels=(5,)),
                                 dict(dropout=1.0), dict(width=4096), dict(width=32, norm_groups=5),
                                 dict(norm_groups=0)])
def test_config_validation(bad):
    with pytest.raises(ValueError):
        UNetConfig(**bad)


def test_config_from_dict_rejects_unknown_fields():
    d = UNetConfig().to_dict()
    assert UNetConfig.from_dict(d) == UNetConfig()
    with pytest.raises(ValueError, match="unknown"):
        UNetConfig.from_dict({**d, "evil": 1})


@pytest.mark.parametrize("width", [8, 16, 24, 40, 48, 56, 64])
def test_every_accepted_width_builds_and_runs(width):
    """Width 48 passed the config check but its 144-channel concatenations had no GroupNorm split."""
    net = UNet(UNetConfig(channels=3, width=width, mults=(1, 2, 2), num_res_blocks=1))
    assert net(torch.zeros(1, 3, 8, 8), torch.zeros(1, dtype=torch.long)).shape == (1, 3, 8, 8)


def test_group_counts_of_existing_networks_are_unchanged():
    """The groups are not in the weights: the widths that built before must keep their groups."""
    from restore.priors.unet import _groups

    assert [_groups(c) for c in (8, 16, 24, 32, 64, 96, 128, 192)] == [2, 4, 6, 32, 32, 32, 32, 32]
    assert _groups(144) == 24 and _groups(48) == 12


def test_norm_groups_sets_every_norm_and_travels_in_the_file(tmp_path):
    """`norm_groups` puts that many groups in every GroupNorm, output head included; a prior file
    keeps it; files of the default rule keep their old config (no new key)."""
    from restore.priors import linear_schedule, save_prior
    from restore.priors.checkpoint import load_prior

    cfg = UNetConfig(channels=3, width=32, mults=(1, 2, 2), num_res_blocks=1, norm_groups=8)
    net = UNet(cfg)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert norms and {m.num_groups for m in norms} == {8} and net.out[0].num_channels == 32
    assert {m.num_groups for m in UNet(UNetConfig(width=32, mults=(1, 2, 2), num_res_blocks=1)).modules()
            if isinstance(m, torch.nn.GroupNorm)} == {32}
    assert "norm_groups" not in UNetConfig().to_dict() and cfg.to_dict()["norm_groups"] == 8
    save_prior(tmp_path / "p.safetensors", net, linear_schedule(), 16, card={"data": "d", "licence": "l"})
    back = load_prior(tmp_path / "p.safetensors").net
    assert back.config == cfg and {m.num_groups for m in back.modules() if isinstance(m, torch.nn.GroupNorm)} == {8}
