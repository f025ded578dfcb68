"""Blur: convolution with a kernel (point-spread function) and a padded boundary."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import Operator, Shape, SVDOperator, check_image, image_shape
from .kernels import check_kernel
from .padding import conv_matrix, pad, pad_adjoint, pad_index
from .svd_tools import KroneckerSVD


def check_fits(kernel: Tensor, h: int, w: int) -> None:
    kh, kw = kernel.shape
    if kh > h or kw > w:
        raise ValueError(f"kernel {kh}x{kw} is larger than the image {h}x{w}")


def rank_one_factors(k: Tensor, tol: float = 1e-10) -> tuple[Tensor, Tensor] | None:
    """(a, b) with k = outer(a, b), both non-negative, if k is rank one to tol; else None."""
    U, s, Vh = torch.linalg.svd(k)
    if s.numel() > 1 and s[1] > tol * s[0]:
        return None
    a, b = U[:, 0] * s[0].sqrt(), Vh[0] * s[0].sqrt()
    sign = torch.sign(a.sum())
    return (a * sign).clamp(min=0), (b * sign).clamp(min=0)


FFT_ABOVE = 121  # kernels with more taps than this (11 x 11) are applied by FFT, fewer directly


def fast_len(n: int) -> int:
    """The smallest m >= n with no prime factor above 5: FFT lengths that run fast (on one CPU
    thread an FFT of 158 x 158 takes 3.4x the time of 160 x 160; 158 = 2 x 79)."""
    m = int(n)
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def _kernel_fft(kf: Tensor, size: tuple[int, int], cache: dict | None) -> Tensor:
    """rfft2 of the PSF (kf flipped) zero-padded to `size`, kept in `cache` per (size, dtype, device)."""
    key = (size, kf.dtype, kf.device)
    if cache is not None and key in cache:
        return cache[key]
    K = torch.fft.rfft2(kf.flip(0, 1), s=size)
    if cache is not None:
        cache[key] = K
    return K


def correlate_valid(z: Tensor, kf: Tensor, cache: dict | None = None) -> Tensor:
    """Valid per-channel correlation of z (B, C, Hp, Wp) with kf (kh, kw): (B, C, Hp - kh + 1, Wp - kw + 1).
    By FFT (kernels of more than FFT_ABOVE taps) the circular convolution with the PSF runs at fast
    lengths >= (Hp, Wp), where the valid part does not wrap; `cache` keeps the kernel's FFT."""
    kh, kw = kf.shape
    if kh * kw <= FFT_ABOVE:
        return F.conv2d(z, kf.expand(z.shape[1], 1, kh, kw), groups=z.shape[1])
    hp, wp = z.shape[-2:]
    size = (fast_len(hp), fast_len(wp))
    K = _kernel_fft(kf, size, cache)
    return torch.fft.irfft2(torch.fft.rfft2(z, s=size) * K, s=size)[..., kh - 1 : hp, kw - 1 : wp]


def correlate_valid_adjoint(y: Tensor, kf: Tensor, cache: dict | None = None) -> Tensor:
    """Exact adjoint of `correlate_valid`: (B, C, H, W) -> (B, C, H + kh - 1, W + kw - 1). By FFT,
    y sits after kh - 1 (kw - 1) zeros in a fast length >= H + kh - 1: what the circular
    correlation wraps lands on those zeros."""
    kh, kw = kf.shape
    if kh * kw <= FFT_ABOVE:
        return F.conv_transpose2d(y, kf.expand(y.shape[1], 1, kh, kw), groups=y.shape[1])
    hp, wp = y.shape[-2] + kh - 1, y.shape[-1] + kw - 1
    size = (fast_len(hp), fast_len(wp))
    K = _kernel_fft(kf, size, cache)
    Y = torch.fft.rfft2(F.pad(y, (kw - 1, 0, kh - 1, 0)), s=size)
    return torch.fft.irfft2(Y * K.conj(), s=size)[..., :hp, :wp]


