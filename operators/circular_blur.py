"""Circular blur: convolution with periodic boundaries, diagonalised by the FFT."""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Shape, SVDOperator, check_image, image_shape
from .blur import check_fits
from .kernels import check_kernel


def centred(kernel: Tensor, h: int, w: int) -> Tensor:
    """The kernel (kh, kw), centre (kh // 2, kw // 2), placed in an h x w grid with its centre at
    (0, 0) (wrapped): the grid whose FFT is the blur's transfer function on that torus."""
    kh, kw = kernel.shape
    grid = torch.zeros(h, w, dtype=kernel.dtype, device=kernel.device)
    grid[:kh, :kw] = kernel
    return grid.roll((-(kh // 2), -(kw // 2)), dims=(0, 1))


def hartley(x: Tensor) -> Tensor:
    """Orthonormal 2-D discrete Hartley transform over the last two axes (its own inverse)."""
    X = torch.fft.fft2(x, norm="ortho")
    return X.real - X.imag


class CircularBlur(SVDOperator):
    """y = k (*) x: periodic convolution with the PSF ``kernel`` (centre (kh // 2, kw // 2)), via the FFT.

    With lam = FFT of the kernel placed in an H x W grid with its centre at (0, 0): y = IFFT(lam FFT(x)).
    SVD: V^T = the orthonormal 2-D Hartley transform (real), s = |lam| (per channel, in FFT
    index order), U = V followed by the phase lam / |lam| (1 where lam = 0). A_pinv is that SVD
    pseudo-inverse, truncated at ``rcond`` (default 1e-3) times max |lam| (= 1).
    """

    def __init__(self, kernel, *, rcond: float = 1e-3):
        self.kernel = check_kernel(kernel)
        self.rcond = float(rcond)

    def __repr__(self) -> str:
        kh, kw = self.kernel.shape
        return f"CircularBlur(kernel {kh}x{kw})"

    def _otf(self, h: int, w: int, dtype: torch.dtype, device) -> Tensor:
        """lam: the full 2-D FFT (h, w) of the centred kernel, complex."""
        check_fits(self.kernel, h, w)
        grid = centred(self.kernel, h, w)
        real = dtype if dtype in (torch.float32, torch.float64) else torch.float32
        return torch.fft.fft2(grid.to(dtype=real, device=device))

    def A(self, x: Tensor) -> Tensor:
        check_image(x)
        lam = self._otf(*x.shape[-2:], x.dtype, x.device)
        return torch.fft.ifft2(torch.fft.fft2(x) * lam).real.to(x.dtype)

    def AT(self, y: Tensor) -> Tensor:
        check_image(y, "y")
        lam = self._otf(*y.shape[-2:], y.dtype, y.device)
        return torch.fft.ifft2(torch.fft.fft2(y) * lam.conj()).real.to(y.dtype)

    def A_pinv(self, y: Tensor) -> Tensor:
        check_image(y, "y")
        lam = self._otf(*y.shape[-2:], y.dtype, y.device)
        mag2 = lam.abs() ** 2
        keep = lam.abs() > self.rcond * lam.abs().max()
        inv = torch.where(keep, lam.conj() / torch.where(keep, mag2, torch.ones_like(mag2)), torch.zeros_like(lam))
        return torch.fft.ifft2(torch.fft.fft2(y) * inv).real.to(y.dtype)

    # SVD
    def _phase(self, h: int, w: int, dtype: torch.dtype, device) -> Tensor:
        lam = self._otf(h, w, dtype, device)
        mag = lam.abs()
        return torch.where(mag > 0, lam / torch.where(mag > 0, mag, torch.ones_like(mag)), torch.ones_like(lam))

    def x_shape_of(self, y_shape: Shape) -> Shape:
        return tuple(y_shape)

    def singulars(self, x_shape: Shape, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        c, h, w = image_shape(x_shape)
        return self._otf(h, w, torch.float64, "cpu").abs().flatten().repeat(c).to(dtype=dtype, device=device)

    def VT(self, x: Tensor) -> Tensor:
        return hartley(x).flatten(1)

    def V(self, z: Tensor, x_shape: Shape) -> Tensor:
        return hartley(z.reshape(z.shape[0], *image_shape(x_shape)))

    def UT(self, y: Tensor) -> Tensor:
        P = self._phase(*y.shape[-2:], y.dtype, y.device)
        Y = torch.fft.fft2(y, norm="ortho") * P.conj()
        return (Y.real - Y.imag).flatten(1)

    def U(self, w: Tensor, x_shape: Shape) -> Tensor:
        c, h, wd = image_shape(x_shape)
        P = self._phase(h, wd, w.dtype, w.device)
        Yp = torch.fft.fft2(hartley(w.reshape(w.shape[0], c, h, wd)), norm="ortho") * P
        return torch.fft.ifft2(Yp, norm="ortho").real
