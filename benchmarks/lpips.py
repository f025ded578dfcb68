"""LPIPS of Zhang, Isola, Efros, Shechtman & Wang 2018, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric" (CVPR), from weights the user has on disk; nothing is downloaded.

    net = load_lpips("alexnet.pth", "lpips_alex.pth")  # backbone, then the linear layers
    d = lpips(est, ref, net)                             # 0 for equal images, lower is closer

Two files, each a .pth (read with torch.load(weights_only=True): no pickled code runs) or a
.safetensors:
- the backbone, AlexNet or VGG16, as a state dict in torchvision's layout (`features.0.weight`,
  `features.0.bias`, ...; keys outside `features.` such as the classifier's are ignored), e.g.
  torchvision's ImageNet `alexnet-owt-7be5be79.pth` or `vgg16-397923af.pth`;
- the calibrated linear layers in the layout of the `lpips` package's v0.1 files
  (`lin0.model.1.weight` ... `lin4.model.1.weight`, shapes (1, C_l, 1, 1), non-negative), e.g. its
  `weights/v0.1/alex.pth` or `vgg.pth`.
Which backbone it is comes from the backbone file's keys. Images as in `restore.benchmarks.perceptual`
(numpy (H, W, C) or (H, W) on [0, 1], torch (C, H, W) / (1, C, H, W)); gray is repeated to RGB.
The network runs in float32 on the CPU (`LPIPS.to` moves it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LPIPS", "load_lpips", "lpips", "lpips_in", "BACKBONES"]

# torchvision's `features` (index: layer) up to the last tapped ReLU; C = conv (in, out, kernel, stride,
# padding), R = ReLU, M = max pool (kernel, stride). The LPIPS taps: the ReLUs after each stage.
_ALEX = [("C", 3, 64, 11, 4, 2), ("R",), ("M", 3, 2), ("C", 64, 192, 5, 1, 2), ("R",), ("M", 3, 2),
         ("C", 192, 384, 3, 1, 1), ("R",), ("C", 384, 256, 3, 1, 1), ("R",), ("C", 256, 256, 3, 1, 1), ("R",)]


def _vgg16() -> list:
    """torchvision's VGG16 `features` up to relu5_3: 13 3 x 3 convolutions with ReLUs in 5 blocks,
    a 2 x 2 max pool before each block but the first."""
    out = []
    for block, (cin, cout, n) in enumerate([(3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3)]):
        out += [("M", 2, 2)] if block else []
        for i in range(n):
            out += [("C", cin if i == 0 else cout, cout, 3, 1, 1), ("R",)]
    return out


# name: (layers, indices of the tapped ReLUs (relu1 ... relu5 of AlexNet, relu1_2 ... relu5_3 of VGG16))
BACKBONES = {"alexnet": (_ALEX, (1, 4, 7, 9, 11)), "vgg16": (_vgg16(), (3, 8, 15, 22, 29))}
_LEAST = {"alexnet": 31, "vgg16": 16}  # the least image side whose last tapped map is not empty

# the input scaling layer of the lpips package (v0.1): (x - shift) / scale on [-1, 1] RGB, i.e. the
# ImageNet mean and std the backbones were trained with, rewritten for [-1, 1] inputs
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)


def _layer(spec) -> nn.Module:
    if spec[0] == "C":
        return nn.Conv2d(spec[1], spec[2], spec[3], stride=spec[4], padding=spec[5])
    return nn.ReLU() if spec[0] == "R" else nn.MaxPool2d(spec[1], spec[2])


class LPIPS(nn.Module):
    """The backbone `features` (torchvision's indices, so its state dict loads as it is) and one
    non-negative 1 x 1 weight per tapped layer (`lins[l]`, shape (1, C_l, 1, 1))."""

    def __init__(self, backbone: str = "alexnet"):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown LPIPS backbone {backbone!r}: use one of {sorted(BACKBONES)}")
        layers, self.taps = BACKBONES[backbone]
        self.backbone, self.least = backbone, _LEAST[backbone]
        self.features = nn.Sequential(*[_layer(s) for s in layers])
        chans = [next(s[2] for s in reversed(layers[: t + 1]) if s[0] == "C") for t in self.taps]
        self.lins = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1)) for c in chans])
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)

    def taps_of(self, x: Tensor) -> list[Tensor]:
        """The tapped features of images x (N, 3, H, W) on [0, 1], each unit-normalised over channels."""
        h = ((2 * x - 1) - self.shift) / self.scale  # [0, 1] -> [-1, 1], then the lpips scaling layer
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                out.append(h / (h.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))  # Eq. (1): y_hat^l, unit norm over C
        return out

    def forward(self, x0: Tensor, x1: Tensor, mask: Tensor | None = None) -> Tensor:
        """(N,) distances of images x0, x1 (N, 3, H, W) on [0, 1]; with `mask` (H, W) bool, each
        layer's map is upsampled bilinearly to (H, W) (as the lpips package's spatial=True) and
        averaged over the mask's pixels instead of over the whole map."""
        d = x0.new_zeros(x0.shape[0])
        for f0, f1, w in zip(self.taps_of(x0), self.taps_of(x1), self.lins):
            m = F.conv2d((f0 - f1) ** 2, w)  # Eq. (1): ||w_l (.) (y_hat0 - y_hat1)||^2, w_l^2 learned as w
            if mask is None:
                d = d + m.mean((1, 2, 3))  # Eq. (1): 1 / (H_l W_l) sum over h, w; summed over l
            else:
                up = F.interpolate(m, size=mask.shape, mode="bilinear", align_corners=False)
                d = d + up[:, 0, mask].mean(1)
        return d


