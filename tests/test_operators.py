"""Tests of restore.operators: adjoints, pseudo-inverses, SVDs, kernels, masks, noise, coarse scales, least
squares and the padded operator the solvers use (float64, small images)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from PIL import Image

from restore.operators import (
    Blur,
    CircularBlur,
    Colorize,
    Composed,
    Crop,
    Denoise,
    Downsample,
    Inpainting,
    LinearOperator,
    Padded,
    add_noise,
    bicubic_matrix,
    box_mask,
    gaussian_kernel,
    half_mask,
    keys_cubic,
    load_kernel,
    load_mask,
    motion_kernel,
    random_mask,
    stroke_mask,
    to_prior_space,
    uniform_kernel,
)
from restore.solvers.problem import DATA_TOL

F64 = torch.float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread avoids contention on a shared 2-core machine (50x faster)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def shift_and_crop(x):
    """A linear, well-conditioned map (3, H, W) -> (3, H - 1, W) for LinearOperator."""
    return (x + 0.5 * torch.roll(x, 1, dims=-1))[..., 1:, :]


C = 3
OPERATORS = {
    "inpaint_pixel": lambda h, w: Inpainting(random_mask(h, w, 0.5, generator=gen(1))),
    "inpaint_channel": lambda h, w: Inpainting((torch.rand(C, h, w, generator=gen(2)) > 0.5).to(F64)),
    "inpaint_per_sample": lambda h, w: Inpainting(
        torch.cat([box_mask(h, w, 5, 1, generator=gen(3)), stroke_mask(h, w, generator=gen(4))])
    ),
    "blur_gaussian": lambda h, w: Blur(gaussian_kernel(7, 1.5)),
    "blur_motion": lambda h, w: Blur(motion_kernel(9, 0.5, generator=gen(5))),
    "blur_motion_fft": lambda h, w: Blur(motion_kernel(13, 0.8, generator=gen(7))),  # > 121 taps: FFT path
    "circular_blur": lambda h, w: CircularBlur(motion_kernel(9, 0.5, generator=gen(6))),
    "bicubic_x2": lambda h, w: Downsample(2),
    "bicubic_x4": lambda h, w: Downsample(4),
    "block_x2": lambda h, w: Downsample(2, kind="block"),
    "denoise": lambda h, w: Denoise(),
    "colorize": lambda h, w: Colorize(),
    "linear": lambda h, w: LinearOperator(shift_and_crop, (C, h, w)),
    "blur_then_bicubic": lambda h, w: Downsample(2) @ Blur(gaussian_kernel(5, 1.0)),
    "crop": lambda h, w: Crop((2, 3, 8, 7), (h, w)),
}
NEEDS_MULTIPLE_OF_4 = {"bicubic_x2", "bicubic_x4", "block_x2", "blur_then_bicubic"}
SIZES = [(16, 16), (24, 20), (15, 13)]
CASES = [
    pytest.param(name, size, id=f"{name}-{size[0]}x{size[1]}")
    for name in OPERATORS
    for size in SIZES
    if not (name in NEEDS_MULTIPLE_OF_4 and (size[0] % 4 or size[1] % 4))
]


def dot(a, b) -> float:
    return float((a * b).sum())


def rel(a, b) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("name,size", CASES)
def test_operator(name, size):
    h, w = size
    op = OPERATORS[name](h, w)
    x = torch.rand(2, C, h, w, generator=gen(10), dtype=F64)
    Ax = op.A(x)
    assert Ax.dtype == F64
    assert op.A(x.float()).dtype == torch.float32
    assert op.AT(Ax.float()).dtype == torch.float32

    # adjointness: <A x, y> = <x, AT y>
    y = torch.randn(Ax.shape, generator=gen(11), dtype=F64)
    ATy = op.AT(y)
    assert ATy.shape == x.shape
    assert op.x_shape_of(tuple(y.shape)) == tuple(x.shape)  # the image behind y, without applying AT
    # the regularised least-squares step: rho = 0 is A_pinv; rho > 0 solves (A^T A + rho I) d = A^T y
    assert torch.equal(op.least_squares(y, 0.0), op.A_pinv(y))
    d = op.least_squares(y, 0.1, tol=1e-12)
    assert rel(op.AT(op.A(d)) + 0.1 * d, ATy) <= 1e-6
    assert abs(dot(Ax, y) - dot(x, ATy)) <= 1e-10 * float(Ax.norm() * y.norm())

    # A A^+ A x = A x. SVD operators: the truncated pseudo-inverse drops components of singular
    # value <= rcond * s_max, so the error is A (I - P) x with norm <= rcond * s_max * |x|.
    # CGLS operators (damping d): each component is scaled by s^2 / (s^2 + d), an error of at most
    # sqrt(d) / 2 * |x|, plus the CG stopping error (tol 1e-6 on the normal residual, measured
    # below 1e-4 relative to |A x|).
    err = float((op.A(op.A_pinv(Ax)) - Ax).norm())
    if op.has_svd:
        s = op.singulars(x.shape)
        bound = op.rcond * float(s.max()) * float(x.norm()) + 1e-9 * float(Ax.norm())
    else:
        bound = math.sqrt(op.damping) / 2 * float(x.norm()) + 1e-4 * float(Ax.norm())
    assert err <= bound

    if not op.has_svd:
        for call in (lambda: op.VT(x), lambda: op.singulars(x.shape), lambda: op.U(Ax.flatten(1), x.shape)):
            with pytest.raises(NotImplementedError, match="no cheap SVD"):
                call()
        return

    n = C * h * w
    s = op.singulars(x.shape)
    m = s.shape[-1]
    assert m == Ax[0].numel() and s.ndim in (1, 2) and (s >= 0).all()
    z = op.VT(x)
    assert z.shape == (2, n)
    # A = U diag(s) V^T
    assert rel(op.U(s * z[:, :m], x.shape), Ax) <= 1e-10
    # U and V orthogonal
    assert rel(op.V(z, x.shape), x) <= 1e-10
    zz = torch.randn(2, n, generator=gen(12), dtype=F64)
    assert rel(op.VT(op.V(zz, x.shape)), zz) <= 1e-10
    ww = torch.randn(2, m, generator=gen(13), dtype=F64)
    assert rel(op.UT(op.U(ww, x.shape)), ww) <= 1e-10
    assert rel(op.U(op.UT(y), x.shape), y) <= 1e-10
    # exact pseudo-inverse on the kept singular subspace
    keep = op.kept(x.shape).expand(2, m)
    keep = torch.cat([keep, keep.new_zeros(2, n - m)], dim=1)
    xp = op.V(z * keep, x.shape)
    Axp = op.A(xp)
    assert rel(op.A(op.A_pinv(Axp)), Axp) <= 1e-9


def test_composition_operator_order():
    blur, down = Blur(gaussian_kernel(5, 1.0)), Downsample(2)
    x = torch.rand(1, 3, 16, 16, generator=gen(), dtype=F64)
    assert torch.allclose((down @ blur).A(x), down.A(blur.A(x)))
    assert torch.allclose(Composed(blur, down).A(x), down.A(blur.A(x)))


@pytest.mark.parametrize("ks", [(5, 5), (4, 4), (3, 6), (13, 12)])
@pytest.mark.parametrize("hw", [(15, 13), (19, 23)])  # (13, 12) by FFT; padded 31 x 34 runs at 32 x 36
def test_blur_matches_scipy_convolve(ks, hw):
    """PSF convolution with the centre at k // 2, as scipy.ndimage.convolve, for each boundary."""
    rng = np.random.default_rng(0)
    x, k = rng.random(hw), rng.random(ks)
    k /= k.sum()
    xt = torch.from_numpy(x)[None, None]
    for mode, padding in [("mirror", "reflect"), ("nearest", "replicate"), ("constant", "zeros")]:
        out = Blur(k, padding=padding).A(xt)[0, 0].numpy()
        assert np.abs(out - ndi.convolve(x, k, mode=mode)).max() < 1e-12
    out = CircularBlur(k).A(xt)[0, 0].numpy()
    assert np.abs(out - ndi.convolve(x, k, mode="wrap")).max() < 1e-12


