"""Tiled evaluation of eps: a prior trained on patches applied to images of any size.

`TiledPrior(prior, tile, overlap, batch, generator)` has the interface the samplers and solvers use
(`Prior` in protocol.py, with `min_size` = the tile; also `x0_from_eps`, `q_sample`,
`image_size`, `channels`, `net`, `meta`) and evaluates eps(x_t, t) on a (B, C, H, W) image by
tiles of `tile` x `tile` pixels (the prior's training size):

- the tile grid has stride core = tile - 2 overlap and is shifted by an offset (oy, ox), drawn
  uniformly in [0, core)^2 from `generator` afresh at EVERY call; the pixel at row i belongs to
  the tile core whose rows cover i + oy of the shifted grid, so every pixel is covered exactly
  once per call (no blending). Each tile is the core plus `overlap` pixels of context on each
  side; only its core is kept. Seams (and the tiles' border effects) move from call to call, so
  over the steps of a sampler they average out instead of printing a fixed grid.
- where a tile reaches beyond the image it is filled by `boundary`: "reflect" (mirror without
  repeating the edge, repeated for tiles larger than the image; the default), "wrap" (the image
  as a torus) or "zeros" (the index map is restore.operators.padding.extend_index).
- the tiles go through the network `batch` at a time (the image's B x tiles are one list), so
  activation memory is bounded by one batch of tiles, whatever the image size.

Gradients (DPS, PiGDM take d x0_hat / d x_t through the network under torch.enable_grad): the
tiled eps is differentiable (gather, network, scatter are autograd ops). The tiles always run
through the network `batch` at a time; what the backward pass keeps depends on how many tiles a
call records:
- up to `keep` tiles (default 256): every tile batch's activations are kept, as in an untiled
  call.
- more than `keep` tiles, with `checkpoint=True` (the default): each tile batch runs under
  torch.utils.checkpoint; the graph keeps only each batch's input and output and the backward pass
  recomputes the network's activations one tile batch at a time, so peak activation memory is that
  of one tile batch (forward plus backward) whatever the image size, at the cost of one more
  forward per tile (time and memory of both: `python -m restore.benchmarks.tile_grad`).
- `checkpoint=False` keeps every tile's activations whatever their number.
The numbers do not depend on the choice: the same tiles in the same batches, the same gradient.
With no gradient recorded the tiles run as plain forward passes.

Worker processes (`workers` > 1, CPU only, no gradient recorded): the tile batches are split, whole
batches at a time, across that many processes (forked on Linux, spawned elsewhere), each holding a copy of the prior (sent once,
when the first call needs them; kept for later calls on the same network and precision) and running
one intra-op thread; one pool lives at a time (a call with another network or precision replaces
it; `shutdown_workers()` stops it). The tiles, the batches and the network's arithmetic are the same as in one
process (a network's output does not depend on its thread count), so the numbers are too. A call
that records a gradient, or runs on another device, evaluates in-process.

Ranks (`ranks`: True for torch.distributed's default process group, or a group; every rank of it
runs the same chain, with the same seed): the same whole batches are shared out again, rank r of W
taking batches r nb // W .. (r + 1) nb // W - 1 of the nb of a call (`tile_share`; through its own
`workers` when it has them); the tiles are cut from the group's first rank's x_t (broadcast), and
each rank's tile eps are gathered into every rank's result (all_gather; on the CPU for a gloo group,
on the tensors' device otherwise). The same tiles in the same batches: the numbers of one process,
which the first rank's result keeps even if another's chain drifts (GPUs, mixed machines). A call
that records a gradient, or has a single batch, evaluates every tile on every rank.
"""
from __future__ import annotations

import atexit
import math
import sys

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint as _checkpoint

from restore.operators.padding import extend_index

from .ddpm import with_precision
from .schedule import time_index

__all__ = ["TiledPrior", "for_image", "tile_index", "tile_share", "process_group", "default_workers",
           "start_workers", "shutdown_workers"]

BOUNDARIES = ("reflect", "wrap", "zeros")

_POOLS: dict = {}  # (id(net), precision, workers) -> (the network the workers hold, ProcessPoolExecutor); one at most
_WORKER_PRIOR = None  # in a worker process: its copy of the prior


