"""Issue 22's protocol: choose on val, report on test with paired intervals; 8-bit observations;
baseline grids and their edges; the back-projection SR baseline. No ../shared data, no network."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from restore.benchmarks import baselines, choose_and_report, metrics, report, tasks
from restore.benchmarks.methods import default_spec, parse_method


# --- the paired interval ----------------------------------------------------------------------------

def test_interval_is_the_paired_t_interval():
    m, lo, hi = metrics.interval([1.0, 2.0, 3.0])  # mean 2, sd 1, df 2: t = 4.303
    assert m == pytest.approx(2.0)
    assert (hi - m) == pytest.approx(4.303 / math.sqrt(3), rel=1e-6) and (m - lo) == pytest.approx(hi - m)
    assert math.isnan(metrics.interval([0.5])[1]) and metrics.interval([0.5])[0] == 0.5
    assert all(math.isnan(v) for v in metrics.interval([]))
    with pytest.raises(ValueError, match="NaN"):
        metrics.interval([1.0, float("nan")])
    # between two tabulated df the smaller one (wider): df 34 uses df 30's quantile
    d = np.random.default_rng(0).normal(size=35)
    m, lo, hi = metrics.interval(d)
    assert (hi - lo) / 2 == pytest.approx(2.042 * d.std(ddof=1) / math.sqrt(35))


def test_t_table_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df, t in metrics.T_975.items():
        assert t == pytest.approx(float(stats.t.ppf(0.975, df)), abs=6e-4), df


# --- choosing on val ---------------------------------------------------------------------------------

def _row(split, task, image, method, kind, psnr, seconds=1.0, note=""):
    return {**{f: "" for f in report.FIELDS}, "prior": "p", "split": split, "task": task, "sigma_y": "0.025",
            "size": "100x100", "image": image, "method": method, "kind": kind, "psnr": psnr, "ssim": 0.5,
            "seconds": seconds, "note": note, "draws": 1}


def _synthetic():
    """val: pigdm-20 beats pigdm-50 and ddrm-50; a DPS row failed on one image; wiener beats RL.
    test: the opposite of every val ranking (a best-of-test report would pick other rows)."""
    val, test = [], []
    for k, i in enumerate("abcd"):
        val += [_row("val", "gauss", i, "pigdm-20", "diffusion", 30 + k), _row("val", "gauss", i, "pigdm-50", "diffusion", 29 + k),
                _row("val", "gauss", i, "ddrm-50", "diffusion", 28 + k), _row("val", "gauss", i, "ddrm-20 mean4", "diffusion", 27 + k),
                _row("val", "gauss", i, "dps-100", "diffusion", 40 if i != "d" else math.nan,
                     note="" if i != "d" else "failed: NaN"),
                _row("val", "gauss", i, "wiener", "classical", 25 + k), _row("val", "gauss", i, "richardson_lucy", "classical", 24 + k),
                _row("val", "gauss", i, "observation", "input", 20)]
    for k, i in enumerate("abcdefgh"):
        test += [_row("test", "gauss", i, "pigdm-20", "diffusion", 26.0 + 0.1 * k + (0.6 if k % 2 else -0.2)),
                 _row("test", "gauss", i, "pigdm-50", "diffusion", 40.0), _row("test", "gauss", i, "ddrm-50", "diffusion", 27.0, 2.0),
                 _row("test", "gauss", i, "wiener", "classical", 25.0 + 0.1 * k), _row("test", "gauss", i, "richardson_lucy", "classical", 35.0)]
    return val, test


def test_choose_picks_on_val_one_configuration_per_family():
    val, _ = _synthetic()
    ch = choose_and_report.choose(val)[("p", "gauss", "0.025")]
    assert ch["families"] == {"pigdm": "pigdm-20", "ddrm": "ddrm-50"}  # dps failed on one image: not a candidate
    assert ch["best"] == "pigdm-20" and ch["classical"] == "wiener"
    assert ch["default"] == default_spec("gauss") == "ddrm:50"


def test_headline_reports_the_val_choice_on_test_with_its_interval():
    val, test = _synthetic()
    choices = choose_and_report.choose(val)
    table = choose_and_report.headline(choices, test, "p")
    line = next(ln for ln in table.splitlines() if ln.startswith("| gauss |"))
    cols = [c.strip() for c in line.strip("|").split("|")]
    # the default (ddrm-50) and the val-chosen pigdm-20 against the val-chosen wiener, never the test-best rows
    assert cols[3] == "ddrm:50" and cols[6] == "pigdm:20" and cols[10] == "wiener"
    assert "pigdm:50" not in line and "richardson_lucy" not in line
    d = [26.0 + 0.1 * k + (0.6 if k % 2 else -0.2) - (25.0 + 0.1 * k) for k in range(8)]
    m, lo, hi = metrics.interval(d)
    assert cols[8] == f"{m:+.2f} ({lo:+.2f}, {hi:+.2f})"
    # mean margin +1.2 dB, but the interval's lower end is below 1 dB: not met
    assert m > 1 and lo < 1 and cols[9].startswith("not met")
    assert cols[12] == f"{2.0 / 0.01:.0f}" and cols[13] == f"{1.0 / 0.01:.0f}"  # seconds per megapixel
    fam = choose_and_report.family_table(choices, test, "p")
    assert "| gauss | 0.025 | pigdm | pigdm:20 | 31.50 |" in fam and "| gauss | 0.025 | ddrm | ddrm:50 | 29.50 |" in fam


def test_target_needs_the_lower_end():
    assert choose_and_report.target("gauss", 1.01).startswith("met") and choose_and_report.target("gauss", 0.99).startswith("not met")
    assert choose_and_report.target("box", 0.0).startswith("met") and choose_and_report.target("box", -0.01).startswith("not met")
    assert choose_and_report.target("box", math.nan) == "n/a"


@pytest.mark.parametrize("label, spec", [("ddrm-50 mean8", "ddrm:50:mean8"), ("ddrm-15 strength=0.1", "ddrm:15:strength=0.1"),
                                         ("pigdm-20", "pigdm:20"), ("dps-100 zeta=1.0 mean4", "dps:100:zeta=1.0:mean4")])
def test_label_spec_round_trip(label, spec):
    assert choose_and_report.label_spec(label) == spec
    assert parse_method(spec).labels()[-1] == label
    assert choose_and_report.family(label, "diffusion") == label.split("-")[0]
    assert choose_and_report.family("wiener", "classical") == "classical"


# --- observations as 8-bit files ----------------------------------------------------------------------

@pytest.mark.parametrize("task, sigma", [("gauss", 0.0), ("random", 0.025), ("sr4", 0.0), ("denoise", 0.1)])
def test_observations_are_8_bit(task, sigma, tmp_path):
    x = torch.rand(3, 32, 32)
    p = tasks.make_case(task, x, sigma, seed=0, image_id="a")
    assert torch.equal(p.y, torch.round(p.y * 255) / 255) and p.y.min() >= 0 and p.y.max() <= 1
    # exactly what a PNG written and read back holds
    a = (p.y[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "y.png")
    back = torch.from_numpy(np.array(Image.open(tmp_path / "y.png"))).permute(2, 0, 1).float() / 255
    assert torch.equal(back, p.y[0])
    if sigma == 0:  # a noiseless cell keeps the quantisation noise: y is not A x, but within half a level
        err = p.y - p.operator.A(p.x).clamp(0, 1)
        assert err.abs().max() <= 0.5 / 255 + 1e-6 and err.abs().max() > 0


# --- baselines ---------------------------------------------------------------------------------------

def test_backprojection_beats_bicubic_on_a_smooth_image():
    """Noiseless SR x4 of a smooth image: inverting the solvers' own operator recovers more than
    plain interpolation, and its result agrees with the observation."""
    yy, xx = np.mgrid[0:64, 0:64] / 64
    x = torch.from_numpy(np.stack([0.5 + 0.3 * np.sin(2 * np.pi * (1.3 * yy + 0.7 * xx)),
                                   0.5 + 0.3 * np.cos(2 * np.pi * 1.1 * xx), 0.5 + 0.2 * np.sin(2 * np.pi * 2 * yy)])).float()
    p = tasks.make_case("sr4", x, 0.0, seed=0, image_id="s")
    bic, _ = baselines.run_baseline("bicubic", p)
    bp, step = baselines.run_baseline("backprojection", p)
    assert step == 1.0
    assert metrics.psnr(p.x, bp) > metrics.psnr(p.x, bic) + 1.0
    assert (p.operator.A(bp) - p.y).abs().mean() < 0.5 * (p.operator.A(bic) - p.y).abs().mean()
    b0 = baselines.backproject(p.operator, p.y, p.x.shape[-2:], 0.0)  # step 0 is interpolation alone
    assert metrics.psnr(p.x, b0) < metrics.psnr(p.x, bp)


def test_at_edge_and_grids():
    assert baselines.at_edge("wiener", min(baselines.BASELINES["wiener"].grid)) == "low"
    assert baselines.at_edge("richardson_lucy", max(baselines.BASELINES["richardson_lucy"].grid)) == "high"
    assert baselines.at_edge("nlm", 0.8) is None and baselines.at_edge("nlm", 0.85) is None
    assert baselines.at_edge("backprojection", 1.0) == "bound" and baselines.at_edge("tv_inpaint", math.inf) == "bound"
    assert baselines.at_edge("biharmonic", None) is None
    for name, b in baselines.BASELINES.items():  # every default lies on its grid, inside it or at a bound
        for d in (b.noisy, b.noiseless):
            if b.param and d is not None:
                assert d in b.grid and baselines.at_edge(name, d) in (None, "bound"), (name, d)


def test_richardson_lucy_path_equals_scikit_image():
    """The one-pass tuning of Richardson-Lucy gives scikit-image's result at every iteration count."""
    from skimage.restoration import richardson_lucy as sk_rl

    rng = np.random.default_rng(0)
    a, k = rng.uniform(0.01, 1, (24, 24)), np.outer([1, 2, 1], [1, 3, 1]) / 20.0
    path = baselines._rl_iterates(a, k, [1, 7, 30])
    for n in (1, 7, 30):
        assert np.array_equal(path[n], sk_rl(a, k, num_iter=n, clip=False))
