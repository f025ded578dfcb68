"""Helpers shared by several test files (tests/ is on sys.path: `from _helpers import ...`)."""
import math
import os

import torch


def randomized(sd: dict, seed: int = 0) -> dict:
    """Weights with every layer active (the zero-initialised output convolutions included):
    matrices ~ N(0, 1/fan_in), 1-D weights (GroupNorm scales) ~ 1 + N(0, 0.1^2), biases ~ N(0, 0.05^2)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in sd.items():
        if not v.is_floating_point():
            out[k] = v
        elif v.ndim >= 2:
            out[k] = torch.randn(v.shape, generator=g) / math.sqrt(v[0].numel())
        elif k.endswith("weight"):
            out[k] = 1 + 0.1 * torch.randn(v.shape, generator=g)
        else:
            out[k] = 0.05 * torch.randn(v.shape, generator=g)
    return out


class Payload:
    """Pickles to a call of os.system; it is only ever pickled here, never unpickled unsafely."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def lpips_files(tmp_path, backbone="alexnet", seed=0, suffix=".pth"):
    """(backbone file, linear file): random weights in torchvision's layout (with a classifier key,
    which is ignored) and in the lpips package's (lin0.model.1.weight ...), non-negative."""
    from safetensors.torch import save_file

    from restore.benchmarks.lpips import LPIPS

    g = torch.Generator().manual_seed(seed)
    net = LPIPS(backbone)
    feats = {f"features.{k}": 0.1 * torch.randn(v.shape, generator=g) for k, v in net.features.state_dict().items()}
    feats["classifier.1.weight"] = torch.randn(4, 3, generator=g)
    lins = {f"lin{i}.model.1.weight": torch.rand(w.shape, generator=g) for i, w in enumerate(net.lins)}
    paths = tmp_path / f"{backbone}{suffix}", tmp_path / f"lin_{backbone}{suffix}"
    for p, sd in zip(paths, (feats, lins)):
        save_file(sd, str(p)) if suffix == ".safetensors" else torch.save(sd, p)
    return paths


def smooth_photo(seed, size=64):
    """A smooth random RGB image (H, W, 3) on [0, 1]."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    return np.clip(0.5 + 3 * gaussian_filter(rng.standard_normal((size, size, 3)), (3, 3, 0)), 0, 1)
