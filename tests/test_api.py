"""restore/api.py: restoring a photo (restore.inpaint, restore.denoise, ...): every pixel outside the
mask kept for each image kind, the strength and levels options, the rest of the photo denoised on
request, and inpainting by regions of interest. The defaults tables: tests/test_defaults.py."""
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

import restore


def _photo(kind):
    rgb = skdata.astronaut()[100:196:2, 150:262:2]  # 48 x 56
    if kind == "8-bit":
        return rgb
    if kind == "16-bit":
        return (rgb[..., 0].astype(np.uint16) * 257 + 3)
    return np.dstack([rgb, np.linspace(0, 255, rgb.shape[0] * rgb.shape[1]).reshape(rgb.shape[:2]).astype(np.uint8)])


@pytest.mark.parametrize("kind", ["8-bit", "16-bit", "RGBA"])
@pytest.mark.parametrize("sigma_y", [None, 0.05])
def test_inpainting_keeps_every_pixel_outside_the_mask(tiny_prior, kind, sigma_y):
    a = _photo(kind)
    fill = np.zeros(a.shape[:2], bool)
    fill[5:15, 6:20] = True
    fill[30:44, 40:50] = True
    out = restore.inpaint(a, fill, prior=tiny_prior, steps=3, sigma_y=sigma_y, margin=4)
    assert out.dtype == a.dtype and out.shape == a.shape
    assert np.array_equal(out[~fill], a[~fill])
    assert not np.array_equal(out[fill], a[fill])
    pil = Image.fromarray(a)
    out_pil = restore.inpaint(pil, fill, prior=tiny_prior, steps=3, sigma_y=sigma_y, margin=4)
    assert np.array_equal(np.asarray(out_pil)[~fill], np.asarray(pil)[~fill])


@pytest.mark.parametrize("strength", [0.0, -0.5, 1.5, float("nan")])
def test_strength_outside_its_range_is_refused(tiny_prior, strength):
    with pytest.raises(ValueError, match="strength"):
        restore.denoise(_photo("8-bit"), prior=tiny_prior, steps=2, sigma_y=0.05, strength=strength)


def test_denoise_rest_restores_the_whole_image(tiny_prior):
    a = _photo("8-bit")
    fill = np.zeros(a.shape[:2], bool)
    fill[5:15, 6:20] = True
    out = restore.inpaint(a, fill, prior=tiny_prior, steps=3, sigma_y=0.05, denoise_rest=True)
    assert (out[~fill] != a[~fill]).mean() > 0.5


def test_regions_restore_only_near_the_holes(tiny_prior):
    """A region of interest is a smaller problem: the network sees only the boxes (counted by
    the callback's image sizes), and the margin is the context around each hole."""
    a = _photo("8-bit")
    fill = np.zeros(a.shape[:2], bool)
    fill[5:10, 6:12] = True
    sizes = []
    restore.inpaint(a, fill, prior=tiny_prior, steps=2, strength=1.0, sigma_y=0.0, margin=3, samples=1,
                    callback=lambda d: sizes.append(tuple(d["x"].shape[-2:])))
    assert sizes == [(11, 12)] * 2


def test_a_photos_fill_looks_natural_by_default_and_faithful_on_request(tiny_prior):
    """The default fill of a photo is one draw with the grain of its surroundings (look="natural");
    look="faithful" is the mean of the default's draws, as the fill was before; both keep every
    pixel outside the mask, and an uncertainty map comes with either."""
    a = _photo("8-bit")
    fill = np.zeros(a.shape[:2], bool)
    fill[12:36, 14:40] = True
    kw = dict(prior=tiny_prior, steps=3, sigma_y=0.02)
    natural = restore.inpaint(a, fill, **kw)
    assert np.array_equal(natural, restore.inpaint(a, fill, look="natural", **kw))
    faithful = restore.inpaint(a, fill, look="faithful", **kw)
    assert np.array_equal(faithful, restore.inpaint(a, fill, look="faithful", samples=2, **kw))
    for out in (natural, faithful):
        assert np.array_equal(out[~fill], a[~fill])
    assert not np.array_equal(natural[fill], faithful[fill])
    out, std = restore.inpaint(a, fill, return_std=True, **kw)
    assert np.array_equal(out[~fill], a[~fill]) and float(std[fill].mean()) > 0
    with pytest.raises(ValueError, match="look"):
        restore.inpaint(a, fill, look="smooth", **kw)


def test_inpainting_on_a_pyramid_keeps_every_pixel_outside_the_mask(tiny_prior):
    """restore.inpaint(levels=N): each region of interest on its own pyramid, every pixel outside
    the mask bit-identical, N chains per region; levels=1 is the default; refused in one line for
    a cold start, bad values and operators without a coarse scale."""
    a = _photo("8-bit")
    fill = np.zeros(a.shape[:2], bool)
    fill[5:15, 6:20] = True
    fill[30:44, 40:50] = True
    nfe = []
    out = restore.inpaint(a, fill, prior=tiny_prior, steps=3, margin=4, levels=3, callback=nfe.append)
    assert out.shape == a.shape and np.array_equal(out[~fill], a[~fill]) and not np.array_equal(out[fill], a[fill])
    assert len(nfe) == 2 * 3 * 3 * 1  # regions x levels x steps x draws (one: a photo's fill looks natural)
    assert restore.defaults.default("inpaint", True).look == "natural"
    assert np.array_equal(restore.inpaint(a, fill, prior=tiny_prior, steps=3, margin=4, levels=1),
                          restore.inpaint(a, fill, prior=tiny_prior, steps=3, margin=4))
    for bad, match in ((dict(levels=0), "levels"), (dict(levels=2.5), "levels"), (dict(levels=2, strength=1.0), "warm")):
        with pytest.raises(ValueError, match=match):
            restore.inpaint(a, fill, prior=tiny_prior, steps=3, **bad)
    with pytest.raises(ValueError, match="no coarse-scale version"):
        restore.deblur(a, "gaussian:3.0", prior=tiny_prior, steps=3, strength=0.3, levels=2, sigma_y=0.01)
    from lab.whole_photo import parse_config  # the benchmark's configurations carry levels

    assert "levels" not in parse_config("ddrm:15:0.1:1") and parse_config("ddrm:15:0.1:1:3")["levels"] == 3