def _pick(sd: dict, want: dict, path, prefix: str) -> dict[str, Tensor]:
    """{key: float32 tensor} of the keys of `want` (key: shape) from the file's dict `sd`, whose keys
    outside `prefix` are ignored; a missing, misshapen, non-finite or unexpected one is a one-line ValueError."""
    for k, shape in want.items():
        if k not in sd:
            raise ValueError(f"{path}: no {k} (not the layout of this LPIPS network)")
        if tuple(sd[k].shape) != shape:
            raise ValueError(f"{path}: {k} has shape {tuple(sd[k].shape)}, expected {shape}")
        if not torch.isfinite(sd[k]).all():
            raise ValueError(f"{path}: {k} holds NaN or inf")
    extra = sorted(k for k in sd if k.startswith(prefix) and k not in want)
    if extra:
        raise ValueError(f"{path}: unexpected key {extra[0]} ({len(extra)} in all) for this LPIPS network")
    return {k: sd[k].float() for k in want}


def _infer_backbone(sd: dict, path) -> str:
    """alexnet or vgg16 from a torchvision state dict's first convolution."""
    w = sd.get("features.0.weight")
    if w is None:
        raise ValueError(f"{path}: no features.0.weight (not a torchvision AlexNet or VGG16 state dict)")
    kernel = tuple(w.shape[-2:])
    if kernel not in ((11, 11), (3, 3)):
        raise ValueError(f"{path}: features.0.weight of shape {tuple(w.shape)} is neither AlexNet's nor VGG16's")
    return "alexnet" if kernel == (11, 11) else "vgg16"


def load_lpips(backbone_path, linear_path) -> LPIPS:
    """An LPIPS network from a backbone file and a linear-layer file (module docstring); a missing
    file, another layout or negative linear weights are a one-line ValueError."""
    from restore.priors.adm_checkpoint import read_state_dict

    backbone, linear = read_state_dict(Path(backbone_path)), read_state_dict(Path(linear_path))
    net = LPIPS(_infer_backbone(backbone, backbone_path))
    feats = _pick(backbone, {f"features.{k}": tuple(v.shape) for k, v in net.features.state_dict().items()},
                  backbone_path, "features.")
    names = [f"lin{i}.model.1.weight" for i in range(len(net.lins))]  # the lpips package's v0.1 files
    lins = _pick(linear, {n: tuple(w.shape) for n, w in zip(names, net.lins)}, linear_path, "lin")
    neg = [n for n in names if (lins[n] < 0).any()]
    if neg:
        raise ValueError(f"{linear_path}: {neg[0]} has negative weights (LPIPS's are >= 0)")
    net.features.load_state_dict({k[len("features."):]: v for k, v in feats.items()})
    for w, n in zip(net.lins, names):
        w.copy_(lins[n])
    return net


def _nchw(x) -> Tensor:
    """An image (module docstring) -> float32 (1, 3, H, W)."""
    if isinstance(x, Tensor):
        t = x.detach().float().cpu()
        t = t[None] if t.ndim == 3 else t
    else:
        a = np.asarray(x, dtype=np.float32)
        a = a[..., None] if a.ndim == 2 else a
        t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]
    if t.ndim != 4 or t.shape[0] != 1 or t.shape[1] not in (1, 3):
        raise ValueError(f"LPIPS takes one RGB or gray image, got shape {tuple(t.shape)}")
    return t.expand(1, 3, *t.shape[2:]) if t.shape[1] == 1 else t


@torch.no_grad()
def lpips(est, ref, net: LPIPS, mask=None) -> float:
    """LPIPS (Zhang et al. 2018, Eq. 1) between two images of one size on [0, 1] through `net`
    (`load_lpips`): 0 for equal images, symmetric, >= 0. With `mask` ((H, W) bool) only the mask's
    pixels count (`LPIPS.forward`). Smaller than the network's field (AlexNet: 31 px per side,
    VGG16: 16) is an error."""
    a, b = _nchw(est), _nchw(ref)
    if a.shape != b.shape:
        raise ValueError(f"est {tuple(a.shape[2:])} and ref {tuple(b.shape[2:])} differ in size")
    if min(a.shape[2:]) < net.least:
        raise ValueError(f"LPIPS ({net.backbone}) needs at least {net.least} px per side, got {tuple(a.shape[2:])}")
    dev = net.shift.device
    m = None
    if mask is not None:
        m = torch.as_tensor(np.asarray(mask.cpu() if isinstance(mask, Tensor) else mask, dtype=bool), device=dev)
        if tuple(m.shape) != tuple(a.shape[2:]) or not m.any():
            raise ValueError(f"mask of shape {tuple(m.shape)} with {int(m.sum())} pixels for an image of {tuple(a.shape[2:])}")
    return float(net(a.to(dev), b.to(dev), m)[0])


def lpips_in(est, ref, net: LPIPS, mask) -> float:
    """LPIPS inside a mask ((H, W) bool, True = counts; images (H, W, C) arrays): both images cropped
    to the mask's bounding box, grown about its centre to the network's least size where smaller
    (within the image), and only the mask's pixels counted (`lpips` with its mask)."""
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        raise ValueError("lpips_in: an empty mask")
    box = []
    for axis, n in enumerate(m.shape):
        idx = np.flatnonzero(m.any(1 - axis))
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        size = min(max(hi - lo, net.least), n)
        lo = min(max((lo + hi - size) // 2, 0), n - size)
        box.append(slice(lo, lo + size))
    a, b = np.asarray(est)[tuple(box)], np.asarray(ref)[tuple(box)]
    return lpips(a, b, net, mask=m[tuple(box)])
