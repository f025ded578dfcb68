"""Faults during training: SIGKILL at random moments (some during a checkpoint write) with resumption,
and a disk that fails while a checkpoint or an image is written (injected, and on a real full or
read-only tmpfs where this machine lets the test mount one)."""
from __future__ import annotations

import errno
import gc
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors import SafetensorError
from safetensors.torch import load_file

from restore.cli import main
from restore.priors.checkpoint import checkpoint_state, latest_checkpoint, load_prior, read_config
from restore.priors.train import TrainConfig, train

CKPT_EVERY = 5
ARGS = ["--size", "8", "--channels", "1", "--width", "8", "--mults", "1,2", "--res-blocks", "1", "--batch", "16",
        "--lr", "2e-3", "--warmup", "5", "--ckpt-every", str(CKPT_EVERY), "--log-every", "1", "--sample-every", "0",
        "--device", "cpu", "--seed", "0"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
FILES = ("model.safetensors", "ema.safetensors", "optimizer.safetensors")


def _launch(data, run: Path, steps: int) -> subprocess.Popen:
    resume = ["--resume"] if latest_checkpoint(run / "checkpoints") is not None else []
    return subprocess.Popen([sys.executable, "-m", "restore.cli", "train", str(data), *ARGS, "--steps", str(steps),
                             "-o", str(run), *resume], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _logged_steps(run: Path) -> list[int]:
    path = run / "log.jsonl"
    steps = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            steps.append(int(json.loads(line)["step"]))
        except (ValueError, KeyError):
            pass  # a line the kill cut short
    return steps


def _step_of(p: Path | None) -> int:
    return int(p.name.split("-")[1]) if p is not None else 0


def _check_whole(run: Path) -> int:
    """Every step-* directory is whole and consistent (what a resume may load); returns the newest step."""
    ck = run / "checkpoints"
    dirs = sorted(ck.glob("step-*")) if ck.is_dir() else []
    for d in dirs:
        state = checkpoint_state(d)
        for name in FILES:
            load_file(str(d / name))  # raises on a truncated or corrupt file
        assert read_config(d / "ema.safetensors")["train"]["step"] == state["step"] == _step_of(d)
    return _step_of(dirs[-1]) if dirs else 0


def _writing(ck: Path) -> bool:
    return ck.is_dir() and any(p.name.startswith(".tmp-step-") for p in os.scandir(ck))


def kill_and_resume(data, run: Path, *, kills: int, steps: int, seed: int) -> dict:
    """SIGKILL a `restore train` run `kills` times, resuming after each, then let it finish.

    Kills are placed by the run's progress, not by the clock, so they land alike on a slow or a
    fast machine: a random step in the next two checkpoint intervals (torch.Generator) plus a
    random 0-20 ms; every third kill instead waits for a checkpoint write to begin (a .tmp-step-*
    folder appears) and strikes at once (if the write is missed, two intervals on, a plain kill).
    Each run therefore advances at most about two intervals: steps > 2 x interval x kills leaves
    every kill a running process."""
    g = torch.Generator().manual_seed(seed)
    stats = {"kills": 0, "kills_in_checkpoint_write": 0, "max_steps_lost": 0, "steps": steps, "ckpt_every": CKPT_EVERY}
    ck = run / "checkpoints"
    while stats["kills"] < kills:
        before = _step_of(latest_checkpoint(ck))
        in_write = stats["kills"] % 3 == 2
        target = before + 1 + int(torch.randint(2 * CKPT_EVERY, (), generator=g))
        delay = float(torch.rand((), generator=g)) * 0.02
        proc = _launch(data, run, steps)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if in_write and _writing(ck) and max(_logged_steps(run), default=0) > before:
                break  # inside a checkpoint write of this run
            if max(_logged_steps(run), default=0) >= (before + 2 * CKPT_EVERY if in_write else target):
                time.sleep(0 if in_write else delay)
                break
            time.sleep(0.0005 if in_write else 0.002)
        assert proc.poll() is None, f"the run ended before kill {stats['kills'] + 1}: " + proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        stats["kills"] += 1
        if in_write and _writing(ck):
            stats["kills_in_checkpoint_write"] += 1  # the write was really cut (its temporary folder is left)
        newest = _check_whole(run)
        assert _step_of(latest_checkpoint(ck)) == newest  # what the resume loads
        done = max(_logged_steps(run), default=0)
        stats["max_steps_lost"] = max(stats["max_steps_lost"], done - newest)
        assert done - newest <= CKPT_EVERY, (done, newest)
    proc = _launch(data, run, steps)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-2000:]
    _check_whole(run)
    assert _logged_steps(run) == list(range(1, steps + 1))  # every step once: the redone ones replaced
    return stats


def _same_final(a: Path, b: Path, steps: int) -> bool:
    for name in FILES:
        x = load_file(str(a / f"checkpoints/step-{steps:09d}" / name))
        y = load_file(str(b / f"checkpoints/step-{steps:09d}" / name))
        if x.keys() != y.keys() or not all(torch.equal(x[k], y[k]) for k in x):
            return False
    return True


def _kill_test(tiny_npz, tmp_path, kills: int, steps: int, seed: int) -> dict:
    ref = subprocess.run([sys.executable, "-m", "restore.cli", "train", str(tiny_npz), *ARGS, "--steps", str(steps),
                          "-o", str(tmp_path / "ref")], env=ENV, capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr[-2000:]
    stats = kill_and_resume(tiny_npz, tmp_path / "run", kills=kills, steps=steps, seed=seed)
    stats["final_weights_equal"] = _same_final(tmp_path / "ref", tmp_path / "run", steps)
    assert stats["final_weights_equal"]  # model, EMA and optimizer bit for bit
    return stats


# slow: every `restore train` process takes about 3 s to start and write its first checkpoint, so even
# one kill (a reference run, the killed run, the resumed run) took 10 s, 3 kills 13-14 s (2 shared cores)
@pytest.mark.slow
@pytest.mark.parametrize("kills, seed", [(3, 0), (15, 1)])
def test_sigkill_and_resume(tiny_npz, tmp_path, capsys, kills, seed):
    """3 kills (one of them aimed at a checkpoint write) and 15, where at least one must land inside a
    write (5 tries; a try can miss the write, so not asserted at 3)."""
    stats = _kill_test(tiny_npz, tmp_path, kills=kills, steps=2 * CKPT_EVERY * kills + 12, seed=seed)
    with capsys.disabled():
        print(f"\nkill test: {stats}")
    assert stats["kills"] == kills
    if kills >= 15:
        assert stats["kills_in_checkpoint_write"] >= 1


# ---------------------------------------------------------------- a failing disk

TINY = dict(size=8, channels=1, width=8, mults=(1, 2), res_blocks=1, batch=16, lr=2e-3, warmup=5,
            ckpt_every=10, sample_every=0, log_every=5, device="cpu")


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _enospc(*args, **kwargs):
    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


def _erofs(*args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


def _eio(*args, **kwargs):
    raise OSError(errno.EIO, os.strerror(errno.EIO))


@pytest.mark.parametrize("target, fault, code", [
    ("restore.priors.prior_file.save_file", _enospc, errno.ENOSPC),  # safetensors' own error for a full disk
    ("os.rename", _erofs, errno.EROFS),  # the rename of the finished checkpoint
    ("os.fsync", _eio, errno.EIO),
])
def test_failing_disk_keeps_previous_checkpoint(tiny_npz, tmp_path, monkeypatch, target, fault, code):
    cfg = TrainConfig(data=str(tiny_npz), out=str(tmp_path / "run"), steps=10, **TINY)
    train(cfg, progress=False)
    ck = tmp_path / "run" / "checkpoints"
    before = _snapshot(ck)
    with monkeypatch.context() as m:
        m.setattr(target, fault)
        with pytest.raises(OSError) as e:
            train(TrainConfig(**{**cfg.__dict__, "steps": 20}), resume=True, progress=False)
    assert e.value.errno == code and "step-000000020 not written" in str(e.value) and "step-000000010" in str(e.value)
    assert _snapshot(ck) == before  # the previous checkpoint byte for byte, no temporary left
    assert load_prior(tmp_path / "run").meta["train"]["step"] == 10
    train(TrainConfig(**{**cfg.__dict__, "steps": 20}), resume=True, progress=False)  # space again: it goes on
    train(TrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "ref"), "steps": 20}), progress=False)
    assert _same_final(tmp_path / "ref", tmp_path / "run", 20)


