"""The benchmark harness (restore.benchmarks): task geometry, metrics, baselines, the suite machinery
with a tiny random prior on synthetic images (no ../shared data), and the `restore bench` command."""
import csv
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from restore.benchmarks import baselines, bench, metrics, report, tasks
from restore.benchmarks.methods import applicable_method, parse_method, run_diffusion
from restore.priors import DDPM, UNet, UNetConfig, linear_schedule, load_prior, save_prior
from restore.priors.tiling import TiledPrior, for_image


def smooth_image(size=32, channels=3, seed=0):
    """A smooth colour image on [0.1, 0.9]: a few low-frequency sinusoids per channel."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    chans = []
    for _ in range(channels):
        a, b, c, d = rng.uniform(-1.5, 1.5, 4)
        chans.append(0.5 + 0.2 * np.sin(2 * np.pi * (a * yy + b * xx) + c) + 0.15 * np.cos(2 * np.pi * d * yy))
    return torch.from_numpy(np.clip(np.stack(chans), 0.1, 0.9)).float()


def edgy_image(size=48, seed=0):
    """A smooth image with a few flat rectangles pasted on it (edges that a blur visibly removes)."""
    x = smooth_image(size, seed=seed)
    g = torch.Generator().manual_seed(seed)
    for _ in range(6):
        t, left = torch.randint(0, size - 8, (2,), generator=g).tolist()
        h, w = torch.randint(4, size // 2, (2,), generator=g).tolist()
        x[:, t:t + h, left:left + w] = torch.rand(3, 1, 1, generator=g)
    return x


def tiny_prior(size=16, channels=3):
    torch.manual_seed(0)
    return DDPM(UNet(UNetConfig(channels=channels, width=8, mults=(1, 2), num_res_blocks=1)), linear_schedule(),
                image_size=size)


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        a = (smooth_image(32, seed=i).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(a).save(folder / f"im{i}.png")
    return folder


@pytest.fixture
def prior_file(tmp_path):
    p = tiny_prior()
    path = tmp_path / "tiny.safetensors"
    save_prior(path, p.net, p.schedule, p.image_size)
    return path


# --- task geometry (issue 7's formulas) ---------------------------------------------------------

@pytest.mark.parametrize("S, size, std", [(256, 19, 3.0), (128, 11, 1.5), (64, 7, 1.0), (28, 7, 1.0), (512, 37, 6.0)])
def test_gaussian_geometry(S, size, std):
    assert tasks.gaussian_geometry(S) == (size, pytest.approx(std))
    assert size == 2 * math.ceil(3 * std) + 1


@pytest.mark.parametrize("S, size", [(256, 61), (128, 31), (64, 15), (28, 9), (32, 9), (100, 25)])
def test_motion_size(S, size):
    assert tasks.motion_size(S) == size
    assert size % 2 == 1 and size >= 9


def test_problems_follow_the_geometry():
    x = smooth_image(64)
    box = tasks.make_case("box", x, 0.0, seed=0, image_id="a")
    assert int((box.mask == 0).sum()) == 32 * 32
    missing = (box.mask[0, 0] == 0).nonzero()
    assert missing.min() >= 8 and missing.max() <= 64 - 8 - 1  # margin S // 8
    rnd = tasks.make_case("random", x, 0.0, seed=0, image_id="a")
    assert int((rnd.mask == 0).sum()) == round(0.7 * 64 * 64)
    g = tasks.make_case("gauss", x, 0.025, seed=0, image_id="a")
    assert g.kernel.shape == (7, 7) and g.info["std"] == 1.0
    m = tasks.make_case("motion", x, 0.025, seed=0, image_id="a")
    assert m.kernel.shape == (15, 15)
    sr = tasks.make_case("sr4", smooth_image(30), 0.0, seed=0, image_id="a")
    assert sr.x.shape[-2:] == (28, 28) and sr.y.shape[-2:] == (7, 7)
    d = tasks.make_case("denoise", x, 0.025, seed=0, image_id="a")
    assert abs(float((d.y - d.x).std()) - 0.025) < 0.003
    # seeded: the same draws again, other draws for another image
    again = tasks.make_case("motion", x, 0.025, seed=0, image_id="a")
    assert torch.equal(m.kernel, again.kernel) and torch.equal(m.y, again.y)
    other = tasks.make_case("motion", x, 0.025, seed=0, image_id="b")
    assert not torch.equal(m.kernel, other.kernel)
    assert not tasks.applicable_task("denoise", 64, 0.0)
    levin = [torch.ones(k, k) / k**2 for k in (13, 15, 17, 19, 21, 23, 23, 27)]
    assert tasks.applicable_task("levin", 64, 0.025, levin) and not tasks.applicable_task("levin", 28, 0.025, levin)
    lv = tasks.make_case("levin", x, 0.025, seed=0, image_id="a", index=9, levin=levin)
    assert lv.kernel.shape == (15, 15) and lv.info["kernel"] == "k2"


# --- metrics ---------------------------------------------------------------------------------------

def test_psnr_ssim_match_skimage():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    x = torch.zeros(1, 3, 16, 16)
    assert metrics.psnr(x, x + 0.1) == pytest.approx(20.0, abs=1e-5)  # 10 log10(1 / 0.01); 0.1 in float32
    a, b = smooth_image(24, seed=1)[None], smooth_image(24, seed=2)[None]
    ref = peak_signal_noise_ratio(a[0].permute(1, 2, 0).double().numpy(), b[0].permute(1, 2, 0).double().numpy(),
                                  data_range=1.0)
    assert metrics.psnr(a, b) == pytest.approx(ref, rel=1e-9)
    ref_ssim = structural_similarity(a[0].permute(1, 2, 0).double().numpy(), b[0].permute(1, 2, 0).double().numpy(),
                                     data_range=1.0, channel_axis=-1)
    assert metrics.ssim(a, b) == pytest.approx(ref_ssim, rel=1e-9)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    # gray images are scored on their one channel, an RGB estimate by its channel mean
    g = a[:, :1]
    s = metrics.scores(g, g.expand(1, 3, 24, 24), y_border=4)
    assert s["psnr"] == math.inf or s["psnr"] > 100
    # luma: a uniform error e on all channels is an error of e * (65.481 + 128.553 + 24.966) / 255 on Y
    e = 0.05
    assert metrics.psnr_y(x, x + e, 2) == pytest.approx(-20 * math.log10(e * 219 / 255), rel=1e-6)


def test_peak_rss_sees_an_allocation():
    with metrics.PeakRSS() as mem:
        a = np.ones(40_000_000 // 8)  # 40 MB, touched
        a.sum()
    del a
    assert mem.mb > 20


# --- baselines ---------------------------------------------------------------------------------

@pytest.mark.parametrize("task, sigma, names, margin", [
    ("random", 0.0, ["biharmonic", "tv_inpaint"], 10.0),
    ("box", 0.0, ["biharmonic", "tv_inpaint"], 3.0),
    ("gauss", 0.0, ["wiener", "unsup_wiener", "richardson_lucy"], 3.0),
    ("motion", 0.0, ["wiener", "unsup_wiener"], 5.0),
    ("motion", 0.01, ["wiener", "unsup_wiener", "richardson_lucy"], 2.0),
    ("denoise", 0.05, ["tv_denoise", "nlm", "wavelet", "bilateral"], 2.0),
])
def test_baselines_beat_the_observation(task, sigma, names, margin):
    x = (edgy_image if task in ("gauss", "motion") else smooth_image)(48, seed=3)
    p = tasks.make_case(task, x, sigma, seed=0, image_id="smooth")
    base = metrics.psnr(p.x, tasks.observation_image(p))
    for name in names:
        est, _ = baselines.run_baseline(name, p)
        assert est.shape == p.x.shape and 0 <= float(est.min()) and float(est.max()) <= 1
        assert metrics.psnr(p.x, est) > base + margin, name


def test_bicubic_beats_pixel_repetition():
    p = tasks.make_case("sr4", smooth_image(48, seed=4), 0.0, seed=0, image_id="s")
    est, _ = baselines.run_baseline("bicubic", p)
    assert metrics.psnr(p.x, est) > metrics.psnr(p.x, tasks.observation_image(p)) + 1


def test_tune_picks_the_best_grid_value():
    probs = [tasks.make_case("denoise", smooth_image(32, seed=s), 0.05, seed=0, image_id=str(s)) for s in range(2)]
    best, scores = baselines.tune("tv_denoise", probs, metrics.psnr)
    assert set(scores) == set(baselines.BASELINES["tv_denoise"].grid) and scores[best] == max(scores.values())
    assert baselines.tune("biharmonic", probs, metrics.psnr) == (None, {})
    with pytest.raises(ValueError, match="does not apply"):
        baselines.run_baseline("nlm", tasks.make_case("box", smooth_image(32), 0.0, seed=0, image_id="a"))


# --- diffusion methods, tiling -----------------------------------------------------------------------

def test_parse_method_and_applicability():
    s = parse_method("dps:30:zeta=0.25:mean4")
    assert (s.name, s.steps, s.options, s.samples) == ("dps", 30, {"zeta": 0.25}, 4)
    assert s.labels() == ["dps-30 zeta=0.25", "dps-30 zeta=0.25 mean4"]
    assert parse_method("ddrm").steps == 50
    for bad in ("nope", "ddrm:x", "ddrm:0"):
        with pytest.raises(ValueError):
            parse_method(bad)
    x = smooth_image(32)
    motion = tasks.make_case("motion", x, 0.025, seed=0, image_id="a")
    box0 = tasks.make_case("box", x, 0.0, seed=0, image_id="a")
    assert not applicable_method(parse_method("ddrm"), motion)  # no cheap SVD
    assert not applicable_method(parse_method("ddnm"), motion)  # noisy
    assert applicable_method(parse_method("repaint"), box0) and applicable_method(parse_method("ddnm"), box0)
    assert bench.parse_prior("natural=runs/n@folder:/x") == bench.PriorEntry("natural", "runs/n", "folder:/x")
    assert bench.parse_prior("digits") == bench.PriorEntry("digits", "digits", "digits")


def test_for_image_tiles_only_larger_images():
    p = tiny_prior(16)
    assert for_image(p, (16, 16)) is p and for_image(p, (12, 16)) is p
    tp = for_image(p, (16, 40), generator=torch.Generator().manual_seed(0), batch=4)
    assert isinstance(tp, TiledPrior) and tp.tile == 16 and tp.batch == 4
    assert for_image(tp, (64, 64)) is tp


def test_run_diffusion_counts_nfe_and_gives_the_mean():
    p = tasks.make_case("box", smooth_image(32), 0.025, seed=0, image_id="a")
    r = run_diffusion(tiny_prior(16), p, parse_method("ddrm:4:mean3"))
    assert r["nfe"] == 4 and r["sample"].shape == p.x.shape and r["mean"].shape == p.x.shape
    assert r["seconds"] > 0 and r["peak_mb"] >= 0
    gray = tasks.make_case("denoise", smooth_image(16, channels=1), 0.025, seed=0, image_id="g")
    r = run_diffusion(tiny_prior(16, 3), gray, parse_method("ddrm:3"))  # gray image, RGB prior
    assert r["sample"].shape == (1, 1, 16, 16) and r["mean"] is None  # averaged back to gray


# --- the suite machinery --------------------------------------------------------------------------

def small_suite(**kw):
    return dataclasses.replace(bench.SUITES["quick"], name="tiny", priors=(), images=2, grid_images=1,
                               crops={}, methods=("ddrm:3", "diffpir:3"), extra={"box": ("ddrm:3:mean2",)}, **kw)


def test_suite_writes_csv_markdown_and_grids(tmp_path, image_folder, prior_file):
    out = tmp_path / "out"
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\nhand-written text\n")
    entry = bench.PriorEntry("tiny", str(prior_file), f"folder:{image_folder}")
    res = bench.run_bench(small_suite(), tmp_path, out, priors=[entry], results=results, command="restore bench test",
                          echo=lambda m: None)
    rows = list(csv.DictReader(open(res["csv"])))
    assert list(rows[0]) == report.FIELDS
    cells = {(r["task"], r["sigma_y"]) for r in rows}
    assert cells == {(t, "0.025") for t in ("box", "random", "gauss", "motion", "sr4", "denoise")}
    methods = {r["task"]: set() for r in rows}
    for r in rows:
        methods[r["task"]].add(r["method"])
        assert r["image"] in ("im0", "im1")
        assert math.isfinite(float(r["psnr"])) and -1 <= float(r["ssim"]) <= 1
        assert r["kind"] in ("diffusion", "classical", "input")
    assert methods["box"] == {"observation", "biharmonic", "tv_inpaint", "ddrm-3", "diffpir-3", "ddrm-3 mean2"}
    assert methods["motion"] == {"observation", "wiener", "unsup_wiener", "richardson_lucy", "diffpir-3"}  # no SVD
    assert methods["sr4"] == {"bicubic", "backprojection", "ddrm-3", "diffpir-3"}
    assert methods["denoise"] == {"observation", "tv_denoise", "nlm", "wavelet", "bilateral", "ddrm-3", "diffpir-3"}
    sr = [r for r in rows if r["task"] == "sr4"]
    assert all(r["psnr_y"] != "" for r in sr) and all(r["psnr_y"] == "" for r in rows if r["task"] == "box")
    diff = [r for r in rows if r["kind"] == "diffusion"]
    assert {float(r["nfe"]) for r in diff if r["method"] in ("ddrm-3", "diffpir-3")} == {3.0}
    assert {float(r["nfe"]) for r in diff if r["method"] == "ddrm-3 mean2"} == {6.0}
    assert len(rows) == 2 * 33  # per image: box 6, random 5, gauss 6, motion 5, sr4 4, denoise 7 rows
    assert len({(r['task'], r['image'], r['method']) for r in rows}) == len(rows)  # no duplicates
    # markdown: a summary per prior and one table per cell, every row of the table well-formed
    md = res["markdown"].read_text()
    assert "restore bench test" in md and "#### tiny: the highest-scoring diffusion and classical rows" in md
    assert "met (" not in md and "target" not in md  # no target is claimed from the best of several rows on the scored images
    assert md.count("##### tiny / ") == 6
    tables = [blk for blk in md.split("\n\n") if blk.startswith("| ")]
    for t in tables:
        widths = {ln.count("|") for ln in t.splitlines()}
        assert len(widths) == 1, t
    # grids: one per cell, observation + methods + ground truth columns
    assert len(res["grids"]) == 6
    box_grid = next(g for g in res["grids"] if "box" in g.name)
    im = Image.open(box_grid)
    assert im.mode == "RGB" and im.width == 2 + 7 * (96 + 2)  # 5 methods (ddrm-3 once) + observation + ground truth
    assert f"]({box_grid.relative_to(out)})" in md
    # RESULTS.md: the section was added and the hand-written text kept; running again replaces it
    text = results.read_text()
    assert "hand-written text" in text and text.count("<!-- bench:tiny-test begin -->") == 1
    section = text.split("<!-- bench:tiny-test begin -->")[1].split("<!-- bench:tiny-test end -->")[0]
    assert "out/results.md" in section and "restore bench test" in section  # the short form: a link, no tables
    assert "##### " not in section and len(section.strip().splitlines()) <= 3
    # resume: nothing is recomputed, the file is rewritten with the same rows, the grids are kept
    # even without the outputs/ images they were made from
    before = box_grid.read_bytes()
    import shutil
    shutil.rmtree(out / "outputs")
    res2 = bench.run_bench(small_suite(), tmp_path, out, priors=[entry], results=results, echo=lambda m: None)
    assert box_grid.read_bytes() == before
    assert len(res2["rows"]) == len(rows)
    # a new method on a resumed run without the old outputs/ images: the grid is kept, not blanked
    res3 = bench.run_bench(small_suite(), tmp_path, out, priors=[entry], tasks=["box"],
                           methods=["ddrm:3", "diffpir:3", "ddrm:3:mean2", "ddnm_plus:3", "biharmonic", "tv_inpaint"],
                           results=results, echo=lambda m: None)
    assert box_grid.read_bytes() == before and len(res3["rows"]) == len(rows) + 2
    assert results.read_text().count("<!-- bench:tiny-test begin -->") == 1


def test_rows_of_other_weights_are_refused(tmp_path, image_folder, prior_file):
    out = tmp_path / "o"
    entry = bench.PriorEntry("tiny", str(prior_file), f"folder:{image_folder}")
    run = dict(tasks=["denoise"], methods=["ddrm:2"], images=1, echo=lambda m: None)
    bench.run_bench(small_suite(), tmp_path, out, priors=[entry], **run)
    recorded = json.loads((out / "priors.json").read_text())
    assert recorded == {"tiny": bench.weights_digest(load_prior(prior_file))}
    bench.run_bench(small_suite(), tmp_path, out, priors=[entry], **run)  # same weights: resumes
    other = tiny_prior()
    with torch.no_grad():
        next(other.net.parameters()).add_(1e-3)
    assert bench.weights_digest(other) != recorded["tiny"]
    n = len(list(csv.DictReader(open(out / "rows.csv"))))
    with pytest.raises(ValueError, match="rows of prior 'tiny' from other weights"):
        bench.run_bench(small_suite(), tmp_path, out, priors=[bench.PriorEntry("tiny", other, entry.data)], **run)
    assert len(list(csv.DictReader(open(out / "rows.csv")))) == n
    # under another name the new weights are recorded beside the old ones
    bench.run_bench(small_suite(), tmp_path, out, priors=[bench.PriorEntry("tiny2", other, entry.data)], **run)
    assert set(json.loads((out / "priors.json").read_text())) == {"tiny", "tiny2"}


def test_summary_compares_only_methods_scored_on_every_image():
    """A method still running (fewer images than its cell) is shown with its count but cannot be the
    cell's best: its mean is over other images than the baseline's."""
    def row(image, method, kind, psnr):
        return {**{f: "" for f in report.FIELDS}, "prior": "p", "split": "test", "task": "random", "sigma_y": "0.025",
                "size": "8x8", "image": image, "method": method, "kind": kind, "psnr": psnr, "ssim": 0.5, "draws": 1}
    rows = [row(i, "biharmonic", "classical", 20.0 + k) for k, i in enumerate("abc")]
    rows += [row(i, "ddrm-50", "diffusion", 21.5 + k) for k, i in enumerate("abc")]
    rows += [row("a", "pigdm-50 mean4", "diffusion", 40.0)]
    md = report.markdown(rows, title="t", command="c", date="d")
    summary = next(ln for ln in md.splitlines() if ln.startswith("| random |"))
    assert "| 3 | ddrm-50 | 22.50 ± 1.00 |" in summary and "biharmonic" in summary and "+1.50" in summary
    assert "| pigdm-50 mean4 | diffusion | 40.00 ± 0.00 (1 of 3 images) |" in md


def test_suite_tunes_baselines_on_the_val_split(tmp_path, image_folder, prior_file):
    """folder:PATH tunes on PATH/val (here one image, while PATH holds three): the tuning message
    counts the val folder's images, so tuning on the scored images would fail this test."""
    entry = bench.PriorEntry("tiny", str(prior_file), f"folder:{image_folder}")
    with pytest.raises(ValueError, match=r"no val/ subfolder"):
        bench.run_bench(small_suite(tune_images=2), tmp_path, tmp_path / "o", priors=[entry], tasks=["denoise"],
                        methods=["tv_denoise"], echo=lambda m: None)
    (image_folder / "val").mkdir()
    a = (smooth_image(32, seed=7).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(a).save(image_folder / "val" / "v0.png")
    msgs = []
    res = bench.run_bench(small_suite(tune_images=2), tmp_path, tmp_path / "o", priors=[entry], tasks=["denoise"],
                          methods=["tv_denoise"], echo=msgs.append)
    assert any(m.startswith("tuned tv_denoise on 1 val images") for m in msgs), msgs
    (row,) = [r for r in res["rows"] if r["method"] == "tv_denoise"][:1]
    grid = baselines.BASELINES["tv_denoise"].grid
    assert float(row["params"].split("=")[1]) in grid
    assert {r["image"] for r in res["rows"]} == {"im0", "im1"}  # scored on PATH, never on val/


def test_bench_budget_counts_steps_and_draws():
    s = small_suite()
    b = bench.budget(dataclasses.replace(s, priors=("x",)))
    # 6 tasks x 2 images x (ddrm 3 + diffpir 3) minus ddrm on motion, plus the box mean of 2 draws
    assert b == {"x": 2 * (6 * 6 - 3 + 6)}
    full = bench.budget(bench.SUITES["full"])
    assert set(full) == {"digits", "faces", "natural"} and all(v > 0 for v in full.values())


def test_full_suite_sweeps_each_priors_two_best_solvers():
    full = bench.SUITES["full"]
    for prior, (first, second) in bench.SWEEPS.items():
        labels = {sp.label for sp in full.specs_for("gauss", prior)}
        assert {f"{m}-{k}" for m in (first, second) for k in (20, 50, 100)} <= labels
        others = [m for m in bench.SOLVERS if m not in (first, second)]
        assert {f"{m}-50" for m in others} <= labels and not {f"{m}-100" for m in others} & labels
        means = {task: [sp for sp in full.specs_for(task, prior) if sp.samples > 1 and "strength" not in sp.options]
                 for task in bench.TASKS}  # the sweep's means (the denoising default is a mean of 4 warm estimates)
        assert all(len(v) == 1 and v[0].steps == (100 if t == "random" else 50) for t, v in means.items())
        assert means["box"][0].samples == 8 and means["random"][0].samples == 4
        # DDRM needs an SVD: on the motion blurs the mean is of the other swept solver
        assert means["motion"][0].name == (second if first == "ddrm" else first)
    assert {sp.label for sp in full.specs_for("box", "faces")} != {sp.label for sp in full.specs_for("box", "digits")}


def test_bench_command(tmp_path, image_folder, prior_file):
    from restore.cli import main

    out = tmp_path / "cli"
    r = CliRunner().invoke(main, ["bench", "--data", str(tmp_path), "-o", str(out), "--priors",
                                  f"tiny={prior_file}@folder:{image_folder}", "--tasks", "denoise",
                                  "--methods", "ddrm:2,nlm", "--images", "1"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out / "rows.csv")))
    assert {r["method"] for r in rows} == {"observation", "ddrm-2", "nlm"}
    assert "--methods ddrm:2,nlm" in (out / "results.md").read_text()
    bad = CliRunner().invoke(main, ["bench", "-o", str(out), "--tasks", "nope"])
    assert bad.exit_code == 2 and "unknown task" in bad.output and "Traceback" not in bad.output