@pytest.mark.parametrize("name", ["inpaint", "deblur", "super_resolve", "denoise"])
def test_every_option_is_a_keyword_of_the_public_function(name):
    """help() shows the options (explicit keywords, documented), and a misspelt one is a TypeError
    naming the function the caller called, before anything runs."""
    import inspect

    fn = getattr(restore, name)
    params = inspect.signature(fn).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())
    for option in ("prior", "method", "steps", "strength", "sigma_y", "seed", "device", "samples", "return_std",
                   "precision", "workers", "callback", "levels", "split_tiles", "method_options"):
        assert option in params and f"{option}:" in fn.__doc__, (name, option)
    args = (_photo("8-bit"), np.ones((48, 56), bool)) if name == "inpaint" else (_photo("8-bit"),)
    with pytest.raises(TypeError, match=rf"^{name}\(\) got an unexpected keyword argument 'sigmay'"):
        fn(*args, sigmay=0.1)


def test_solver_options_go_through_method_options(tiny_prior):
    a = _photo("8-bit")
    kw = dict(prior=tiny_prior, steps=2, sigma_y=0.05, samples=1, strength=1.0, method="ddrm")
    assert not np.array_equal(restore.denoise(a, **kw, method_options={"eta": 0.0}), restore.denoise(a, **kw))
    with pytest.raises(TypeError, match="bogus"):
        restore.denoise(a, **kw, method_options={"bogus": 1})


def test_the_std_map_comes_back_in_the_images_kind(tiny_prior):
    import torch

    rgb = _photo("8-bit")
    kw = dict(prior=tiny_prior, steps=1, sigma_y=0.05, samples=2, return_std=True)
    for image, check in ((rgb, lambda s: isinstance(s, np.ndarray) and s.shape == (48, 56, 3) and s.dtype == np.float32),
                         (rgb[..., 0], lambda s: isinstance(s, np.ndarray) and s.shape == (48, 56)),
                         (_photo("RGBA"), lambda s: isinstance(s, np.ndarray) and s.shape == (48, 56, 3)),
                         (Image.fromarray(rgb), lambda s: isinstance(s, Image.Image) and s.mode == "F" and s.size == (56, 48)),
                         (torch.from_numpy(rgb).permute(2, 0, 1) / 255.0,
                          lambda s: isinstance(s, torch.Tensor) and s.shape == (3, 48, 56) and s.dtype == torch.float32)):
        out, std = restore.denoise(image, **kw)
        assert check(std), type(std)
        assert float(np.asarray(std).max()) > 0  # a real map, not zeros
    from restore.pipeline import restore_batch

    outs = restore_batch([rgb, rgb], "denoise", {}, **kw)
    assert all(isinstance(s, np.ndarray) and s.shape == (48, 56, 3) for _, s in outs)


def test_a_natural_denoising_keeps_a_share_of_the_photos_noise(tiny_prior):
    """look="natural" for denoising is the faithful result (the same draws, the same seed) plus
    NATURAL_DENOISE_KEEP of the luminance of what it removed, in every channel, to float precision,
    on the float image's [0, 1]; the photo's default (tiles)."""
    a = skdata.astronaut()[100:196:2, 150:262:2].astype(np.float32) / 255
    noisy = np.clip(a + 0.05 * np.random.default_rng(0).standard_normal(a.shape), 0, 1).astype(np.float32)
    kw = dict(prior=tiny_prior, steps=2, sigma_y=0.05, samples=2)
    faithful = restore.denoise(noisy, look="faithful", **kw)
    natural = restore.denoise(noisy, look="natural", **kw)
    k = restore.defaults.NATURAL_DENOISE_KEEP
    lum = (noisy - faithful) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    assert np.allclose(natural, np.clip(faithful + k * lum[..., None], 0, 1), atol=1e-6)
    assert np.abs(natural - noisy).mean() < np.abs(faithful - noisy).mean()
    assert np.array_equal(restore.denoise(noisy, **kw), natural)  # the default of a photo (the prior by tiles)


def test_a_natural_deblurring_moves_the_mean_toward_the_first_draw(tiny_prior):
    """look="natural" for deblur and sr (a photo's default) is the mean of the default's draws moved
    NATURAL_DRAW_SHARE of the way toward the first of them (the draw one sample makes, the same seed)."""
    a = skdata.astronaut()[100:196:2, 150:262:2].astype(np.float32) / 255
    kw = dict(prior=tiny_prior, steps=2, strength=0.5, sigma_y=0.02, samples=2)
    from restore.defaults import NATURAL_DRAW_SHARE as k
    for fn in (lambda **o: restore.deblur(a, "gaussian:1.0", **o), lambda **o: restore.super_resolve(a, 2, **o)):
        mean, natural = fn(look="faithful", **kw), fn(look="natural", **kw)
        first = fn(look="faithful", **{**kw, "samples": 1})
        assert np.allclose(natural, mean + k * (first - mean), atol=2e-6)
        assert not np.allclose(natural, mean, atol=1e-4) and np.array_equal(fn(**kw), natural)