def test_failing_disk_cli_one_line(tiny_npz, tmp_path, monkeypatch):
    args = ["train", str(tiny_npz), *ARGS, "--steps", "10", "-o", str(tmp_path / "run")]
    assert CliRunner().invoke(main, args).exit_code == 0
    monkeypatch.setattr("restore.priors.prior_file.save_file", _enospc)
    r = CliRunner().invoke(main, [*args[:-4], "--steps", "20", "-o", str(tmp_path / "run"), "--resume"])
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "step-000000010" in lines[0], r.stderr
    assert "Traceback" not in r.output


def test_failing_disk_while_writing_an_image(tmp_path, monkeypatch):
    from PIL import Image

    from restore.io import write_image

    write_image(tmp_path / "o.png", torch.full((3, 4, 4), 0.5))
    before = _snapshot(tmp_path)
    monkeypatch.setattr(Image.Image, "save", _enospc_os)
    with pytest.raises(OSError) as e:
        write_image(tmp_path / "o.png", torch.zeros(3, 4, 4))
    assert e.value.errno == errno.ENOSPC and _snapshot(tmp_path) == before


def _enospc_os(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _mount_tmpfs(path: Path, size: int) -> None:
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights)")


def test_real_full_and_read_only_disk(tiny_npz, tmp_path):
    """The checkpoints folder is a tmpfs 1.5 times the size of one checkpoint: the second cannot fit
    (ENOSPC from the real file system); then it is remounted read-only (EROFS, even for root)."""
    cfg = TrainConfig(data=str(tiny_npz), out=str(tmp_path / "probe"), steps=10, **{**TINY, "keep": 1})
    train(cfg, progress=False)
    one = sum(p.stat().st_size for p in (tmp_path / "probe/checkpoints").rglob("*") if p.is_file())
    ck = tmp_path / "run" / "checkpoints"
    ck.mkdir(parents=True)
    _mount_tmpfs(ck, (one * 3 // 2 // 4096 + 1) * 4096)
    try:
        cfg = TrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "run")})
        train(cfg, progress=False)
        before = _snapshot(ck)
        with pytest.raises(OSError) as e:
            train(TrainConfig(**{**cfg.__dict__, "steps": 20}), resume=True, progress=False)
        assert e.value.errno == errno.ENOSPC and "step-000000010" in str(e.value), e.value
        assert _snapshot(ck) == before
        subprocess.run(["mount", "-o", "remount,ro", str(ck)], check=True)
        with pytest.raises(OSError) as e:
            train(TrainConfig(**{**cfg.__dict__, "steps": 20}), resume=True, progress=False)
        assert e.value.errno == errno.EROFS and "step-000000010" in str(e.value), e.value
        assert _snapshot(ck) == before
        assert load_prior(tmp_path / "run").meta["train"]["step"] == 10
    finally:
        gc.collect()  # safetensors maps the files it loads: release them first
        if subprocess.run(["umount", str(ck)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(ck)], check=True)