def test_fast_len():
    from restore.operators.blur import fast_len

    smooth = sorted({2**a * 3**b * 5**c for a in range(10) for b in range(7) for c in range(5)})
    for n in range(1, 500):
        assert fast_len(n) == min(m for m in smooth if m >= n)


def test_gaussian_kernel_is_analytic():
    size, std = 9, 1.7
    i = torch.arange(size, dtype=F64) - size // 2
    ref = torch.exp(-(i[:, None] ** 2 + i[None, :] ** 2) / (2 * std**2))
    k = gaussian_kernel(size, std)
    assert k.dtype == F64 and k.shape == (size, size)
    assert torch.allclose(k, ref / ref.sum(), atol=1e-15, rtol=0)
    with pytest.raises(ValueError, match="odd"):
        gaussian_kernel(4, 1.0)


def test_motion_kernel():
    k = motion_kernel(15, 0.5, generator=gen(0))
    assert k.shape == (15, 15) and k.dtype == F64
    assert (k >= 0).all() and abs(float(k.sum()) - 1) < 1e-12
    assert torch.equal(k, motion_kernel(15, 0.5, generator=gen(0)))
    assert not torch.allclose(k, motion_kernel(15, 0.5, generator=gen(1)))
    assert (k > 0).sum() > 15  # a path, not a point
    assert torch.allclose(uniform_kernel(3), torch.full((3, 3), 1 / 9, dtype=F64))


