"""restore.grain.add_grain: the ring's band-pass grain laid over a fill, nothing else changed."""
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from restore.benchmarks.perceptual import texture_ratio
from restore.grain import add_grain


def _texture(h, w, seed, colour=(0.3, 0.5, 0.2), amp=0.12):
    """A stationary grass-like texture: a colour plus band-limited noise of std about amp."""
    rng = np.random.default_rng(seed)
    n = gaussian_filter(rng.standard_normal((h, w)), 1.0)
    n = n / n.std() * amp
    return torch.from_numpy(np.clip(np.array(colour)[:, None, None] + n[None], 0, 1))


def _holed(x, top, left, h, w):
    """x with the box filled flat by the mean of its ring (a smooth fill), and the observed mask."""
    obs = torch.ones(x.shape[1:], dtype=torch.bool)
    obs[top:top + h, left:left + w] = False
    fill = x.clone()
    fill[:, ~obs] = x[:, obs].mean(1, keepdim=True).expand(-1, int((~obs).sum()))
    return fill, obs


def test_only_the_holes_change_and_their_colour_is_kept():
    x = _texture(160, 200, 0)
    fill, obs = _holed(x, 50, 60, 60, 70)
    out = add_grain(fill, obs, torch.Generator().manual_seed(0))
    assert torch.equal(out[:, obs], fill[:, obs])
    assert not torch.equal(out[:, ~obs], fill[:, ~obs])
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    # the colour and shading of the fill: the hole's mean moves by far less than the grain's amplitude
    shift = (out[:, ~obs].mean(1) - fill[:, ~obs].mean(1)).abs().max()
    assert float(shift) < 0.01
    # deep inside the hole the grain is mostly above the low-pass scores' band (a 4 px blur)
    lo = gaussian_filter((out - fill).numpy(), (0, 4, 4))[:, 70:90, 85:105]
    assert np.sqrt((lo ** 2).mean()) < 0.25 * float((out - fill)[:, 70:90, 85:105].std())


def test_the_grain_has_the_rings_energy_over_seeds():
    """A flat fill of a stationary texture gets back most of its band-pass energy: the texture
    ratio inside the hole (benchmarks.perceptual, 1 = the truth's) is near 1 on average over 8
    seeds (the sqrt-Hann blend keeps the variance), and every seed is inside [0.5, 1.5]."""
    ratios = []
    for seed in range(8):
        x = _texture(160, 200, seed)
        fill, obs = _holed(x, 50, 60, 60, 70)
        out = add_grain(fill, obs, torch.Generator().manual_seed(seed), share=1.0)
        ratios.append(texture_ratio(out, x, (~obs).numpy()))
    assert texture_ratio(fill, x, (~obs).numpy()) < 0.05
    assert all(0.5 < r < 1.5 for r in ratios), ratios
    assert 0.75 < float(np.mean(ratios)) < 1.25, ratios


def test_grain_goes_where_the_fills_colour_matches():
    """Textured green grass on the left, a flat blue sky on the right, a hole across both: the
    sky's side of the fill stays smooth, the grass's side gets grain."""
    x = _texture(160, 240, 1)
    x[:, :, 120:] = torch.tensor([0.4, 0.6, 0.9], dtype=x.dtype)[:, None, None]
    obs = torch.ones(x.shape[1:], dtype=torch.bool)
    obs[50:110, 80:160] = False
    fill = x.clone()
    fill[:, 50:110, 80:120] = x[:, :, :80].mean((1, 2))[:, None, None]
    fill[:, 50:110, 120:160] = x[:, 0, 200][:, None, None]
    out = add_grain(fill, obs, torch.Generator().manual_seed(0))
    grain = (out - fill)[:, 50:110]
    grass, sky = grain[:, :, 80:112].std(), grain[:, :, 128:160].std()
    assert float(grass) > 0.03 and float(sky) < 0.2 * float(grass)


def test_seeded_and_edge_cases():
    x = _texture(120, 120, 2)
    fill, obs = _holed(x, 40, 40, 30, 30)
    a = add_grain(fill, obs, torch.Generator().manual_seed(3))
    assert torch.equal(a, add_grain(fill, obs, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, add_grain(fill, obs, torch.Generator().manual_seed(4)))
    g = torch.Generator().manual_seed(0)
    assert torch.equal(add_grain(fill, torch.ones_like(obs), g), fill)  # nothing to fill
    assert torch.equal(add_grain(fill, torch.zeros_like(obs), g), fill)  # nothing observed to copy
    small = torch.ones(12, 12, dtype=torch.bool)
    small[4:8, 4:8] = False  # no fully observed 16 px patch: left as it is
    assert torch.equal(add_grain(fill[:, :12, :12], small, g), fill[:, :12, :12])
    corner = torch.ones_like(obs)
    corner[:25, :30] = False  # a hole at the photo's corner: its grid starts outside the photo
    out = add_grain(x, corner, g)
    assert torch.equal(out[:, corner], x[:, corner]) and not torch.equal(out[:, ~corner], x[:, ~corner])
    with pytest.raises(ValueError, match="patch"):
        add_grain(fill, obs, g, patch=15)
    with pytest.raises(ValueError, match="share"):
        add_grain(fill, obs, g, share=-0.1)


def test_the_share_scales_the_grain():
    """The same seed lays the same patches: a share s gives s times the grain of share 1 (where
    neither is clamped), 0 gives the fill back, and the texture ratio falls as s squared."""
    x = _texture(160, 200, 5, amp=0.05)
    fill, obs = _holed(x, 50, 60, 60, 70)
    full = add_grain(fill, obs, torch.Generator().manual_seed(1), share=1.0)
    part = add_grain(fill, obs, torch.Generator().manual_seed(1), share=0.6)
    free = (full > 0) & (full < 1)
    assert torch.allclose((part - fill)[free], 0.6 * (full - fill)[free], atol=1e-6)
    assert torch.equal(add_grain(fill, obs, torch.Generator().manual_seed(1), share=0.0), fill)
    hole = (~obs).numpy()
    r1, r6 = texture_ratio(full, x, hole), texture_ratio(part, x, hole)
    assert abs(r6 / r1 - 0.36) < 0.05, (r1, r6)
