"""restore.benchmarks.lpips (Zhang et al. 2018) with random weights saved in the files' own layouts:
the properties of a distance, the files read back to the same numbers, and one-line errors."""
import numpy as np
import pytest
import torch
from _helpers import lpips_files, smooth_photo

from restore.benchmarks.lpips import load_lpips, lpips


@pytest.fixture(scope="module")
def alex(tmp_path_factory):
    return load_lpips(*lpips_files(tmp_path_factory.mktemp("lpips")))


def test_lpips_is_zero_for_equal_images_symmetric_and_non_negative(alex):
    a, b = smooth_photo(0), smooth_photo(1)
    assert lpips(a, a, alex) == 0.0
    assert lpips(a, b, alex) == lpips(b, a, alex) > 0
    for s in range(2, 6):
        assert lpips(smooth_photo(s), a, alex) >= 0
    # a torch image (C, H, W) and a gray one (repeated to RGB) give the same as the arrays
    assert lpips(torch.from_numpy(a).permute(2, 0, 1), b, alex) == pytest.approx(lpips(a, b, alex), rel=1e-6)
    assert lpips(a[..., 0], b[..., 0], alex) == pytest.approx(lpips(a[..., [0, 0, 0]], b[..., [0, 0, 0]], alex), rel=1e-6)


def test_lpips_grows_with_added_noise(alex):
    """More noise, larger distance, at each of 4 levels and for 3 noise draws."""
    ref = smooth_photo(7)
    for seed in range(3):
        noise = np.random.default_rng(seed).standard_normal(ref.shape)
        d = [lpips(ref + s * noise, ref, alex) for s in (0.01, 0.03, 0.1, 0.3)]
        assert all(x < y for x, y in zip(d, d[1:])), d


def test_lpips_mask_counts_only_its_pixels(alex):
    """A change far outside the mask moves the masked distance much less than the whole one, and a
    mask of every pixel is close to the plain spatial mean (bilinear upsampling, not the mean)."""
    ref = smooth_photo(8, 96)
    est = ref.copy()
    est[:, 64:] = smooth_photo(9, 96)[:, 64:]
    mask = np.zeros(ref.shape[:2], bool)
    mask[:, :24] = True
    whole = lpips(est, ref, alex)
    assert 0 <= lpips(est, ref, alex, mask=mask) < 0.1 * whole
    assert lpips(est, ref, alex, mask=np.ones_like(mask)) == pytest.approx(whole, rel=0.01)


@pytest.mark.parametrize("backbone", ["alexnet", "vgg16"])
def test_lpips_files_round_trip_in_both_formats(tmp_path, backbone):
    """Weights saved as .pth (read with weights_only=True) and as .safetensors load to the same
    network: the same numbers, and the weights exactly those written."""
    pth = lpips_files(tmp_path, backbone, seed=3)
    st = lpips_files(tmp_path, backbone, seed=3, suffix=".safetensors")
    n1, n2 = load_lpips(*pth), load_lpips(*st)
    assert n1.backbone == n2.backbone == backbone
    written = torch.load(pth[1], weights_only=True)
    assert torch.equal(n1.lins[2], written["lin2.model.1.weight"])
    assert torch.equal(n1.features[0].weight, torch.load(pth[0], weights_only=True)["features.0.weight"])
    a, b = smooth_photo(10, 48), smooth_photo(11, 48)
    assert lpips(a, b, n1) == lpips(a, b, n2) > 0