def default_workers(device) -> int:
    """The tile workers a restoration uses by default on `device`: every core of a CPU (tiles across
    processes measured faster than intra-op threads: benchmarks/cores.py), shared among the
    processes torchrun starts on this machine (LOCAL_WORLD_SIZE), 1 (in-process) elsewhere."""
    import os

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


def _pool(prior, workers: int):
    key = (id(prior.net), getattr(prior, "precision", "fp32"), workers)
    hit = _POOLS.get(key)
    if hit is None or hit[0] is not prior.net:
        import concurrent.futures as cf

        shutdown_workers()  # one pool at a time: another network's workers are stopped

        import torch.multiprocessing as tmp

        # fork where there is one (Linux: the workers inherit the prior, and a script without a
        # `if __name__ == "__main__"` guard still works), spawn elsewhere
        method = "fork" if "fork" in tmp.get_all_start_methods() and sys.platform.startswith("linux") else "spawn"
        ex = cf.ProcessPoolExecutor(workers, mp_context=tmp.get_context(method), initializer=_init_worker,
                                    initargs=(prior,))
        hit = _POOLS[key] = (prior.net, ex)
    return hit[1]


def start_workers(prior, workers: int) -> None:
    """Start the tile workers of `prior` now (they are forked from this process: started before the
    large buffers of a restoration exist, they do not keep copies of them alive). No-op for
    workers <= 1, a prior without a network, or a device other than the CPU."""
    net = getattr(prior, "net", None)
    inner = getattr(prior, "prior", prior)
    if int(workers) <= 1 or net is None or torch.device(getattr(prior, "device", "cpu")).type != "cpu":
        return
    if getattr(inner, "precision", "fp32") == "bf16" and hasattr(inner, "_bf16_net"):
        inner._bf16_net()  # made once here, shared by the forked workers
    ex = _pool(inner, int(workers))
    for f in [ex.submit(int) for _ in range(int(workers))]:
        f.result()


@atexit.register
def shutdown_workers() -> None:
    """Stop every tile worker process (they also stop when this process exits)."""
    for _, ex in list(_POOLS.values()):
        ex.shutdown(wait=True, cancel_futures=True)
    _POOLS.clear()


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


def tile_index(n: int, start: int, length: int, boundary: str) -> Tensor:
    """Source index of positions start .. start + length - 1 of a length-n axis extended by
    `boundary` (n stands for a zero, "zeros" only); reflect repeats over as many periods as needed."""
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
    return extend_index(n, start, length, boundary)


