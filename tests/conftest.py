import numpy as np
import pytest
import torch

from restore.priors import UNet, UNetConfig, linear_schedule, save_prior

torch.set_num_threads(1)


@pytest.fixture
def tiny_npz(tmp_path):
    """128 smooth 8x8 gray uint8 images: random low-frequency patterns."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:8, 0:8] / 8.0
    imgs = []
    for _ in range(128):
        a, b, c = rng.uniform(-1, 1, 3)
        f = 0.5 + 0.35 * np.sin(2 * np.pi * (a * yy + b * xx) + 3 * c)
        imgs.append(np.clip(f * 255, 0, 255).astype(np.uint8))
    path = tmp_path / "tiny.npz"
    np.savez(path, images=np.stack(imgs))
    return path


@pytest.fixture(scope="module")
def tiny_prior(tmp_path_factory):
    """A random 3-channel UNet prior of 8x8 images, saved and loaded as a file (so a patch prior,
    run by tiles, on larger images); one per test module."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("prior") / "tiny.safetensors"
    save_prior(path, UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)), linear_schedule(), 8)
    from restore.priors import load_prior

    return load_prior(path)
