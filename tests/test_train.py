"""Training and resumption on a tiny data set made here (prior files: tests/test_checkpoint.py)."""
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from restore.priors import DDPM, UNet, UNetConfig, linear_schedule
from restore.priors.checkpoint import load_prior
from restore.priors.data import ImageData, load_images
from restore.priors.train import TrainConfig, train

TINY = dict(size=8, channels=1, width=8, mults=(1, 2), res_blocks=1, batch=16, lr=2e-3, warmup=5,
            ckpt_every=10, sample_every=0, log_every=5, device="cpu")


def _cfg(data, out, **kw):
    return TrainConfig(data=str(data), out=str(out), **{**TINY, **kw})


def _held_out_loss(prior, x0):
    g = torch.Generator().manual_seed(123)
    t = torch.randint(1, 1001, (len(x0),), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    with torch.no_grad():
        return float(prior.loss(x0, t, noise).mean())


def test_training_lowers_held_out_loss(tiny_npz, tmp_path):
    held = torch.stack(load_images(tiny_npz, 1, "96:128")).float() / 127.5 - 1
    before = _held_out_loss(DDPM(UNet(UNetConfig(channels=1, width=8, mults=(1, 2), num_res_blocks=1)), linear_schedule()), held)
    train(_cfg(tiny_npz, tmp_path / "run", subset="0:96", steps=60, ema=0.9), progress=False)
    after = _held_out_loss(load_prior(tmp_path / "run"), held)
    assert after < 0.8 * before, (before, after)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 60 and log[-1]["images_seen"] == 960 and log[-1]["images_per_s"] > 0


def test_resume_equals_uninterrupted(tiny_npz, tmp_path):
    train(_cfg(tiny_npz, tmp_path / "a", steps=20), progress=False)
    train(_cfg(tiny_npz, tmp_path / "b", steps=10), progress=False)
    train(_cfg(tiny_npz, tmp_path / "b", steps=20), resume=True, progress=False)
    for name in ["model.safetensors", "ema.safetensors", "optimizer.safetensors"]:
        a = load_file(str(tmp_path / "a/checkpoints/step-000000020" / name))
        b = load_file(str(tmp_path / "b/checkpoints/step-000000020" / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name


def test_minutes_stops_with_a_checkpoint_that_resumes_exactly(tiny_npz, tmp_path):
    train(_cfg(tiny_npz, tmp_path / "a", steps=12), progress=False)
    last = train(_cfg(tiny_npz, tmp_path / "b", steps=12), minutes=1e-9, progress=False)  # out of time at once
    assert last.name == "step-000000001"  # stopped after one step, off the checkpoint interval, and saved it
    train(_cfg(tiny_npz, tmp_path / "b", steps=12), resume=True, progress=False)
    a = load_file(str(tmp_path / "a/checkpoints/step-000000012/ema.safetensors"))
    b = load_file(str(tmp_path / "b/checkpoints/step-000000012/ema.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="minutes must be a positive number"):
        train(_cfg(tiny_npz, tmp_path / "c", steps=2), minutes=0, progress=False)


def test_flip_option_mirrors_some_views_and_no_flip_none():
    """A view is the crop or its mirror; --no-flip (digits) must never mirror."""
    im = torch.arange(2 * 8 * 8, dtype=torch.uint8).reshape(2, 8, 8)  # one full-size crop: no randomness but the flip
    plain = im.float() / 127.5 - 1
    for flip, want in ((True, {False, True}), (False, {False})):
        data = ImageData([im], 8, flip=flip)
        g = torch.Generator().manual_seed(0)
        seen = set()
        for _ in range(32):
            v = data.view(0, g)
            assert torch.equal(v, plain) or torch.equal(v, plain.flip(-1))
            seen.add(not torch.equal(v, plain))
        assert seen == want


def test_reframing_moves_half_the_views_and_keeps_the_rest():
    """--zoom-out/--shift (faces framed differently): about half the views are the plain crop, the
    others a zoomed-out or moved copy; a shift alone is a translation of the interior; a constant
    image stays constant; out-of-range settings are refused in one line."""
    g0 = torch.Generator().manual_seed(0)
    im = torch.randint(0, 256, (3, 16, 16), generator=g0, dtype=torch.uint8)
    plain = im.float() / 127.5 - 1
    moved, n = 0, 200
    data = ImageData([im], 16, flip=False, shift=3)
    g = torch.Generator().manual_seed(1)
    for _ in range(n):
        v = data.view(0, g)
        if torch.equal(v, plain):
            continue
        moved += 1
        inner = v[:, 3:-3, 3:-3]
        assert any(torch.equal(inner, plain[:, 3 - dy:13 - dy, 3 - dx:13 - dx])
                   for dy in range(-3, 4) for dx in range(-3, 4))
    assert 0.35 * n < moved < 0.65 * n  # half the views, less the 1/49 drawn with no shift
    zoomed = ImageData([im], 16, flip=False, zoom_out=1.5)
    g = torch.Generator().manual_seed(2)
    assert sum(not torch.equal(zoomed.view(0, g), plain) for _ in range(100)) > 30
    flat = ImageData([torch.full((3, 16, 16), 200, dtype=torch.uint8)], 16, zoom_out=1.5, shift=3)
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        assert torch.allclose(flat.view(0, g), torch.full((3, 16, 16), 200 / 127.5 - 1), atol=1e-6)
    for kw in ({"zoom_out": 1.6}, {"zoom_out": 0.9}, {"shift": -1}, {"shift": 8}):
        with pytest.raises(ValueError, match="zoom-out must be in"):
            ImageData([im], 16, **kw)


def test_t_outside_the_chain_is_refused():
    prior = DDPM(UNet(UNetConfig(channels=1, width=8, mults=(1, 2), num_res_blocks=1)), linear_schedule())
    x = torch.zeros(2, 1, 8, 8)
    for t in (0, 1001, torch.tensor([1, 0])):
        with pytest.raises(ValueError, match="t must be in 1..1000"):
            prior.eps(x, t)


def test_bf16_precision_trains_fp32_weights_close_to_fp32(tiny_npz, tmp_path):
    """`--precision bf16` autocasts the forward only: weights, Adam state and EMA stay float32, the
    run's config records it, and the losses follow the fp32 run's to bf16 accuracy (not exactly)."""
    train(_cfg(tiny_npz, tmp_path / "fp32", steps=10, log_every=1), progress=False)
    train(_cfg(tiny_npz, tmp_path / "bf16", steps=10, log_every=1, precision="bf16"), progress=False)
    logs = {k: [json.loads(x)["loss"] for x in (tmp_path / k / "log.jsonl").read_text().splitlines()]
            for k in ("fp32", "bf16")}
    diffs = [abs(a - b) / a for a, b in zip(logs["fp32"], logs["bf16"])]
    assert len(diffs) == 10 and max(diffs) < 0.05 and max(diffs) > 0, diffs
    ck = tmp_path / "bf16/checkpoints/step-000000010"
    for name in ("model", "ema", "optimizer"):
        assert {v.dtype for v in load_file(str(ck / f"{name}.safetensors")).values()} <= {torch.float32, torch.int64}
    assert json.loads((tmp_path / "bf16/config.json").read_text())["precision"] == "bf16"
    with pytest.raises(ValueError, match="precision must be fp32 or bf16"):
        _cfg(tiny_npz, tmp_path / "x", precision="fp16").check()


@pytest.mark.slow
def test_channels_last_and_compile_train_the_same_weights(tiny_npz, tmp_path):
    """`--channels-last` and `--compile` change speed only: the same weights to float tolerance
    after 10 steps, and the compiled loss is one graph (no break at the check of t)."""
    train(_cfg(tiny_npz, tmp_path / "plain", steps=10), progress=False)
    train(_cfg(tiny_npz, tmp_path / "fast", steps=10, channels_last=True, compile=True), progress=False)
    a = load_file(str(tmp_path / "plain/checkpoints/step-000000010/model.safetensors"))
    b = load_file(str(tmp_path / "fast/checkpoints/step-000000010/model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-5) for k in a)
    prior = DDPM(UNet(UNetConfig(channels=1, width=8, mults=(1, 2), num_res_blocks=1)), linear_schedule())
    x0 = torch.zeros(4, 1, 8, 8)
    explained = torch._dynamo.explain(prior.loss)(x0, torch.tensor([1, 10, 100, 1000]), torch.randn(x0.shape))
    assert explained.graph_break_count == 0, explained.break_reasons


def test_bad_training_input(tmp_path, tiny_npz):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        train(_cfg(tmp_path / "empty", tmp_path / "r1", steps=1), progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="cannot read image"):
        train(_cfg(tmp_path / "junk", tmp_path / "r2", steps=1), progress=False)
    with pytest.raises(ValueError, match="not a multiple"):
        train(_cfg(tiny_npz, tmp_path / "r3", steps=1, size=7), progress=False)
    with pytest.raises(ValueError, match="zoom-out must be in"):
        train(_cfg(tiny_npz, tmp_path / "r5", steps=1, zoom_out=2.0), progress=False)
    with pytest.raises(ValueError, match="nothing to resume"):
        train(_cfg(tiny_npz, tmp_path / "r4", steps=1), resume=True, progress=False)


@pytest.mark.slow  # 4 processes of about 2-3 s each to start (torchrun's and its 2 workers): 9.3 s
def test_two_processes_match_one(tiny_npz, tmp_path):
    """torchrun with 2 gloo processes: each takes half of every global batch, keyed draws."""
    args = ["train", str(tiny_npz), "--size", "8", "--channels", "1", "--width", "8", "--mults", "1,2",
            "--res-blocks", "1", "--batch", "16", "--steps", "6", "--ckpt-every", "6", "--sample-every", "0",
            "--device", "cpu", "--warmup", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "restore.cli", *args, "-o", str(tmp_path / "one")], check=True, env=env,
                   capture_output=True)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
                        "-m", "restore.cli", *args, "-o", str(tmp_path / "two")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    a = load_file(str(tmp_path / "one/checkpoints/step-000000006/model.safetensors"))
    b = load_file(str(tmp_path / "two/checkpoints/step-000000006/model.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5


def test_init_from_prior_file(tiny_npz, tmp_path):
    train(_cfg(tiny_npz, tmp_path / "a", steps=10), progress=False)
    src = tmp_path / "a/checkpoints/step-000000010/ema.safetensors"
    train(_cfg(tiny_npz, tmp_path / "b", steps=1, lr=1e-12, init=str(src)), progress=False)
    a, b = load_file(str(src)), load_file(str(tmp_path / "b/checkpoints/step-000000001/ema.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-6
    with pytest.raises(ValueError, match="config differs"):
        train(_cfg(tiny_npz, tmp_path / "c", steps=1, width=16, init=str(src)), progress=False)
    # the same parameters with other norm groups: allowed (training adapts them)
    train(_cfg(tiny_npz, tmp_path / "d", steps=1, lr=1e-12, norm_groups=4, init=str(src)), progress=False)
    d = load_file(str(tmp_path / "d/checkpoints/step-000000001/ema.safetensors"))
    assert max(float((a[k] - d[k]).abs().max()) for k in a) < 1e-6
    assert load_prior(tmp_path / "d").net.config.norm_groups == 4
    with pytest.raises(ValueError, match="has 4 norm groups; pass --norm-groups 4"):
        train(_cfg(tiny_npz, tmp_path / "e", steps=1, init=str(tmp_path / "d")), progress=False)


def test_t_focus_puts_its_share_on_the_low_levels_and_uniform_stays_uniform():
    """--t-focus 100 --focus-share 0.75: t <= 100 with probability 0.75 + 0.25 * 100/1000 = 0.775,
    uniform within each range; without it t is uniform on 1..1000. Bounds: 5 binomial standard
    deviations of 4,096 draws."""
    from restore.priors.train import _Batches

    im = torch.zeros(1, 8, 8, dtype=torch.uint8)
    data = ImageData([im], 8)
    n = 4096
    for focus, share, p_low in ((100, 0.75, 0.775), (0, 0.8, 0.1)):
        cfg = TrainConfig(data="-", out="-", **{**TINY, "batch": n, "t_focus": focus, "focus_share": share}).check()
        _, t, _ = _Batches(data, cfg, 0, 1, 1000)(0)
        assert int(t.min()) >= 1 and int(t.max()) <= 1000
        low = float((t <= 100).float().mean())
        assert abs(low - p_low) < 5 * (p_low * (1 - p_low) / n) ** 0.5, (focus, low)
        if focus:  # within the focus range: uniform (its lower and upper halves level)
            inside = t[t <= 100]
            half = float((inside <= 50).float().mean())
            assert abs(half - 0.5) < 5 * (0.25 / len(inside)) ** 0.5
    with pytest.raises(ValueError, match="t-focus"):
        TrainConfig(data="-", out="-", **{**TINY, "t_focus": 2000}).check()
    with pytest.raises(ValueError, match="focus-share"):
        TrainConfig(data="-", out="-", **{**TINY, "t_focus": 100, "focus_share": 0}).check()
