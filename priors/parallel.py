"""A tiled prior's tile batches across processes: CPU worker processes and torch.distributed ranks.

Worker processes (`TileWorkers`, CPU only, no gradient recorded): a pool the caller opens and closes,
    with TileWorkers(prior, n) as pool:
        TiledPrior(prior, workers=pool).eps(x_t, t)
forks n processes on enter (spawns them where there is no fork), each holding a copy of the prior and
running one intra-op thread, and stops them on exit (or `close()`). A call of a TiledPrior given the
pool splits its tile batches, whole batches at a time, across them (`TileWorkers.run`). The tiles,
the batches and the network's arithmetic are the same as in one process (a network's output does not
depend on its thread count), so the numbers are too. A call that records a gradient, or runs on
another device, evaluates in-process; so does a pool that is not open, and a pool of 1.

Ranks (TiledPrior's `ranks`: True for torch.distributed's default process group, or a group; every
rank of it runs the same chain, with the same seed): the same whole batches are shared out again,
rank r of W taking batches r nb // W .. (r + 1) nb // W - 1 of the nb of a call (`tile_share`;
through its own workers when it has them); the tiles are cut from the group's first rank's x_t
(`from_first_rank`: broadcast), and each rank's tile eps are gathered into every rank's result
(`share_tiles`: all_gather; on the CPU for a gloo group, on the tensors' device otherwise). The same
tiles in the same batches: the numbers of one process, which the first rank's result keeps even if
another's chain drifts (GPUs, mixed machines).

Also here, for the processes a command line runs in: `process_shard` (this process's rank and world),
`check_rendezvous` and `join_process_group` (torchrun's environment).
"""
from __future__ import annotations

import os
import sys

import torch
from torch import Tensor

__all__ = ["TileWorkers", "default_workers", "tile_share", "process_group", "world_size", "comm_device",
           "from_first_rank", "share_tiles", "process_shard", "check_rendezvous", "join_process_group"]

_WORKER_PRIOR = None  # in a worker process: its copy of the prior (set by the pool's initializer)


