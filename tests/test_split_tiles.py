"""One photo's tiles shared out across processes (TiledPrior's ranks, --split-tiles): 2 gloo
processes give the bytes of one, with a tiny random prior on photos larger than its 8x8 tiles."""
import os
import socket
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
from restore.priors import UNet, UNetConfig, linear_schedule, save_prior
from restore.priors.parallel import TileWorkers, tile_share
from restore.priors.tiling import TiledPrior

X_SHAPE = (2, 3, 37, 29)  # tile lists of 2 x 20..30 tiles: 7..10 batches of 3, shared unevenly


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """tiny.safetensors (8x8 RGB patches) and photo.png (RGB 40x36)."""
    d = tmp_path_factory.mktemp("split")
    torch.manual_seed(0)
    save_prior(d / "tiny.safetensors", UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)),
               linear_schedule(), 8)
    Image.fromarray(skdata.astronaut()[100:140, 180:216]).save(d / "photo.png")
    return d


def test_tile_share_covers_the_list_in_whole_batches():
    for n in (1, 5, 16, 17, 60):
        for batch in (1, 3, 16):
            for world in (1, 2, 3, 7):
                shares = [tile_share(n, batch, r, world) for r in range(world)]
                assert shares[0][0] == 0 and shares[-1][1] == n
                assert all(a[1] == b[0] for a, b in zip(shares, shares[1:]))
                assert all(lo % batch == 0 and lo <= hi for lo, hi in shares)
                sizes = [-(-(hi - lo) // batch) for lo, hi in shares]
                assert max(sizes) - min(sizes) <= 1  # batches shared evenly


def _eps(prior, x, **kw):
    with torch.no_grad():
        return [TiledPrior(prior, batch=3, generator=torch.Generator().manual_seed(5), **kw).eps(x, t)
                for t in (20, 700)]


def _rank(rank, world, port, d):
    """A process of the spawned group: its eps (each rank's x_t differs; the first rank's counts)
    with and without tile workers, the tiles its network saw, and a denoising by tiles."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        prior = pipeline.load_prior(str(d / "tiny.safetensors"), "cpu", "fp32")
        seen, eps = [], prior.eps
        prior.eps = lambda x, t: (seen.append(len(x)), eps(x, t))[1]
        x = torch.randn(X_SHAPE, generator=torch.Generator().manual_seed(3)) + rank  # the lead's x_t is used
        one = _eps(prior, x, ranks=True)
        tiles = sum(seen)
        with TileWorkers(prior, 2) as pool:
            many = _eps(prior, x, ranks=True, workers=pool)
        photo = np.asarray(Image.open(d / "photo.png"))
        res = api.denoise(photo, prior=prior, sigma_y=0.05, samples=2, seed=1, workers=1, split_tiles=True)
        torch.save({"one": one, "many": many, "tiles": tiles, "res": res}, d / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_give_the_eps_and_the_restoration_of_one(shots):
    """Each rank evaluates about half of the tiles; every rank's eps and restoration is, bit for
    bit, one process's (tiles cut from rank 0's x_t); tile workers inside a rank change nothing."""
    import torch.multiprocessing as mp

    mp.spawn(_rank, args=(2, _free_port(), shots), nprocs=2)
    got = [torch.load(shots / f"rank{r}.pt", weights_only=False) for r in range(2)]
    prior = pipeline.load_prior(str(shots / "tiny.safetensors"), "cpu", "fp32")
    seen, eps = [], prior.eps
    prior.eps = lambda x, t: (seen.append(len(x)), eps(x, t))[1]
    ref = _eps(prior, torch.randn(X_SHAPE, generator=torch.Generator().manual_seed(3)))
    assert all(0 < g["tiles"] < sum(seen) for g in got) and sum(g["tiles"] for g in got) == sum(seen)
    for g in got:
        assert all(torch.equal(a, b) for a, b in zip(g["one"], ref))
        assert all(torch.equal(a, b) for a, b in zip(g["many"], ref))
    photo = np.asarray(Image.open(shots / "photo.png"))
    alone = api.denoise(photo, prior=prior, sigma_y=0.05, samples=2, seed=1, workers=1)
    assert all(np.array_equal(g["res"], alone) for g in got)
    with pytest.raises(ValueError, match="needs an initialised torch.distributed process group"):
        api.denoise(photo, prior=prior, sigma_y=0.05, split_tiles=True)


def test_split_tiles_under_torchrun_writes_the_bytes_of_one_process(shots, tmp_path):
    """The command line under torchrun (2 gloo processes) with --split-tiles: rank 0 writes the
    one output (nothing else is left in the folder), byte-identical to a one-process run."""
    args = ["denoise", str(shots / "photo.png"), "--prior", str(shots / "tiny.safetensors"), "--sigma-y", "0.05",
            "--samples", "2", "--device", "cpu", "--workers", "1", "-o"]
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    r = CliRunner().invoke(main, args + [str(tmp_path / "one" / "photo.png")])
    assert r.exit_code == 0, r.output
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "restore.cli", *args, str(tmp_path / "two" / "photo.png"), "--split-tiles"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("photo.png (") == 1, r.stdout  # only rank 0 speaks
    assert [p.name for p in (tmp_path / "two").iterdir()] == ["photo.png"]
    assert (tmp_path / "two" / "photo.png").read_bytes() == (tmp_path / "one" / "photo.png").read_bytes()


def test_split_tiles_without_a_rendezvous_is_a_clear_error(shots, tmp_path, monkeypatch):
    """Several processes (RANK / WORLD_SIZE) but no torchrun rendezvous: exit 2, one line, nothing
    written; in one process --split-tiles has nothing to share and changes nothing."""
    for k in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    args = ["denoise", str(shots / "photo.png"), "--prior", str(shots / "tiny.safetensors"), "--sigma-y", "0.05",
            "--samples", "1", "--device", "cpu", "--workers", "1", "--split-tiles", "-o"]
    r = CliRunner().invoke(main, args + [str(tmp_path)], env={"RANK": "1", "WORLD_SIZE": "2"})
    assert r.exit_code == 2 and "--split-tiles with several processes needs torchrun" in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1 and not any(tmp_path.iterdir())
    r = CliRunner().invoke(main, args + [str(tmp_path / "a.png")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, args[:-2] + ["-o", str(tmp_path / "b.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
