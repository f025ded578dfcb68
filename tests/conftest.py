import numpy as np
import pytest
import torch

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
