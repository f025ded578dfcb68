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

Across processes (parallel.py): `workers`, a `TileWorkers` pool the caller opened, splits a call's
tile batches, whole batches at a time, across its CPU processes; `ranks` shares them out across the
ranks of a torch.distributed process group. The same tiles in the same batches: the numbers of one
process. A call that records a gradient evaluates in-process, every tile on every rank; so does a
call with a single batch.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint as _checkpoint

from restore.operators.padding import extend_index

from .ddpm import with_precision
from .parallel import TileWorkers, from_first_rank, process_group, share_tiles, world_size
from .schedule import time_index

__all__ = ["TiledPrior", "for_image", "runs_by_tiles", "tile_index"]

BOUNDARIES = ("reflect", "wrap", "zeros")


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
    `self.prior`; only the attributes defined here are forwarded to it. workers: a `TileWorkers` pool
    (parallel.py) of the same network and precision, whose CPU processes the tile batches are split
    across while it runs; None: in this process. ranks: False, or True (torch.distributed's default
    process group) or a process group whose ranks share the tile batches of every call (parallel.py;
    it must be initialised).
    """

    def __init__(self, prior, tile: int | None = None, overlap: int = 0, batch: int = 16,
                 generator: torch.Generator | None = None, *, boundary: str = "reflect",
                 checkpoint: bool = True, keep: int = 256, precision: str | None = None,
                 workers: TileWorkers | None = None, ranks=False):
        tile = tile if tile is not None else getattr(prior, "image_size", None)
        if tile is None:
            raise ValueError("tile is required when the prior has no image_size")
        tile, overlap, batch = int(tile), int(overlap), int(batch)
        if tile < 1 or overlap < 0 or 2 * overlap >= tile:
            raise ValueError(f"need tile >= 1 and 0 <= 2 overlap < tile, got tile {tile}, overlap {overlap}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        if workers is not None and not isinstance(workers, TileWorkers):
            raise ValueError(f"workers must be a TileWorkers pool (restore.priors.parallel) or None, got {workers!r}")
        if int(keep) < 0:
            raise ValueError(f"keep must be >= 0, got {keep}")
        m = prior.size_multiple
        if tile % m:
            raise ValueError(f"tile {tile} is not a multiple of the network's {m}")
        if boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {boundary!r}")
        prior = with_precision(prior, precision)
        if workers is not None:
            workers.check(prior)  # the same network at the same precision
        self.prior, self.tile, self.overlap, self.batch = prior, tile, overlap, batch
        self.generator, self.boundary, self.checkpoint = generator, boundary, bool(checkpoint)
        self.keep, self.workers = int(keep), workers
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
        split = not record and world_size(self.group) > 1 and b * ny * nx > self.batch
        if split:
            x_t = from_first_rank(self.group, x_t)
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
        batch's cores to put(idx, e): in this process, or across the running `workers`
        (`TileWorkers.run`, the same batches)."""
        _, _, ny, nx, _, _ = view.shape
        ov, core = self.overlap, self.core
        pool = self.workers
        if (pool is not None and pool.running and hi - lo > self.batch and view.device.type == "cpu"
                and type(self)._eval is TiledPrior._eval):
            pool.check(self.prior)
            return pool.run(view, t, lo, hi, self.batch,
                            lambda idx, e: put(idx, e[..., ov : ov + core, ov : ov + core]))
        for s in range(lo, hi, self.batch):
            idx = torch.arange(s, min(s + self.batch, hi), device=view.device)
            bi, yi, xi = idx // (ny * nx), (idx // nx) % ny, idx % nx
            put(idx, self._eval(view[bi, :, yi, xi], t[bi])[..., ov : ov + core, ov : ov + core])

    def _eps_ranks(self, view: Tensor, t: Tensor) -> Tensor:
        """`_eps_lean` with the tile batches shared out across the group's ranks (`share_tiles`): this
        rank evaluates its share (through its workers, if any), every rank's is gathered, and each
        share's cores go into the result. Memory: the result, and the gathered cores (as large again)."""
        b, c, ny, nx, _, _ = view.shape
        put, result = self._into_result(b, ny, nx)
        share_tiles(self.group, b * ny * nx, self.batch, lambda lo, hi, keep: self._run_tiles(view, t, lo, hi, keep),
                    put, (c, self.core, self.core), view.dtype, view.device)
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