class TiledPrior:
    """A prior (a `DDPM` or anything with its interface) evaluated by randomly shifted tiles
    (module docstring). tile: the patch side (default: the prior's image_size); overlap: context
    pixels on each side of a tile that are evaluated but discarded (0 <= 2 overlap < tile);
    batch: tiles per network call; generator: the source of the offsets (default: torch's global
    generator); boundary: "reflect", "wrap" or "zeros"; checkpoint, keep: recompute per tile
    batch in the backward pass when a call records more than `keep` tiles (and more than one
    batch; module docstring); precision: the network forward's precision ("fp32", "bf16", "fp16";
    None: the prior's own; `restore.priors.ddpm.with_precision`). The wrapped prior stays
    `self.prior`; only the attributes defined here are forwarded to it. workers: processes the tile
    batches are split across on a CPU (module docstring; 1: in this process). ranks: False, or True
    (torch.distributed's default process group) or a process group whose ranks share the tile
    batches of every call (module docstring; it must be initialised).
    """

    def __init__(self, prior, tile: int | None = None, overlap: int = 0, batch: int = 16,
                 generator: torch.Generator | None = None, *, boundary: str = "reflect",
                 checkpoint: bool = True, keep: int = 256, precision: str | None = None, workers: int = 1,
                 ranks=False):
        tile = tile if tile is not None else getattr(prior, "image_size", None)
        if tile is None:
            raise ValueError("tile is required when the prior has no image_size")
        tile, overlap, batch = int(tile), int(overlap), int(batch)
        if tile < 1 or overlap < 0 or 2 * overlap >= tile:
            raise ValueError(f"need tile >= 1 and 0 <= 2 overlap < tile, got tile {tile}, overlap {overlap}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        if int(workers) < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if int(keep) < 0:
            raise ValueError(f"keep must be >= 0, got {keep}")
        m = prior.size_multiple
        if tile % m:
            raise ValueError(f"tile {tile} is not a multiple of the network's {m}")
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
        prior = with_precision(prior, precision)
        self.prior, self.tile, self.overlap, self.batch = prior, tile, overlap, batch
        self.generator, self.boundary, self.checkpoint = generator, boundary, bool(checkpoint)
        self.keep, self.workers = int(keep), int(workers)
        self.group = process_group(ranks)
        self.clip = bool(getattr(prior, "clip", True))
        self.last_offset: tuple[int, int] | None = None  # (oy, ox) of the latest eps call

    def __repr__(self) -> str:
        return (f"TiledPrior(tile={self.tile}, overlap={self.overlap}, batch={self.batch}, "
                f"boundary={self.boundary!r}, {type(self.prior).__name__})")

    # the prior's interface
    @property
    def schedule(self):
        return self.prior.schedule

    @property
    def net(self):
        return self.prior.net

    @property
    def meta(self) -> dict:
        return self.prior.meta

    @property
    def device(self) -> torch.device:
        return self.prior.device

    @property
    def dtype(self) -> torch.dtype:
        return self.prior.dtype

    @property
    def precision(self) -> str:
        return getattr(self.prior, "precision", "fp32")

    @property
    def image_size(self) -> int:
        return self.tile

    @property
    def channels(self):
        return self.prior.channels

    @property
    def size_multiple(self) -> int:
        return self.prior.size_multiple

    @property
    def min_size(self) -> int:
        """The tile: an image side at least this (smaller images need no tiling)."""
        return self.tile

    @property
    def core(self) -> int:
        return self.tile - 2 * self.overlap

    def offsets(self) -> tuple[int, int]:
        """A fresh (oy, ox), uniform in [0, core)^2, from the generator."""
        o = torch.randint(self.core, (2,), generator=self.generator)
        return int(o[0]), int(o[1])

    def tiles_for(self, h: int, w: int, offset: tuple[int, int]) -> tuple[int, int]:
        """Number of tile rows and columns covering an h x w image at this offset."""
        return math.ceil((h + offset[0]) / self.core), math.ceil((w + offset[1]) / self.core)

    def _eval(self, tiles: Tensor, t: Tensor) -> Tensor:
        return self.prior.eps(tiles, t)

    def eps(self, x_t: Tensor, t, offset: tuple[int, int] | None = None) -> Tensor:
        """eps(x_t, t) by shifted tiles; offset (oy, ox) in [0, core)^2 overrides the random draw."""
        if x_t.ndim != 4:
            raise ValueError(f"x_t must be (B, C, H, W), got {tuple(x_t.shape)}")
        b, c, h, w = x_t.shape
        t = time_index(t, x_t, self.schedule.T)
        oy, ox = self.offsets() if offset is None else (int(offset[0]), int(offset[1]))
        if not (0 <= oy < self.core and 0 <= ox < self.core):
            raise ValueError(f"offset must be in [0, {self.core})^2, got {(oy, ox)}")
        self.last_offset = (oy, ox)
        ny, nx = self.tiles_for(h, w, (oy, ox))
        k, ov, core = self.tile, self.overlap, self.core
        record = torch.is_grad_enabled() and (x_t.requires_grad or any(
            p.requires_grad for p in getattr(self.net, "parameters", lambda: [])()))
        split = not record and self._world() > 1 and b * ny * nx > self.batch
        if split:
            x_t = self._from_first_rank(x_t)
        ih = tile_index(h, -oy - ov, ny * core + 2 * ov, self.boundary).to(x_t.device)
        iw = tile_index(w, -ox - ov, nx * core + 2 * ov, self.boundary).to(x_t.device)
        xp = x_t
        if self.boundary == "zeros":
            xp = torch.nn.functional.pad(xp, (0, 1, 0, 1))
        xp = xp.index_select(2, ih).index_select(3, iw)  # (B, C, ny core + 2 ov, nx core + 2 ov)
        tiles = xp.unfold(2, k, core).unfold(3, k, core)  # (B, C, ny, nx, k, k)
        if split:
            return self._eps_ranks(tiles, t)[..., oy : oy + h, ox : ox + w]
        if not record:
            return self._eps_lean(tiles, t)[..., oy : oy + h, ox : ox + w]
        tiles = tiles.permute(0, 2, 3, 1, 4, 5).reshape(b * ny * nx, c, k, k)
        tt = t.repeat_interleave(ny * nx)
        outs = []
        # up to `keep` tiles (or one batch: nothing to save) keep their activations
        recompute = self.checkpoint and len(tiles) > max(self.batch, self.keep)
        for s in range(0, len(tiles), self.batch):
            chunk, tc = tiles[s : s + self.batch], tt[s : s + self.batch]
            if recompute:
                out = _checkpoint(self._eval, chunk, tc, use_reentrant=False)
            else:
                out = self._eval(chunk, tc)
            outs.append(out[..., ov : ov + core, ov : ov + core])
        out = torch.cat(outs, 0)
        co = out.shape[1]
        out = out.reshape(b, ny, nx, co, core, core).permute(0, 3, 1, 4, 2, 5).reshape(b, co, ny * core, nx * core)
        return out[..., oy : oy + h, ox : ox + w]

    def _eps_lean(self, view: Tensor, t: Tensor) -> Tensor:
        """eps of all tiles when no gradient is recorded, as (B, C', ny core, nx core): each batch
        of tiles is gathered from the unfolded view (B, C, ny, nx, k, k) and its cores are written
        straight into the result, so memory holds the padded image, the result and one batch
        (not a copy of every tile, their outputs and their concatenation, as the recorded path).
        Same tiles, same batches, same order: the same numbers."""
        b, _, ny, nx, _, _ = view.shape
        put, result = self._into_result(b, ny, nx)
        self._run_tiles(view, t, 0, b * ny * nx, put)
        return result()

    def _into_result(self, b: int, ny: int, nx: int):
        """(put, result): put(idx, e) writes the cores e (m, C', core, core) of tiles idx (indices
        into the B x ny x nx list) into the result (B, C', ny core, nx core), made at the first put
        in e's dtype and device; result() gives it."""
        core, box = self.core, {}

        def put(idx: Tensor, e: Tensor) -> None:
            if not box:
                box["out"] = e.new_empty((b, e.shape[1], ny * core, nx * core))
                box["grid"] = box["out"].view(b, e.shape[1], ny, core, nx, core)
            idx = idx.to(e.device)
            box["grid"][idx // (ny * nx), :, (idx // nx) % ny, :, idx % nx, :] = e

        return put, lambda: box["out"]

    def _run_tiles(self, view: Tensor, t: Tensor, lo: int, hi: int, put) -> None:
        """Evaluate tiles lo..hi-1 (lo: a batch's start) in whole batches of `batch`, handing each
        batch's cores to put(idx, e): in this process, or across `workers` (`_run_workers`)."""
        _, _, ny, nx, _, _ = view.shape
        ov, core = self.overlap, self.core
        if (self.workers > 1 and hi - lo > self.batch and view.device.type == "cpu"
                and type(self)._eval is TiledPrior._eval):
            return self._run_workers(view, t, lo, hi, put)
        for s in range(lo, hi, self.batch):
            idx = torch.arange(s, min(s + self.batch, hi), device=view.device)
            bi, yi, xi = idx // (ny * nx), (idx // nx) % ny, idx % nx
            put(idx, self._eval(view[bi, :, yi, xi], t[bi])[..., ov : ov + core, ov : ov + core])

    def _run_workers(self, view: Tensor, t: Tensor, lo: int, hi: int, put) -> None:
        """`_run_tiles` with the tile batches split across `workers` processes: jobs of whole
        batches, at most two per worker in flight (memory: a few jobs of tiles, not all of them)."""
        _, _, ny, nx, _, _ = view.shape
        ov, core = self.overlap, self.core
        nb = -(-(hi - lo) // self.batch)
        per_job = self.batch * max(1, min(8, -(-nb // (2 * self.workers))))  # whole batches
        ex = _pool(self.prior, self.workers)
        pending: list = []

        def collect():
            idx, fut = pending.pop(0)
            put(idx, fut.result()[..., ov : ov + core, ov : ov + core])

        for s in range(lo, hi, per_job):
            idx = torch.arange(s, min(s + per_job, hi))
            bi, yi, xi = idx // (ny * nx), (idx // nx) % ny, idx % nx
            pending.append((idx, ex.submit(_worker_eps, view[bi, :, yi, xi].contiguous(), t[bi], self.batch)))
            if len(pending) >= 2 * self.workers:
                collect()
        while pending:
            collect()

    def _world(self) -> int:
        import torch.distributed as dist

        return 1 if self.group is None else dist.get_world_size(self.group)

    def _comm_device(self, device: torch.device) -> torch.device:
        """Where the collectives' tensors live: the CPU for a gloo group, `device` otherwise (nccl)."""
        import torch.distributed as dist

        return torch.device("cpu") if dist.get_backend(self.group) == "gloo" else device

    def _from_first_rank(self, x_t: Tensor) -> Tensor:
        """x_t as the group's first rank has it (broadcast; a copy, the caller's is not written)."""
        import torch.distributed as dist

        x = x_t.detach().to(self._comm_device(x_t.device), copy=True).contiguous()
        dist.broadcast(x, dist.get_global_rank(self.group, 0), group=self.group)
        return x.to(x_t.device)

    def _eps_ranks(self, view: Tensor, t: Tensor) -> Tensor:
        """`_eps_lean` with the tile batches shared out across the group's ranks (`tile_share`):
        this rank evaluates its share (through its workers, if any) into a buffer of the largest
        share's size, every rank's is gathered (all_gather), and each share's cores go into the
        result. eps has x_t's channels and dtype (the Prior protocol), so a rank without tiles
        knows the buffer too. Memory: the result, and the gathered cores (as large again)."""
        import torch.distributed as dist

        b, c, ny, nx, _, _ = view.shape
        n, world, rank = b * ny * nx, self._world(), dist.get_rank(self.group)
        shares = [tile_share(n, self.batch, r, world) for r in range(world)]
        dev = self._comm_device(view.device)
        lo, hi = shares[rank]
        mine = torch.zeros((max(e - s for s, e in shares), c, self.core, self.core), dtype=view.dtype, device=dev)

        def keep(idx: Tensor, e: Tensor) -> None:
            mine[idx.to(dev) - lo] = e.to(dev)

        self._run_tiles(view, t, lo, hi, keep)
        parts = [torch.empty_like(mine) for _ in range(world)]
        dist.all_gather(parts, mine, group=self.group)
        put, result = self._into_result(b, ny, nx)
        for (s, e), part in zip(shares, parts):
            if e > s:
                put(torch.arange(s, e), part[: e - s].to(view.device))
        return result()

    def x0_from_eps(self, x_t: Tensor, t, eps: Tensor, clip: bool | None = None) -> Tensor:
        return self.prior.x0_from_eps(x_t, t, eps, self.clip if clip is None else clip)

    def x0_hat(self, x_t: Tensor, t, clip: bool | None = None) -> Tensor:
        """x0_hat from the tiled eps, clipped to [-1, 1] unless clip=False (default: self.clip)."""
        return self.x0_from_eps(x_t, t, self.eps(x_t, t), clip)

    def q_sample(self, x0: Tensor, t, noise: Tensor) -> Tensor:
        return self.prior.q_sample(x0, t, noise)


def for_image(prior, hw, generator: torch.Generator | None = None, **tiling):
    """The prior to run on an image of size hw = (H, W): `prior` itself when the image fits its
    training size (H, W <= prior.image_size, or the prior has no image_size), else
    `TiledPrior(prior, generator=generator, **tiling)` (a patch prior evaluated by tiles of its
    training size). An already tiled prior is returned unchanged. The one place this decision is
    made (benchmarks, the high-level API)."""
    if isinstance(prior, TiledPrior) or not runs_by_tiles(prior, hw):
        return prior
    return TiledPrior(prior, generator=generator, **tiling)


def runs_by_tiles(prior, hw) -> bool:
    """Whether `for_image` runs `prior` by tiles on an image of size hw = (H, W): a patch prior on
    an image larger than its training size (or an already tiled prior)."""
    if isinstance(prior, TiledPrior):
        return True
    size = getattr(prior, "image_size", None)
    h, w = (int(v) for v in hw)
    return size is not None and (h > int(size) or w > int(size))