def default_workers(device) -> int:
    """The tile workers the command line uses by default on `device`: every core of a CPU (tiles across
    processes measured faster than intra-op threads: benchmarks/cores.py), shared among the
    processes torchrun starts on this machine (LOCAL_WORLD_SIZE), 1 (in-process) elsewhere."""
    if torch.device(device).type != "cpu":
        return 1
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        local = 1
    return max(1, n // local)


def _init_worker(prior) -> None:
    global _WORKER_PRIOR
    torch.set_num_threads(1)
    _WORKER_PRIOR = prior


def _worker_eps(tiles: Tensor, t: Tensor, batch: int) -> Tensor:
    with torch.no_grad():
        return torch.cat([_WORKER_PRIOR.eps(tiles[s : s + batch], t[s : s + batch]) for s in range(0, len(tiles), batch)])


class TileWorkers:
    """`n` processes that evaluate tile batches of `prior` (a DDPM, or a TiledPrior: its wrapped
    prior), owned by the caller: `open()` (or entering a `with`) forks them, `close()` (or leaving it)
    stops them; nothing outlives the pool. Forked on Linux (the workers inherit the prior, and a script
    without a `if __name__ == "__main__"` guard still works), spawned elsewhere; from a process set to
    one intra-op thread while they start (its own count is restored after), so they are forked without
    a thread pool. Opened before the large buffers of a restoration exist, they keep no copies of them.
    A bf16 prior's bfloat16 network copy is made before, once, and shared by the forked workers.
    Nothing is started for n <= 1, a prior without a network, or a device other than the CPU
    (`running` stays False, and a TiledPrior given the pool evaluates in-process)."""

    def __init__(self, prior, n: int):
        if isinstance(n, bool) or int(n) != n or int(n) < 1:
            raise ValueError(f"workers must be an integer >= 1, got {n!r}")
        self.prior = getattr(prior, "prior", prior)
        self.n = int(n)
        self._executor = None

    def __repr__(self) -> str:
        return (f"TileWorkers({self.n}, {type(self.prior).__name__}, precision={self.precision!r}, "
                f"{'running' if self.running else 'not running'})")

    @property
    def net(self):
        return getattr(self.prior, "net", None)

    @property
    def precision(self) -> str:
        return getattr(self.prior, "precision", "fp32")

    @property
    def running(self) -> bool:
        """Whether worker processes are up (open, and there was something to start)."""
        return self._executor is not None

    def holds(self, prior) -> bool:
        """Whether the workers run `prior`'s network (a TiledPrior: its wrapped prior's) at its precision."""
        inner = getattr(prior, "prior", prior)
        return getattr(inner, "net", None) is self.net and getattr(inner, "precision", "fp32") == self.precision

    def check(self, prior) -> None:
        """ValueError unless the workers run `prior`'s network at its precision (`holds`)."""
        if not self.holds(prior):
            inner = getattr(prior, "prior", prior)
            raise ValueError(f"these tile workers hold another network or precision ({self.precision}) than the "
                             f"prior's ({getattr(inner, 'precision', 'fp32')}): open TileWorkers with that prior")

    def open(self) -> "TileWorkers":
        """Start the workers now (class docstring); no-op when they run or there is nothing to start."""
        if self._executor is not None or self.n <= 1 or self.net is None:
            return self
        if torch.device(getattr(self.prior, "device", "cpu")).type != "cpu":
            return self
        import concurrent.futures as cf

        import torch.multiprocessing as tmp

        if self.precision == "bf16" and hasattr(self.prior, "_bf16_net"):
            self.prior._bf16_net()  # made once here, shared by the forked workers
        method = "fork" if "fork" in tmp.get_all_start_methods() and sys.platform.startswith("linux") else "spawn"
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the workers are forked from a process without a thread pool
        try:
            ex = cf.ProcessPoolExecutor(self.n, mp_context=tmp.get_context(method), initializer=_init_worker,
                                        initargs=(self.prior,))
            try:
                for f in [ex.submit(int) for _ in range(self.n)]:
                    f.result()
            except BaseException:
                ex.shutdown(wait=True, cancel_futures=True)
                raise
        finally:
            torch.set_num_threads(threads)  # this process's own work (the solver's arithmetic) runs while they wait
        self._executor = ex
        return self

    def close(self) -> None:
        """Stop the worker processes (waits for them to exit); the pool can be opened again."""
        ex, self._executor = self._executor, None
        if ex is not None:
            ex.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "TileWorkers":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, view: Tensor, t: Tensor, lo: int, hi: int, batch: int, put) -> None:
        """Evaluate tiles lo..hi-1 (lo: a batch's start) of the unfolded view (B, C, ny, nx, k, k), with
        t (B,), in whole batches of `batch` across the workers, handing each job's eps to put(idx, e)
        (idx: the tiles' indices into the B x ny x nx list): jobs of whole batches, at most two per
        worker in flight (memory: a few jobs of tiles, not all of them). The pool must be running."""
        _, _, ny, nx, _, _ = view.shape
        nb = -(-(hi - lo) // batch)
        per_job = batch * max(1, min(8, -(-nb // (2 * self.n))))  # whole batches
        pending: list = []

        def collect():
            idx, fut = pending.pop(0)
            put(idx, fut.result())

        for s in range(lo, hi, per_job):
            idx = torch.arange(s, min(s + per_job, hi))
            bi, yi, xi = idx // (ny * nx), (idx // nx) % ny, idx % nx
            pending.append((idx, self._executor.submit(_worker_eps, view[bi, :, yi, xi].contiguous(), t[bi], batch)))
            if len(pending) >= 2 * self.n:
                collect()
        while pending:
            collect()


def tile_share(n: int, batch: int, rank: int, world: int) -> tuple[int, int]:
    """The tiles [lo, hi) of a call's n that rank `rank` of `world` evaluates: whole batches of
    `batch` (they start where one process's do), rank r taking batches r nb // world .. (r + 1)
    nb // world - 1 of the nb = ceil(n / batch); the shares cover 0..n once, in rank order."""
    nb = -(-int(n) // int(batch))
    return min(n, rank * nb // world * batch), min(n, (rank + 1) * nb // world * batch)


def process_group(ranks):
    """The process group `ranks` names (True: the default one), checked initialised; None for False."""
    if ranks is None or ranks is False:
        return None
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError("splitting the tiles across ranks needs an initialised torch.distributed process "
                         "group (torch.distributed.init_process_group, in every process torchrun starts)")
    return dist.group.WORLD if ranks is True else ranks


def world_size(group) -> int:
    """The ranks of `group` (None: 1, this process alone)."""
    import torch.distributed as dist

    return 1 if group is None else dist.get_world_size(group)


def comm_device(group, device: torch.device) -> torch.device:
    """Where the collectives' tensors live: the CPU for a gloo group, `device` otherwise (nccl)."""
    import torch.distributed as dist

    return torch.device("cpu") if dist.get_backend(group) == "gloo" else device


def from_first_rank(group, x_t: Tensor) -> Tensor:
    """x_t as the group's first rank has it (broadcast; a copy, the caller's is not written)."""
    import torch.distributed as dist

    x = x_t.detach().to(comm_device(group, x_t.device), copy=True).contiguous()
    dist.broadcast(x, dist.get_global_rank(group, 0), group=group)
    return x.to(x_t.device)


def share_tiles(group, n: int, batch: int, run, put, core_shape: tuple, dtype: torch.dtype,
                device: torch.device) -> None:
    """A call's n tiles evaluated with their batches shared out across the ranks of `group`
    (`tile_share`): run(lo, hi, keep) evaluates this rank's share, handing the cores e (m, *core_shape)
    of tiles idx to keep(idx, e), which writes them into a buffer of the largest share's size; every
    rank's buffer is gathered (all_gather) and each share's cores are handed to put(idx, e) on
    `device`, in rank order. eps has x_t's channels and dtype (the Prior protocol), so a rank without
    tiles knows the buffer too. Memory: the gathered cores (as large as the result)."""
    import torch.distributed as dist

    world, rank = world_size(group), dist.get_rank(group)
    shares = [tile_share(n, batch, r, world) for r in range(world)]
    dev = comm_device(group, device)
    lo, hi = shares[rank]
    mine = torch.zeros((max(e - s for s, e in shares), *core_shape), dtype=dtype, device=dev)

    def keep(idx: Tensor, e: Tensor) -> None:
        mine[idx.to(dev) - lo] = e.to(dev)

    run(lo, hi, keep)
    parts = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(parts, mine, group=group)
    for (s, e), part in zip(shares, parts):
        if e > s:
            put(torch.arange(s, e), part[: e - s].to(device))


def process_shard() -> tuple[int, int]:
    """(rank, world size) of this process: torch.distributed's when a process group is
    initialised, else the RANK and WORLD_SIZE that torchrun sets, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    if rank is None and world is None:
        return 0, 1
    try:
        r, w = int(rank if rank is not None else 0), int(world if world is not None else 1)
    except ValueError:
        raise ValueError(f"RANK={rank} and WORLD_SIZE={world} must be integers") from None
    if not (w >= 1 and 0 <= r < w):
        raise ValueError(f"RANK={rank} must lie in 0..WORLD_SIZE-1 (WORLD_SIZE={world})")
    return r, w


def check_rendezvous() -> None:
    """ValueError unless a process group is initialised or torchrun's environment can make one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(k)]
    if missing or not dist.is_available():
        raise ValueError(f"--split-tiles with several processes needs torchrun (or torch.distributed's "
                         f"environment): {' and '.join(missing) or 'torch.distributed'} not available")


def join_process_group(device: torch.device) -> bool:
    """Initialise torch.distributed's default process group from torchrun's environment (nccl for a
    CUDA device, gloo otherwise) unless one is; True when made here."""
    import torch.distributed as dist

    if dist.is_initialized():
        return False
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True
