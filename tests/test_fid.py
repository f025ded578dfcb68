"""restore.benchmarks.fid: FID (Heusel et al. 2017) against the closed form of two Gaussians, KID
(Binkowski et al. 2018) unbiased by measurement, and the feature network read back from its file.
Nothing here depends on the signs LAPACK gives eigenvectors: every check is on invariant values."""
import numpy as np
import pytest
import torch
from scipy.linalg import hadamard
from scipy.stats import ortho_group

from restore.benchmarks.fid import features, fid, frechet_distance, kid, load_extractor, mmd2_unbiased, patches


def exact_set(mu, var, n=16):
    """n features (n, d) whose sample mean is mu and sample covariance (N - 1) is exactly diag(var):
    the +-1 columns 1..d of a Hadamard matrix are orthogonal with zero mean."""
    h = hadamard(n)[:, 1:len(mu) + 1].astype(np.float64)
    return np.asarray(mu) + h * np.sqrt(np.asarray(var) * (n - 1) / n)


def closed_form(mu1, v1, mu2, v2):
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) for diagonal S = diag(v): sum (sqrt v1 - sqrt v2)^2."""
    return float(((np.subtract(mu1, mu2)) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum())


def test_fid_of_identical_sets_is_zero():
    f = np.random.default_rng(0).standard_normal((500, 12)) @ np.random.default_rng(1).standard_normal((12, 12))
    assert fid(f, f) == pytest.approx(0.0, abs=1e-9 * np.trace(np.cov(f, rowvar=False)))
    assert fid(f, f[::-1]) == pytest.approx(0.0, abs=1e-9 * np.trace(np.cov(f, rowvar=False)))


def test_fid_between_two_gaussians_is_the_closed_form():
    """Sets whose statistics are exactly two diagonal Gaussians give the closed form; rotated by one
    orthogonal Q (covariances Q S Q^T, no longer diagonal) they give the same."""
    mu1, v1 = [0.0, 1.0, -2.0, 0.5, 3.0], [1.0, 4.0, 0.25, 2.0, 9.0]
    mu2, v2 = [1.0, 1.0, 0.0, 0.0, 3.5], [2.0, 1.0, 1.0, 0.5, 1.0]
    f1, f2 = exact_set(mu1, v1), exact_set(mu2, v2)
    want = closed_form(mu1, v1, mu2, v2)
    assert fid(f1, f2) == pytest.approx(want, rel=1e-10)
    q = ortho_group.rvs(5, random_state=3)
    assert fid(f1 @ q.T, f2 @ q.T) == pytest.approx(want, rel=1e-10)
    assert fid(f2, f1) == pytest.approx(want, rel=1e-10)


def test_frechet_distance_of_non_commuting_covariances():
    """Against scipy's general matrix square root of S1 S2 (Schur method, another algorithm), and in
    one dimension (mu1 - mu2)^2 + (s1 - s2)^2."""
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((6, 6)), rng.standard_normal((6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.standard_normal(6), rng.standard_normal(6)
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(sqrtm(s1 @ s2)).real
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-9)
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(2.0 ** 2 + 1.0 ** 2)
    # a singular (rank 2) covariance: its rounding-negative eigenvalues are clipped, no NaN
    c = rng.standard_normal((6, 2))
    assert np.isfinite(frechet_distance(mu1, c @ c.T, mu2, s2))


def test_mmd2_unbiased_is_the_pair_sum_definition():
    """Against the double loop over pairs i != j of k(a, b) = (a . b / d + 1)^3."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((5, 3)) + 0.5
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(7) for j in range(7) if i != j) / (7 * 6)
    yy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / (5 * 4)
    xy = sum(k(x[i], y[j]) for i in range(7) for j in range(5)) / (7 * 5)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_is_unbiased_near_zero_for_one_distribution_and_positive_for_a_shift():
    """Over 200 seeds of two small samples (m = 20) from one Gaussian, the mean KID lies within 4
    standard errors of 0, while the biased (V-statistic) MMD^2 of the same samples lies far above
    it (the test can tell the two apart); a shift of 0.5 std per feature is above the same-
    distribution values by many of their standard deviations."""
    d, m = 4, 20
    same, biased, shifted = [], [], []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        x, y = rng.standard_normal((m, d)), rng.standard_normal((m, d))
        same.append(kid(x, y, subsets=1))
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        biased.append(kxx.mean() + kyy.mean() - 2 * kxy.mean())
        if seed < 20:
            shifted.append(kid(x, y + 0.5, subsets=1))
    same = np.array(same)
    se = same.std(ddof=1) / np.sqrt(len(same))
    assert abs(same.mean()) < 4 * se, (same.mean(), se)
    assert np.mean(biased) > same.mean() + 10 * se, (np.mean(biased), se)
    assert np.mean(shifted) > same.mean() + 3 * same.std(ddof=1), (np.mean(shifted), same.std(ddof=1))