class FailingPrior:
    """The tiny prior, except that eps raises FloatingPointError (as a diverging chain does)."""

    def __init__(self, prior):
        self.prior = prior

    def __getattr__(self, name):
        return getattr(self.prior, name)

    def eps(self, x_t, t):
        raise FloatingPointError("network output has NaN or inf values")

    def x0_hat(self, x_t, t, clip=None):
        return self.prior.x0_from_eps(x_t, t, self.eps(x_t, t), clip)


def test_a_failing_solver_gives_failed_rows_and_the_suite_goes_on(tmp_path, image_folder):
    entry = bench.PriorEntry("bad", FailingPrior(tiny_prior(16)), f"folder:{image_folder}")
    msgs = []
    res = bench.run_bench(small_suite(), tmp_path, tmp_path / "o", priors=[entry], tasks=["box", "denoise"],
                          echo=msgs.append)
    failed = [r for r in res["rows"] if r["note"].startswith("failed")]
    assert {r["method"] for r in failed} == {"ddrm-3", "diffpir-3", "ddrm-3 mean2"}
    assert all(r["psnr"] == "nan" for r in failed)
    assert {r["method"] for r in res["rows"] if r["task"] == "denoise" and r["kind"] == "classical"} == {"tv_denoise", "nlm", "wavelet",
                                                                                                     "bilateral"}
    md = res["markdown"].read_text()
    assert "(2 of 2 failed: NaN/inf)" in md
    summary = md.split("#### bad: the highest-scoring diffusion and classical rows")[1].split("#####")[0]
    assert "| box | 0.025 | 32x32 | 2 |  |" in summary  # no diffusion configuration is called best


def test_speed_suite_counts_each_versions_network_evaluations(tmp_path):
    from lab import speed_suite

    T1000 = linear_schedule(1000)
    assert speed_suite.nfe(["ddrm", 50], T1000) == 50  # an old checkout's (method, steps)
    assert speed_suite.nfe(["ddrm", 15, 0.1, 1], T1000) == 15
    assert speed_suite.nfe(["ddrm", 15, 0.01, 2], T1000) == 20  # t0 = 10 leaves 10 steps, two draws
    clean, name = speed_suite.photo(None, 66)
    assert clean.shape == (64, 64, 3) and name == "astronaut"  # sides cut to multiples of 4 for x4 sr
    args, fill = speed_suite.inputs(tmp_path, clean, name)
    assert set(args) == {*speed_suite.CMDS, "motion"} and fill.any() and not fill.all()
    assert args["motion"][1:] == ["--kernel", speed_suite.MOTION]
    small = np.asarray(Image.open(args["sr"][0]))
    assert small.shape == (16, 16, 3) and args["sr"][1:] == ["--scale", "4"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "mask.png")) > 0, fill)
