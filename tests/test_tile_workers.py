"""TileWorkers (restore.priors.parallel): a pool of tile processes the caller owns. The same numbers
as in one process, its processes gone when it closes, another network's pool refused, and no pool
left behind by a library call."""
import multiprocessing as mp
import os

import numpy as np
import pytest
import torch
from torch import nn

import restore
from restore.priors import DDPM, UNet, UNetConfig, linear_schedule
from restore.priors.ddpm import with_precision
from restore.priors.parallel import TileWorkers
from restore.priors.tiling import TiledPrior


def _prior(seed: int) -> DDPM:
    """A tiny random patch prior (8x8 RGB tiles)."""
    torch.manual_seed(seed)
    net = UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1))
    for p in net.parameters():
        nn.init.normal_(p, std=0.05)
    return DDPM(net.eval(), linear_schedule(), image_size=8)


@pytest.fixture(scope="module")
def prior():
    return _prior(0)


@pytest.fixture(scope="module")
def photo():
    """A 40x36 RGB photo: 25 to 36 tiles of 8x8 per evaluation, more than the default batch of 16."""
    return (np.random.default_rng(0).random((40, 36, 3)) * 255).astype(np.uint8)


def _children() -> set[int]:
    return {p.pid for p in mp.active_children()}


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_pool_gives_the_numbers_of_one_process_and_stops_on_exit(prior, photo):
    before = _children()
    x = torch.randn(2, 3, 37, 29, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        one = TiledPrior(prior, batch=3, generator=torch.Generator().manual_seed(5)).eps(x, 300)
    alone = restore.denoise(photo, prior=prior, sigma_y=0.05, steps=3, samples=2, seed=1, workers=1)
    pool = TileWorkers(prior, 2)
    assert not pool.running and _children() == before  # nothing forked before it opens
    jobs, run = [], pool.run
    pool.run = lambda *args: (jobs.append(args[2:4]), run(*args))[1]  # the calls' tile ranges
    with pool:
        workers = _children() - before
        assert pool.running and len(workers) == 2
        with torch.no_grad():
            many = TiledPrior(prior, batch=3, generator=torch.Generator().manual_seed(5), workers=pool).eps(x, 300)
        assert torch.equal(one, many)
        shared = restore.denoise(photo, prior=prior, sigma_y=0.05, steps=3, samples=2, seed=1, workers=pool)
        assert np.array_equal(shared, alone)
        assert len(jobs) == 1 + 2 * 3  # the tiles went to the workers: eps above, 2 draws x 3 steps here
        assert pool.running and _children() - before == workers  # the caller's pool: used, left open
    assert not pool.running and _children() == before
    assert all(_gone(pid) for pid in workers)
    with torch.no_grad():  # a closed pool: in this process, the same numbers
        again = TiledPrior(prior, batch=3, generator=torch.Generator().manual_seed(5), workers=pool).eps(x, 300)
    assert torch.equal(one, again)
    pool.open()  # and it opens again
    assert pool.running and len(_children() - before) == 2
    pool.close()
    assert _children() == before


def test_a_pool_of_another_network_or_precision_is_refused(prior, photo):
    other = _prior(1)
    with TileWorkers(prior, 2) as pool:
        with pytest.raises(ValueError, match="another network"):
            TiledPrior(other, workers=pool)
        with pytest.raises(ValueError, match="another network"):
            TiledPrior(prior, workers=pool, precision="bf16")
        with pytest.raises(ValueError, match="another network"):
            restore.denoise(photo, prior=other, sigma_y=0.05, steps=2, samples=1, workers=pool)
        tiled = TiledPrior(prior, workers=pool)
        assert TiledPrior(tiled, workers=pool).workers is pool  # a tiled prior's pool: its wrapped prior's
    with TileWorkers(with_precision(prior, "bf16"), 2) as pool:
        with pytest.raises(ValueError, match="another network"):
            TiledPrior(prior, workers=pool)


def test_nothing_to_start_on_one_worker_or_another_device(prior):
    before = _children()
    with TileWorkers(prior, 1) as pool:
        assert not pool.running and _children() == before
    meta = DDPM(UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)).to("meta"), linear_schedule(),
                image_size=8)
    with TileWorkers(meta, 2) as pool:
        assert not pool.running and _children() == before


def test_a_library_call_leaves_no_pool(prior, photo):
    """restore.denoise(workers=2) on a CPU forks a pool for the call (its processes are up while the
    chain runs) and stops it before returning; the default (1) forks nothing."""
    before = _children()
    during = []
    out = restore.denoise(photo, prior=prior, sigma_y=0.05, steps=2, samples=1, seed=0, workers=2,
                          callback=lambda info: during.append(len(_children() - before)))
    assert during and all(n == 2 for n in during)
    assert _children() == before
    during.clear()
    alone = restore.denoise(photo, prior=prior, sigma_y=0.05, steps=2, samples=1, seed=0,
                            callback=lambda info: during.append(len(_children() - before)))
    assert during and all(n == 0 for n in during) and np.array_equal(out, alone)


def test_the_command_line_stops_its_workers(tmp_path, photo, monkeypatch):
    """`restore denoise --workers 2` opens one pool for the command and stops it on return: the
    bytes of --workers 1, and no process left behind."""
    from click.testing import CliRunner
    from PIL import Image

    from restore.cli import main
    from restore.priors import save_prior

    torch.manual_seed(0)
    save_prior(tmp_path / "tiny.safetensors", UNet(UNetConfig(channels=3, width=8, mults=(1, 2), num_res_blocks=1)),
               linear_schedule(), 8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    before, opened, real = _children(), [], TileWorkers.open
    monkeypatch.setattr(TileWorkers, "open", lambda self: (opened.append(self.n), real(self))[1])
    for n in (1, 2):
        r = CliRunner().invoke(main, ["denoise", str(tmp_path / "photo.png"), "--prior", str(tmp_path / "tiny.safetensors"),
                                      "--sigma-y", "0.05", "--steps", "2", "--samples", "1", "--device", "cpu",
                                      "--workers", str(n), "-o", str(tmp_path / f"w{n}.png")])
        assert r.exit_code == 0, r.output
        assert _children() == before
    assert opened == [2] and (tmp_path / "w1.png").read_bytes() == (tmp_path / "w2.png").read_bytes()
