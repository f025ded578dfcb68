"""Many files: --batch-files (files of one size as one batch) and sharding across processes
(torchrun's RANK / WORLD_SIZE), with a tiny random prior on 32x32 files."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from skimage import data as skdata

from restore import api

from restore import pipeline
from restore.cli import main
from restore.files import plan_groups, restore_files
from restore.priors.parallel import process_shard
from restore.priors import UNet, UNetConfig, linear_schedule, save_prior

NAMES = ["a.png", "b.png", "c.png", "d.png", "e.png"]


@pytest.fixture
def shots(tmp_path):
    """tiny.safetensors and shots/: a, b, c RGB 32x32, d RGBA 32x32 (batches with them), e gray 24x24."""
    torch.manual_seed(0)
    save_prior(tmp_path / "tiny.safetensors", UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)),
               linear_schedule(), 8)
    d = tmp_path / "shots"
    d.mkdir()
    astro = skdata.astronaut()
    for k, name in enumerate(NAMES[:3]):
        Image.fromarray(astro[k * 5 :: 16, ::16][:32, :32]).save(d / name)
    alpha = np.linspace(0, 255, 32 * 32).reshape(32, 32).astype(np.uint8)
    Image.fromarray(np.dstack([astro[::16, 8::16][:32, :32], alpha]), "RGBA").save(d / "d.png")
    Image.fromarray(skdata.camera()[::16, ::16][:24, :24]).save(d / "e.png")
    return tmp_path


def cli(shots, out, *args, env=None):
    return CliRunner().invoke(main, ["denoise", str(shots / "shots" / "*.png"), "--prior", str(shots / "tiny.safetensors"),
                                     "--steps", "2", "-o", str(out), *args], env=env)


def pixels(path):
    return np.asarray(Image.open(path))


def test_files_of_one_size_run_as_one_batch(shots):
    (shots / "out").mkdir()
    r = cli(shots, shots / "out", "--sigma-y", "0.02", "--batch-files", "3")
    assert r.exit_code == 0, r.output
    assert r.output.count("a batch of 3") == 3 and "a batch of" not in r.output.split("d.png")[-1]
    for name, mode in zip(NAMES, ["RGB", "RGB", "RGB", "RGBA", "L"]):
        assert Image.open(shots / "out" / name).mode == mode
    assert np.array_equal(pixels(shots / "out" / "d.png")[..., 3], pixels(shots / "shots" / "d.png")[..., 3])
    # the file loop's batch is restore_batch's
    prior = pipeline.load_prior(str(shots / "tiny.safetensors"), "cpu")
    ims = [Image.open(shots / "shots" / n) for n in NAMES[:3]]
    for im, got in zip(pipeline.restore_batch(ims, "denoise", {}, prior=prior, steps=2, sigma_y=0.02), NAMES):
        assert np.array_equal(np.asarray(im), pixels(shots / "out" / got))
    # a batch of one is the one-image restoration, draw for draw
    one = pipeline.restore_batch(ims[:1], "denoise", {}, prior=prior, steps=2, sigma_y=0.02)[0]
    assert np.array_equal(np.asarray(one), np.asarray(api.denoise(ims[0], prior=prior, steps=2, sigma_y=0.02)))
    # an estimated noise level differs from file to file: no batches
    (shots / "est").mkdir()
    r = cli(shots, shots / "est", "--batch-files", "3")
    assert r.exit_code == 0, r.output
    assert "a batch of" not in r.output and r.output.count("estimated noise") == 5


def test_batch_needs_one_size_and_one_noise_level(shots):
    ims = [Image.open(shots / "shots" / n) for n in ("a.png", "e.png")]
    with pytest.raises(ValueError, match="one size"):
        pipeline.restore_batch(ims, "denoise", {}, prior=str(shots / "tiny.safetensors"), sigma_y=0.02)
    with pytest.raises(ValueError, match="noise levels differ"):
        pipeline.restore_batch([Image.open(shots / "shots" / n) for n in ("a.png", "b.png")], "denoise", {},
                          prior=str(shots / "tiny.safetensors"))


@pytest.mark.parametrize("c,pc", [(3, 1), (1, 3), (3, 3)])
def test_prior_channels_of_a_batch(c, pc):
    """Each image of a batch keeps its own channels through a prior of other channels."""
    from restore.images import from_prior_channels, to_prior_channels

    y = torch.rand(2, c, 5, 4)
    z = to_prior_channels(y, pc)
    assert z.shape[1] == pc and z.shape[0] == (2 * c if pc == 1 else 2)
    assert torch.allclose(from_prior_channels(z, c, pc), y, rtol=0, atol=1e-6)  # gray: the mean of 3 equal channels


def test_plan_groups():
    keys = ["s", "s", None, "t", "s", "s", "t"]
    assert plan_groups(keys, [1] * 7, 2, 100) == [[0, 1], [2], [3, 6], [4, 5]]
    assert plan_groups(keys, [1] * 7, 1, 100) == [[i] for i in range(7)]
    assert plan_groups(keys, [40] * 7, 3, 100) == [[0, 1], [2], [3, 6], [4, 5]]  # at most --max-pixels at once


def test_shards_do_not_change_any_file(shots):
    """Batches are formed over all inputs and then shared out, so a world of 2 writes the bytes a
    world of 1 does, batched or not; each file is written by one rank."""
    prior = pipeline.load_prior(str(shots / "tiny.safetensors"), "cpu")
    files = [str(shots / "shots" / "*.png")]
    for batch in (1, 2):
        outs = {}
        for world in (1, 2):
            o = shots / f"o{batch}{world}"
            o.mkdir()
            done = [restore_files("denoise", files, o, shard=(r, world), batch_files=batch, prior=prior, steps=2,
                                  sigma_y=0.02, echo=lambda m: None) for r in range(world)]
            assert sorted(p.name for d in done for p in d) == NAMES  # each file once
            outs[world] = {n: (o / n).read_bytes() for n in NAMES}
        assert outs[1] == outs[2], batch


def test_rank_from_the_environment(shots, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert process_shard() == (0, 1)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert process_shard() == (1, 3)
    (shots / "out").mkdir()
    for rank, world, message in [("x", "2", "must be integers"), ("2", "2", "must lie in 0..WORLD_SIZE-1")]:
        r = cli(shots, shots / "out", "--sigma-y", "0.02", env={"RANK": rank, "WORLD_SIZE": world})
        assert r.exit_code == 2 and message in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not any((shots / "out").iterdir())


def test_skip_existing(shots):
    (shots / "out").mkdir()
    r = cli(shots, shots / "out", "--sigma-y", "0.02")
    assert r.exit_code == 0, r.output
    before = {n: (shots / "out" / n).stat().st_mtime_ns for n in NAMES}
    r = cli(shots, shots / "out", "--sigma-y", "0.02")
    assert r.exit_code == 2 and "exists; pass --overwrite" in r.output
    r = cli(shots, shots / "out", "--sigma-y", "0.02", "--skip-existing", "--overwrite")
    assert r.exit_code == 2 and "exclude each other" in r.output
    (shots / "out" / "c.png").unlink()
    r = cli(shots, shots / "out", "--sigma-y", "0.02", "--skip-existing")
    assert r.exit_code == 0, r.output
    assert r.output.count("exists: skipped") == 4 and "c.png (" in r.output
    assert all((shots / "out" / n).stat().st_mtime_ns == before[n] for n in NAMES if n != "c.png")
    # a file with only some of its outputs there is refused, before anything is written
    (shots / "deg").mkdir()
    (shots / "deg" / "b_observed.png").write_bytes(b"mine")
    r = cli(shots, shots / "deg", "--sigma-y", "0.02", "--degrade", "--skip-existing")
    assert r.exit_code == 2 and "b_observed.png exists" in r.output and len(r.output.strip().splitlines()) == 1
    assert [p.name for p in (shots / "deg").iterdir()] == ["b_observed.png"]
    assert (shots / "deg" / "b_observed.png").read_bytes() == b"mine"


def test_two_processes_write_what_one_does(shots):
    """The command line in 2 processes (RANK / WORLD_SIZE as torchrun sets them) writes the bytes
    1 process does; a rerun (skipping is the default under several processes) skips the finished
    outputs and restores a missing one. The reference and the rerun run in this process."""
    args = ["denoise", str(shots / "shots" / "*.png"), "--sigma-y", "0.02", "--prior", str(shots / "tiny.safetensors"),
            "--steps", "2", "--device", "cpu", "-o"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"  # as this process (conftest)
    for d in ("one", "two"):
        (shots / d).mkdir()
    r = CliRunner().invoke(main, args + [str(shots / "one")])
    assert r.exit_code == 0, r.output
    procs = [subprocess.Popen([sys.executable, "-m", "restore.cli", *args, str(shots / "two")],
                              env={**env, "RANK": str(r), "WORLD_SIZE": "2", "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    said = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), said
    assert [sorted(n for n in NAMES if f"{n} (" in out) for out, _ in said] == [["a.png", "c.png", "e.png"],
                                                                               ["b.png", "d.png"]]
    one = {n: (shots / "one" / n).read_bytes() for n in NAMES}
    assert {n: (shots / "two" / n).read_bytes() for n in NAMES} == one
    (shots / "two" / "d.png").unlink()
    before = {n: (shots / "two" / n).stat().st_mtime_ns for n in NAMES if n != "d.png"}
    for rank, skipped in ((0, 3), (1, 1)):
        r = CliRunner().invoke(main, args + [str(shots / "two")], env={"RANK": str(rank), "WORLD_SIZE": "2"})
        assert r.exit_code == 0 and r.output.count("exists: skipped") == skipped, r.output
    assert "d.png (" in r.output
    assert {n: (shots / "two" / n).stat().st_mtime_ns for n in before} == before
    assert {n: (shots / "two" / n).read_bytes() for n in NAMES} == one


def test_a_rank_checks_only_its_own_outputs(shots):
    """Another rank's outputs (which appear while this one starts) are no error, even without skipping."""
    o = shots / "o"
    o.mkdir()
    kw = dict(prior=pipeline.load_prior(str(shots / "tiny.safetensors"), "cpu"), steps=2, sigma_y=0.02, degrade=True,
              skip_existing=False, echo=lambda m: None)
    restore_files("denoise", [str(shots / "shots" / "*.png")], o, shard=(0, 2), **kw)
    restore_files("denoise", [str(shots / "shots" / "*.png")], o, shard=(1, 2), **kw)
    assert len(list(o.iterdir())) == 10  # 5 results, 5 observations
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        restore_files("denoise", [str(shots / "shots" / "*.png")], o, shard=(1, 2), **kw)


def test_a_batch_with_a_missing_output_is_restored_whole(shots):
    """Rerun with --batch-files: the missing file gets the bytes of the first run (its batch is the
    same), the finished ones are kept as they are."""
    (shots / "out").mkdir()
    r = cli(shots, shots / "out", "--sigma-y", "0.02", "--batch-files", "2")
    assert r.exit_code == 0, r.output
    first = {n: (shots / "out" / n).read_bytes() for n in NAMES}
    mtime = (shots / "out" / "a.png").stat().st_mtime_ns
    (shots / "out" / "b.png").unlink()
    r = cli(shots, shots / "out", "--sigma-y", "0.02", "--batch-files", "2", "--skip-existing")
    assert r.exit_code == 0, r.output
    assert "a.png exists: kept" in r.output and "b.png (" in r.output and r.output.count("exists: skipped") == 3
    assert {n: (shots / "out" / n).read_bytes() for n in NAMES} == first
    assert (shots / "out" / "a.png").stat().st_mtime_ns == mtime