def test_kernel_validation_and_loading(tmp_path):
    for bad, match in [
        (torch.tensor([[0.5, -0.1], [0.3, 0.3]]), "negative"),
        (torch.zeros(3, 3), "all zero"),
        (torch.tensor([[1.0, float("nan")], [0.0, 0.0]]), "NaN"),
        (torch.ones(3), "2-D"),
        (torch.ones(2, 3, 3), "2-D"),
    ]:
        with pytest.raises(ValueError, match=match):
            Blur(bad)
    k = gaussian_kernel(5, 1.0).numpy()
    np.save(tmp_path / "k.npy", k * 7)
    np.savez(tmp_path / "ks.npz", k1=np.ones((3, 3)), k3=k)
    np.savez(tmp_path / "one.npz", k)
    Image.fromarray((k / k.max() * 255).round().astype(np.uint8)).save(tmp_path / "k.png")
    assert torch.allclose(load_kernel(tmp_path / "k.npy"), torch.from_numpy(k))
    assert torch.allclose(load_kernel(f"{tmp_path / 'ks.npz'}:k3"), torch.from_numpy(k))
    assert torch.allclose(load_kernel(tmp_path / "one.npz"), torch.from_numpy(k))
    png = load_kernel(tmp_path / "k.png")
    assert png.shape == (5, 5) and abs(float(png.sum()) - 1) < 1e-12
    with pytest.raises(ValueError, match="name one"):
        load_kernel(tmp_path / "ks.npz")
    np.save(tmp_path / "neg.npy", -k)
    with pytest.raises(ValueError, match="negative"):
        load_kernel(tmp_path / "neg.npy")


def test_keys_cubic_formula():
    a = -0.5
    t = torch.linspace(-2.5, 2.5, 101, dtype=F64)
    u = t.abs()
    ref = torch.where(
        u <= 1,
        (a + 2) * u**3 - (a + 3) * u**2 + 1,
        torch.where(u < 2, a * u**3 - 5 * a * u**2 + 8 * a * u - 4 * a, torch.zeros_like(u)),
    )
    assert torch.allclose(keys_cubic(t), ref, atol=1e-14, rtol=0)
    vals = keys_cubic(torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0], dtype=F64))
    assert torch.allclose(vals, torch.tensor([1.0, 0.5625, 0.0, -0.0625, 0.0], dtype=F64), atol=1e-15)
    # an interior row of the x2 matrix: the kernel stretched by 2 around u = 2 i + 0.5
    M = bicubic_matrix(16, 2)
    assert torch.allclose(M.sum(1), torch.ones(8, dtype=F64))
    wts = keys_cubic((torch.arange(16, dtype=F64) - 4.5) / 2)
    assert torch.allclose(M[2], wts / wts.sum(), atol=1e-15)