class Blur(SVDOperator):
    """y = k * x: convolution with the PSF ``kernel`` (centre at index (kh // 2, kw // 2)), same size out.

    y[i, j] = sum_{t, u} k[t, u] x[i + kh//2 - t, j + kw//2 - u], x extended by ``padding``
    ("reflect" as torch, the default; "replicate"; "zeros"). The kernel is validated and normalised
    to sum 1, per channel. AT is the exact adjoint (correlation, then the border folded back).
    Kernels of more than 121 taps are applied by FFT (same result to rounding), smaller ones by conv2d.

    A rank-one (separable) kernel, e.g. a Gaussian or a box, has a cheap SVD: the Kronecker
    product of the SVDs of the 1-D convolution matrices built for the image size, and A_pinv is
    the SVD pseudo-inverse truncated at ``rcond`` (default 1e-3) times the largest singular value.
    Otherwise ``has_svd`` is False and A_pinv is CGLS on ||A x - y||^2 + rcond^2 ||x||^2 (a
    Tikhonov term matching the truncation: ||A|| is about 1 for a normalised kernel).
    """

    def __init__(self, kernel, padding: str = "reflect", *, rcond: float = 1e-3, tol: float = 1e-6,
                 max_iter: int = 500):
        self.kernel = check_kernel(kernel)
        pad_index(3, 0, 0, padding)  # validates the mode
        self.padding = padding
        self.rcond, self.tol, self.max_iter = float(rcond), float(tol), int(max_iter)
        self.damping = self.rcond**2
        self.factors = rank_one_factors(self.kernel)
        self.has_svd = self.factors is not None
        self._svd: dict[tuple[int, int], KroneckerSVD] = {}
        self._fft: dict = {}  # the kernel's FFT per padded size, dtype and device

    def __repr__(self) -> str:
        kh, kw = self.kernel.shape
        return f"Blur(kernel {kh}x{kw}, padding={self.padding!r})"

    def _indices(self, h: int, w: int) -> tuple[Tensor, Tensor]:
        check_fits(self.kernel, h, w)
        kh, kw = self.kernel.shape
        ch, cw = kh // 2, kw // 2
        return pad_index(h, kh - 1 - ch, ch, self.padding), pad_index(w, kw - 1 - cw, cw, self.padding)

    def A(self, x: Tensor) -> Tensor:
        check_image(x)
        idx_h, idx_w = self._indices(*x.shape[-2:])
        return correlate_valid(pad(x, idx_h, idx_w), self.kernel.flip(0, 1).to(x), self._fft)

    def AT(self, y: Tensor) -> Tensor:
        check_image(y, "y")
        h, w = y.shape[-2:]
        idx_h, idx_w = self._indices(h, w)
        z = correlate_valid_adjoint(y, self.kernel.flip(0, 1).to(y), self._fft)
        return pad_adjoint(z, idx_h, idx_w, h, w)

    def A_pinv(self, y: Tensor) -> Tensor:
        if self.has_svd:
            return super().A_pinv(y)
        return Operator.A_pinv(self, y)  # damped CGLS

    # SVD (separable kernels only)
    def _ksvd(self, h: int, w: int) -> KroneckerSVD:
        if not self.has_svd:
            raise self._no_svd()
        if (h, w) not in self._svd:
            check_fits(self.kernel, h, w)
            a, b = self.factors
            M_h = conv_matrix(a, h, a.numel() // 2, self.padding)
            M_w = conv_matrix(b, w, b.numel() // 2, self.padding)
            self._svd[(h, w)] = KroneckerSVD(M_h, M_w)
        return self._svd[(h, w)]

    def x_shape_of(self, y_shape: Shape) -> Shape:
        return tuple(y_shape)

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        c, h, w = image_shape(x_shape)
        return self._ksvd(h, w).singulars(c, dtype, device)

    def VT(self, x: Tensor) -> Tensor:
        return self._ksvd(*x.shape[-2:]).VT(x)

    def V(self, z: Tensor, x_shape: Shape) -> Tensor:
        c, h, w = image_shape(x_shape)
        return self._ksvd(h, w).V(z, c)

    def UT(self, y: Tensor) -> Tensor:
        return self._ksvd(*y.shape[-2:]).UT(y)

    def U(self, w: Tensor, x_shape: Shape) -> Tensor:
        c, h, wd = image_shape(x_shape)
        return self._ksvd(h, wd).U(w, c)