def test_lpips_bad_files_are_one_line_errors(tmp_path):
    bb, lin = lpips_files(tmp_path)
    sd_bb, sd_lin = torch.load(bb, weights_only=True), torch.load(lin, weights_only=True)

    def fails(sd_b, sd_l, match):
        torch.save(sd_b, tmp_path / "b.pth")
        torch.save(sd_l, tmp_path / "l.pth")
        with pytest.raises(ValueError, match=match) as e:
            load_lpips(tmp_path / "b.pth", tmp_path / "l.pth")
        assert "\n" not in str(e.value)

    with pytest.raises(ValueError, match="no such checkpoint"):
        load_lpips(tmp_path / "missing.pth", lin)
    fails(sd_lin, sd_bb, "no features.0.weight")  # the two files swapped
    fails({k: v for k, v in sd_bb.items() if k != "features.8.weight"}, sd_lin, "no features.8.weight")
    fails({**sd_bb, "features.3.weight": torch.zeros(5, 64, 5, 5)}, sd_lin, r"features.3.weight has shape \(5, 64, 5, 5\)")
    fails({**sd_bb, "features.13.weight": torch.zeros(1)}, sd_lin, "unexpected key features.13.weight")
    fails(sd_bb, {k: v for k, v in sd_lin.items() if k != "lin4.model.1.weight"}, "no lin4.model.1.weight")
    fails(sd_bb, {**sd_lin, "lin1.model.1.weight": -sd_lin["lin1.model.1.weight"]}, "negative weights")
    fails(sd_bb, {**sd_lin, "lin0.model.1.weight": torch.full((1, 64, 1, 1), float("nan"))}, "NaN or inf")
    fails({"features.0.weight": torch.zeros(64, 3, 7, 7)}, sd_lin, "neither AlexNet's nor VGG16's")
    # a file of pickled code is refused, not run
    (tmp_path / "code.pth").write_bytes(b"\x80\x04cos\nsystem\n.")
    with pytest.raises(ValueError, match="refusing|not a readable"):
        load_lpips(tmp_path / "code.pth", lin)


def test_lpips_refuses_images_smaller_than_the_network(alex):
    with pytest.raises(ValueError, match="at least 31 px"):
        lpips(smooth_photo(0, 30), smooth_photo(1, 30), alex)
    with pytest.raises(ValueError, match="differ in size"):
        lpips(smooth_photo(0, 40), smooth_photo(1, 48), alex)


def test_lpips_in_a_hole_sees_only_its_bounding_box(alex):
    """Inside a mask: the same as `lpips` of the crops to the mask's bounding box with the mask,
    blind to any change outside that box; a mask smaller than the network's field is grown to
    31 px about its centre, within the image (here at a corner)."""
    from restore.benchmarks.lpips import lpips_in

    ref, other = smooth_photo(12, 96), smooth_photo(13, 96)
    mask = np.zeros((96, 96), bool)
    mask[20:60, 30:70] = True
    mask[40:62, 50:80] = True
    est = np.where(mask[..., None], other, ref)
    d = lpips_in(est, ref, alex, mask)
    assert d == lpips(est[20:62, 30:80], ref[20:62, 30:80], alex, mask=mask[20:62, 30:80]) > 0
    far = est.copy()
    far[70:, :] = other[70:, :]
    assert lpips_in(far, ref, alex, mask) == d
    corner = np.zeros((96, 96), bool)
    corner[90:95, 1:4] = True
    est2 = np.where(corner[..., None], other, ref)
    assert lpips_in(est2, ref, alex, corner) == lpips(est2[65:96, 0:31], ref[65:96, 0:31], alex, mask=corner[65:96, 0:31])


def test_lpips_scaling_layer_is_imagenet_normalisation_on_minus_one_to_one():
    """The lpips package's shift and scale are ImageNet's mean and std for inputs on [-1, 1]:
    (2 x - 1 - shift) / scale == (x - mean) / std."""
    from restore.benchmarks.lpips import LPIPS

    net = LPIPS("vgg16")
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(net.shift.flatten(), 2 * mean - 1, atol=5e-4)
    assert torch.allclose(net.scale.flatten(), 2 * std, atol=5e-4)
    assert [w.shape[1] for w in net.lins] == [64, 128, 256, 512, 512]
    assert [w.shape[1] for w in LPIPS("alexnet").lins] == [64, 192, 384, 256, 256]