@pytest.mark.parametrize("h,w,s", [(32, 24, 2), (32, 24, 4), (30, 27, 3)])
def test_bicubic_matches_pil(h, w, s):
    """PIL resizes float ('F') images in float32: agreement ~5e-8, also at the borders (same renormalisation)."""
    img = np.random.default_rng(0).random((h, w)).astype(np.float32)
    ref = np.asarray(Image.fromarray(img).resize((w // s, h // s), Image.BICUBIC), dtype=np.float64)
    out = Downsample(s).A(torch.from_numpy(img.astype(np.float64))[None, None])[0, 0].numpy()
    assert np.abs(out - ref).max() < 1e-6


def test_bad_inputs():
    x = torch.rand(1, 3, 16, 16, dtype=F64)
    with pytest.raises(ValueError, match="does not match"):
        Inpainting(torch.ones(16, 15)).A(x)
    with pytest.raises(ValueError, match="does not match"):
        Inpainting(torch.ones(2, 16, 16)).A(x)
    with pytest.raises(ValueError, match="binary"):
        Inpainting(torch.full((16, 16), 0.5))
    with pytest.raises(ValueError, match="larger than the image"):
        Blur(uniform_kernel(17)).A(x)
    with pytest.raises(ValueError, match="larger than the image"):
        CircularBlur(uniform_kernel(17)).A(x)
    with pytest.raises(ValueError, match="multiple of the scale"):
        Downsample(3, kind="block").A(x)
    with pytest.raises(ValueError, match="multiple of the scale"):
        Downsample(3).A(x)
    with pytest.raises(ValueError, match="channels"):
        Colorize().A(torch.rand(1, 4, 8, 8, dtype=F64))
    with pytest.raises(ValueError, match="not inside"):
        Crop((10, 10, 8, 8), (16, 16))


def test_load_mask(tmp_path):
    white = np.zeros((8, 10), np.uint8)
    white[2:5, 3:7] = 255  # the region to fill
    Image.fromarray(white).save(tmp_path / "m.png")
    m = load_mask(tmp_path / "m.png")
    assert m.shape == (1, 1, 8, 10) and m.dtype == F64
    assert torch.equal(m[0, 0], torch.from_numpy(white == 0).to(F64))
    assert torch.equal(load_mask(tmp_path / "m.png", fill_is_white=False), 1 - m)
    Image.fromarray(np.stack([white] * 3 + [np.full_like(white, 255)], -1)).save(tmp_path / "rgba.png")
    assert torch.equal(load_mask(tmp_path / "rgba.png"), m)
    np.save(tmp_path / "m.npy", white == 255)
    assert torch.equal(load_mask(tmp_path / "m.npy"), m)
    grey = white.copy()
    grey[0, 0] = 200
    Image.fromarray(grey).save(tmp_path / "grey.png")
    with pytest.warns(UserWarning, match="grey"):
        g = load_mask(tmp_path / "grey.png")
    assert g[0, 0, 0, 0] == 0  # 200/255 >= 0.5: white, to fill
    rgb = np.stack([white, np.zeros_like(white), white], -1)  # a purple stroke: any colour marks a pixel
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert torch.equal(load_mask(tmp_path / "rgb.png"), m)
    dark = np.stack([white // 3, np.zeros_like(white), np.zeros_like(white)], -1)  # below half brightness: black
    Image.fromarray(dark).save(tmp_path / "dark.png")
    with pytest.warns(UserWarning, match="grey"):
        assert (load_mask(tmp_path / "dark.png") == 1).all()
    layer = np.stack([np.full_like(white, 255)] * 3 + [white], -1)  # white paint, transparent elsewhere
    Image.fromarray(layer).save(tmp_path / "layer.png")
    assert torch.equal(load_mask(tmp_path / "layer.png"), m)  # a transparent pixel marks nothing


def test_mask_generators():
    h, w = 20, 24
    for make in (
        lambda g: box_mask(h, w, 6, 3, generator=g),
        lambda g: random_mask(h, w, 0.7, generator=g),
        lambda g: stroke_mask(h, w, generator=g),
    ):
        a, b, c = make(gen(0)), make(gen(0)), make(gen(1))
        assert a.shape == (1, 1, h, w) and a.dtype == F64
        assert torch.equal(a, b) and not torch.equal(a, c)
        assert ((a == 0) | (a == 1)).all() and (a == 0).any() and (a == 1).any()
    box = box_mask(h, w, 6, 3, generator=gen(2))[0, 0]
    assert int((box == 0).sum()) == 36
    assert (box[:3] == 1).all() and (box[-3:] == 1).all() and (box[:, :3] == 1).all() and (box[:, -3:] == 1).all()
    assert int((random_mask(h, w, 0.7, generator=gen(3)) == 0).sum()) == round(0.7 * h * w)
    half = half_mask(h, w, "right")[0, 0]
    assert (half[:, : w // 2] == 1).all() and (half[:, w // 2 :] == 0).all()
    with pytest.raises(ValueError):
        box_mask(h, w, 19, 1, generator=gen())


def test_add_noise():
    y = torch.rand(2, 3, 32, 32, dtype=F64)
    a = add_noise(y, 0.1, gen(0))
    assert torch.equal(a, add_noise(y, 0.1, gen(0)))
    assert not torch.equal(a, add_noise(y, 0.1, gen(1)))
    assert abs(float((a - y).std()) - 0.1) < 0.01
    p = add_noise(y, 0.0, gen(0), kind="poisson", rate=100.0)
    assert torch.equal(p, add_noise(y, 0.0, gen(0), kind="poisson", rate=100.0))
    assert torch.allclose(p * 100, (p * 100).round())  # counts / rate
    with pytest.raises(ValueError, match="rate"):
        add_noise(y, 0.0, gen(0), kind="poisson")


def test_to_prior_space():
    mask = random_mask(16, 16, 0.5, generator=gen(0))
    op = Inpainting(mask)
    x = torch.rand(2, 3, 16, 16, dtype=F64)
    y = op.A(x)
    y2, s2 = to_prior_space(op, y, 0.025)
    assert torch.allclose(y2, 2 * y - mask) and s2 == 0.05
    assert torch.allclose(y2, op.A(2 * x - 1))  # the observation of x' = 2 x - 1
    down = Downsample(2)
    y2, _ = to_prior_space(down, down.A(x), 0.0)
    assert torch.allclose(y2, down.A(2 * x - 1))


def test_separable_svd_does_not_depend_on_lapack_signs(monkeypatch):
    """DDRM draws noise in V's coordinates, so V must be the same whatever signs (and null-space
    basis) LAPACK returns on a given CPU: another valid SVD (pairs' signs flipped, null space of the
    bicubic 3x6 matrix rotated) gives the same U, s, V (canonical_svd). Fails with V = Vh^T as returned."""
    from restore.operators.bicubic import bicubic_matrix
    from restore.operators.svd_tools import KroneckerSVD

    svd = torch.linalg.svd
    g = torch.Generator().manual_seed(0)

    def other(M, full_matrices=True):
        U, s, Vh = svd(M, full_matrices=full_matrices)
        k = len(s)
        flip = torch.where(torch.arange(k) % 2 == 0, -1.0, 1.0).double()
        Vh = Vh.clone()
        Vh[:k] *= flip[:, None]
        R = torch.linalg.qr(torch.randn(len(Vh) - k, len(Vh) - k, generator=g, dtype=torch.float64)).Q
        Vh[k:] = R @ Vh[k:]
        return U * flip, s, Vh

    M_h, M_w = bicubic_matrix(6, 2), bicubic_matrix(8, 2)
    a = KroneckerSVD(M_h, M_w)
    monkeypatch.setattr(torch.linalg, "svd", other)
    b = KroneckerSVD(M_h, M_w)
    for name in ("U_h", "s_h", "V_h", "U_w", "s_w", "V_w"):
        assert (getattr(a, name) - getattr(b, name)).abs().max() < 1e-12, name
    x = torch.randn(2, 3, 6, 8, generator=g, dtype=torch.float64)
    assert torch.allclose(a.V(a.VT(x), 3), x, atol=1e-12)  # still orthogonal


# ---------------------------------------------------------------- coarse scales (image pyramids)


@pytest.mark.parametrize("size", [(16, 16), (15, 13)])
@pytest.mark.parametrize("kind", ["pixel", "channel", "per_sample"])
def test_coarse_inpainting_is_the_problem_at_the_coarse_scale(kind, size):
    """Inpainting.coarsened(y, sigma_y, f): a coarse pixel is observed exactly where its whole f x f
    block is inside the image and observed, and there A_c(D_f x) = y_c for y = A x; A_c is an
    Inpainting again (adjoint, SVD); the noise of a block mean is sigma_y / f."""
    from restore.operators import block_mean

    h, w = size
    mask = {"pixel": random_mask(h, w, 0.2, generator=gen(1)),
            "channel": (torch.rand(C, h, w, generator=gen(2)) > 0.2).to(F64),
            "per_sample": torch.cat([random_mask(h, w, 0.2, generator=gen(3)), random_mask(h, w, 0.1, generator=gen(4))])}[kind]
    op = Inpainting(mask)
    x = torch.rand(2, C, h, w, generator=gen(10), dtype=F64)
    y = op.A(x)
    for f in (2, 4):
        coarse = op.coarsened(y, 0.05, f)
        xc = block_mean(x, f)
        assert isinstance(coarse.operator, Inpainting) and coarse.sigma_y == 0.05 / f
        assert xc.shape == (2, C, -(-h // f), -(-w // f)) == coarse.y.shape
        assert torch.equal(coarse.operator.A(xc), coarse.y)
        m = op.mask.expand(-1, C, -1, -1)
        for p in range(xc.shape[-2]):  # the rule, pixel by pixel
            for q in range(xc.shape[-1]):
                block = m[..., f * p : f * p + f, f * q : f * q + f]
                whole = block.shape[-2:] == (f, f) and bool((block == 1).all())
                assert bool((coarse.operator.mask.expand(-1, C, -1, -1)[..., p, q] == 1).all()) == whole
                assert torch.allclose(xc[..., p, q], x[..., f * p : f * p + f, f * q : f * q + f].mean((-2, -1)))
        v = torch.randn(coarse.y.shape, generator=gen(11), dtype=F64)
        assert abs(dot(coarse.operator.A(xc), v) - dot(xc, coarse.operator.AT(v))) <= 1e-12 * float(xc.norm() * v.norm())
        assert coarse.operator.has_svd and coarse.operator.singulars(xc.shape).shape[-1] == xc[0].numel()
    same = op.coarsened(y, 0.05, 1)
    assert torch.equal(same.y, y) and torch.equal(same.operator.mask, op.mask)


def test_coarse_denoising_and_operators_without_a_coarse_scale():
    """The identity's coarse scale observes every whole block (all of them when the sides are
    multiples of f); operators without an exact rule refuse in one line; `upsample` puts each
    coarse pixel at its block's centre."""
    from restore.operators import upsample

    x = torch.rand(1, C, 16, 12, generator=gen(0), dtype=F64)
    coarse = Denoise().coarsened(x, 0.1, 4)
    assert bool((coarse.operator.mask == 1).all()) and coarse.sigma_y == 0.025
    odd = Denoise().coarsened(x[..., :15, :], 0.1, 2)
    assert bool((odd.operator.mask[..., :7, :] == 1).all()) and not bool(odd.operator.mask[..., 7, :].any())
    for op in (Blur(gaussian_kernel(5, 1.0)), Downsample(2), Downsample(2) @ Blur(gaussian_kernel(5, 1.0))):
        with pytest.raises(ValueError, match="no coarse-scale version"):
            op.coarsened(op.A(x), 0.0, 2)
    ramp = torch.arange(6, dtype=F64).reshape(1, 1, 1, 6).expand(1, 1, 3, 6)  # linear: reproduced inside
    up = upsample(ramp, 2, (5, 11))
    assert up.shape == (1, 1, 5, 11) and torch.allclose(up[..., 1:-1], torch.arange(1, 10, dtype=F64) / 2 - 0.25)
    with pytest.raises(ValueError, match="coarse scale"):
        upsample(ramp, 2, (8, 11))


# ---------------------------------------------------------------- the solvers' pieces: least squares, the padded operator

def _dense(op, shape):
    n = torch.Size(shape).numel()
    eye = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
    return op.A(eye).reshape(n, -1).T


@pytest.mark.parametrize("name", ["blur", "circular", "bicubic", "block", "colorize", "denoise", "inpaint"])
def test_padded_svd_is_the_composed_svd(name):
    """VT/V orthogonal, A_p = U diag(s) VT[:m], A_pinv = (A C)^+ (dense check, float64)."""
    g = torch.Generator().manual_seed(0)
    h, w = 4, 6
    op = {"blur": Blur(gaussian_kernel(3, 0.8)), "circular": CircularBlur(gaussian_kernel(3, 1.0)),
          "bicubic": Downsample(2), "block": Downsample(2, "block"), "colorize": Colorize(),
          "denoise": Denoise(), "inpaint": Inpainting(random_mask(h, w, 0.5, generator=g))}[name]
    c = 3 if name == "colorize" else 2
    P = Padded(op, (1, 2, h, w), (6, 8))
    shape = (c, 6, 8)
    x = torch.randn(3, *shape, generator=g, dtype=torch.float64)
    z = P.VT(x)
    assert z.shape == (3, c * 48) and torch.allclose(P.V(z, x.shape), x, atol=1e-10)
    assert torch.allclose(z.norm(dim=1), x.flatten(1).norm(dim=1), atol=1e-10)
    s = P.singulars(x.shape, dtype=torch.float64)
    m = s.shape[-1]
    assert torch.allclose(P.U(s * z[:, :m], x.shape), P.A(x), atol=1e-10)
    A = _dense(P, shape)
    y = P.A(x)
    want = (torch.linalg.pinv(A, rtol=op.rcond * 1.0001) @ y.flatten(1).T).T
    if name != "inpaint":  # inpainting: A_pinv = A (mask), the same
        assert torch.allclose(P.A_pinv(y).flatten(1), want, atol=1e-8), (P.A_pinv(y).flatten(1) - want).abs().max()
    assert torch.allclose(P.AT(y).flatten(1), (A.T @ y.flatten(1).T).T, atol=1e-10)


@pytest.mark.parametrize("name", ["inpaint", "circular", "blur-svd", "bicubic", "motion-cg", "linear-cg"])
def test_least_squares_matches_dense(name):
    """(A^T A + rho I)^{-1} A^T r: closed form through the SVD (masks, circular blur, separable blur,
    bicubic) or CGLS (no SVD), against the dense solution."""
    g = torch.Generator().manual_seed(0)
    shape = (2, 6, 8)
    ops = {
        "inpaint": lambda: Inpainting(random_mask(6, 8, 0.5, generator=g)),
        "circular": lambda: CircularBlur(gaussian_kernel(3, 1.0)),
        "blur-svd": lambda: Blur(gaussian_kernel(3, 0.7)),
        "bicubic": lambda: Downsample(2),
        "motion-cg": lambda: Blur(motion_kernel(5, generator=g), tol=1e-10),
        "linear-cg": lambda: LinearOperator(lambda x: x[..., ::2, :] + 0.5 * x[..., 1::2, :], shape, tol=1e-10),
    }
    op = ops[name]()
    A = _dense(op, shape)
    x = torch.randn(3, *shape, generator=g, dtype=torch.float64)
    r = op.A(x) + 0.1 * torch.randn(op.A(x).shape, generator=g, dtype=torch.float64)
    for rho in (0.3, 0.01):
        want = torch.linalg.solve(A.T @ A + rho * torch.eye(A.shape[1], dtype=torch.float64), A.T @ r.flatten(1).T).T
        got = op.least_squares(r, rho, tol=1e-10).flatten(1)
        assert torch.allclose(got, want, atol=1e-7), (name, rho, (got - want).abs().max())
        loose = op.least_squares(r, rho, tol=DATA_TOL).flatten(1)  # the chains' tolerance
        assert (loose - want).norm() <= 1e-2 * want.norm(), (name, rho)


def test_parse_kernel_checks_every_field():
    """The one parser of kernel specs: each field's range in a one-line error naming the spec and
    its form (not a size computed from a negative std); valid specs unchanged."""
    from restore.operators import parse_kernel

    for spec, message in [("gaussian:-2", "STD must be > 0"), ("gaussian:0", "STD must be > 0"),
                          ("gaussian:nan", "STD must be a number"), ("gaussian:1:4", "positive odd"),
                          ("gaussian:1:0", "positive odd"), ("gaussian:1:2:3", "expected gaussian:STD[:SIZE]"),
                          ("uniform:0", "positive integer"), ("uniform:2.5", "SIZE must be an integer"),
                          ("motion:1.5", "INTENSITY must be on [0, 1]"), ("motion:0.5:x", "SEED must be an integer"),
                          ("gaussian:1e9", "limit"), ("uniform:100000", "limit")]:
        with pytest.raises(ValueError, match=re.escape(message)) as e:
            parse_kernel(spec)
        assert str(e.value).startswith(f"bad kernel {spec!r}: ") and "\n" not in str(e.value) and "-11" not in str(e.value)
    assert parse_kernel("gaussian:1.5").shape == (11, 11) and torch.equal(parse_kernel("gaussian:1:5"),
                                                                           gaussian_kernel(5, 1.0))
    assert parse_kernel("uniform:4").shape == (4, 4)
    assert torch.equal(parse_kernel("motion:0.5:3"), motion_kernel(61, 0.5, generator=gen(3)))