def test_kid_subsets_follow_the_generator():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((300, 5)), rng.standard_normal((300, 5)) + 0.2
    k1 = kid(a, b, subsets=5, subset_size=100, generator=torch.Generator().manual_seed(1))
    k2 = kid(a, b, subsets=5, subset_size=100, generator=torch.Generator().manual_seed(1))
    k3 = kid(a, b, subsets=5, subset_size=100, generator=torch.Generator().manual_seed(2))
    assert k1 == k2 != k3
    # subsets as large as the sets: every draw is the whole set, one value
    assert kid(a, b, subsets=3, subset_size=10_000) == pytest.approx(mmd2_unbiased(a, b), rel=1e-12)
    with pytest.raises(ValueError, match="one d"):
        kid(a, b[:, :4])


class _Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)

    def forward(self, x):
        return torch.relu(self.conv(x)).mean((2, 3))


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_torchscript_extractor_round_trip(tmp_path):
    """A tiny random network saved as TorchScript and as an exported program (dynamic batch) gives
    back its own features, in batches of any size; other files are one-line errors."""
    torch.manual_seed(0)
    net = _Tiny().eval()
    images = torch.rand(10, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = net(images).double().numpy()
    torch.jit.save(torch.jit.script(net), tmp_path / "tiny.pt")
    got = features(load_extractor(tmp_path / "tiny.pt"), images, batch=4)
    assert got.shape == (10, 8) and got.dtype == np.float64 and np.allclose(got, want, rtol=1e-6, atol=1e-7)
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.export.save(torch.export.export(net, (images[:2],), dynamic_shapes=({0: batch},)), tmp_path / "tiny.pt2")
    assert np.allclose(features(load_extractor(tmp_path / "tiny.pt2"), images.numpy(), batch=3), want, rtol=1e-6, atol=1e-7)
    torch.save(net.state_dict(), tmp_path / "weights.pt")  # a state dict, not a program
    for path, match in ((tmp_path / "missing.pt", "no such feature network"), (tmp_path / "weights.pt", "not a TorchScript")):
        with pytest.raises(ValueError, match=match) as e:
            load_extractor(path)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        features(load_extractor(tmp_path / "tiny.pt"), images[:, :1])


def test_patches_tile_each_image():
    a = np.random.default_rng(7).random((70, 130, 3))
    p = patches([a, a[:64, :64]], size=32)
    assert p.shape == (2 * 4 + 4, 3, 32, 32) and p.dtype == np.float32
    assert np.array_equal(p[1], a[:32, 32:64].transpose(2, 0, 1).astype(np.float32))  # row by row
    assert np.array_equal(p[4], a[32:64, :32].transpose(2, 0, 1).astype(np.float32))


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_fid_patches_command_scores_each_folder(tmp_path, capsys):
    """lab.fid_patches: each results folder's FID and KID against the truth's tiles, as the library
    computes them; the truth against itself has FID 0."""
    from PIL import Image

    from lab.fid_patches import main

    rng = np.random.default_rng(8)
    for name, shift in (("truth", 0), ("same", 0), ("noisy", 60)):
        (tmp_path / name).mkdir()
        for i in range(2):
            im = rng.integers(0, 256 - shift, (40, 72, 3)) + rng.integers(0, shift + 1, (40, 72, 3))
            Image.fromarray(im.astype(np.uint8)).save(tmp_path / name / f"{i}.png")
    for i in range(2):
        Image.open(tmp_path / "truth" / f"{i}.png").save(tmp_path / "same" / f"{i}.png")
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(_Tiny().eval()), tmp_path / "net.pt")
    main([str(tmp_path / "truth"), str(tmp_path / "same"), str(tmp_path / "noisy"), "--extractor",
          str(tmp_path / "net.pt"), "--patch", "16", "--subsets", "4", "--subset-size", "8"])
    out = capsys.readouterr().out
    net = load_extractor(tmp_path / "net.pt")
    tiles = lambda d: patches([np.asarray(Image.open(tmp_path / d / f"{i}.png"), np.float32) / 255 for i in range(2)], 16)  # noqa: E731
    f_ref, f_noisy = features(net, tiles("truth")), features(net, tiles("noisy"))
    assert len(f_ref) == 2 * 2 * 4 and "| same | 16 | 0.00 |" in out
    k = kid(f_noisy, f_ref, 4, 8, torch.Generator().manual_seed(0))
    assert f"| noisy | 16 | {fid(f_noisy, f_ref):.2f} | {1e3 * k:.2f} |" in out
