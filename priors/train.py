"""Training the eps-network (seed Step 4, eqs. 24-29): Adam, EMA, gradient clipping, warmup.

Every random draw of a training sample (which image, crop, flip, t, eps) comes from a generator
keyed to (seed, global sample index), so a run gives the same result on one process or under
`torchrun --nproc_per_node N` (DistributedDataParallel, gloo on CPU, nccl on GPU), and a resumed
run continues exactly. Dropout, when enabled, draws from torch's default generator and breaks
that exactness (the shipped priors use none).
"""
from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file
from tqdm import tqdm

from .checkpoint import checkpoint_state, latest_checkpoint, prior_config, save_checkpoint
from .data import ImageData, load_images
from .ddpm import DDPM, elbo_weights, min_snr_weights
from .rng import key_generator
from .sampling import ddim_sample
from .schedule import make_schedule
from .unet import UNet, UNetConfig

__all__ = ["TrainConfig", "train"]


def _option(default, help: str, **cli):
    """A TrainConfig field that `restore train` offers as an option (cli.py declares the command's
    options from these fields): its default (none: a required option), its help text and, where
    needed, `flags` (the option's names, if not --FIELD-NAME), `choices`, `type` (for a default of
    None) and `path` (a file-system path)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    data: str
    out: str = _option(MISSING, "Run folder (checkpoints, log, samples).", flags=("--out", "-o"), path=True)
    size: int = _option(32, "Training image size (a multiple of 2**(levels-1)).")
    channels: int = _option(3, "Image channels.", choices=("1", "3"))
    subset: str | None = _option(None, "START:STOP of the sorted files or .npz array.")
    scales: float = _option(1.0, "Crops of side size*2**u, u in [0, log2 SCALES], resized to --size.")
    rot90: bool = _option(False, "Random 90-degree rotations.")
    flip: bool = _option(True, "Random horizontal flips (off for digits and text).")
    zoom_out: float = _option(1.0, "Half the views zoomed out by a factor uniform in [1, ZOOM_OUT] (reflect padding), "
                                   "for aligned crops such as faces; at most 1.5.")
    shift: int = _option(0, "Half the views (the same half) moved by up to SHIFT px (reflect padding).")
    width: int = _option(64, "Base channel width of the UNet.")
    mults: tuple = _option((1, 2, 2), "Channel multipliers per level.")
    res_blocks: int = _option(2, "Residual blocks per level.")
    attn_levels: tuple = _option((), "Levels with self-attention (0 = full resolution), e.g. 2.", flags=("--attn",))
    dropout: float = _option(0.0, "Dropout in residual blocks.")
    norm_groups: int | None = _option(None, "GroupNorm groups in every layer (default: 32 where a layer's channels "
                                            "allow).", type=int)
    schedule: str = _option("linear", "Noise schedule.", choices=("linear", "cosine"))
    T: int = 1000
    weighting: str = _option("uniform", "Loss weights w_t.", choices=("uniform", "elbo", "min-snr"))
    t_focus: int = _option(0, "Draw t uniformly from 1..T_FOCUS with probability FOCUS_SHARE, else from 1..T: training "
                              "effort at the noise levels restoration uses (0: t uniform on 1..T).")
    focus_share: float = _option(0.8, "The share of draws of t from 1..T_FOCUS (with --t-focus).")
    batch: int = _option(64, "Global batch size.")
    lr: float = _option(2e-4, "Adam learning rate.")
    warmup: int = _option(500, "Linear learning-rate warmup steps.")
    grad_clip: float = 1.0
    ema: float = _option(0.999, "EMA decay (warmed up as (1+step)/(10+step)).")
    steps: int = _option(100_000, "Total optimizer steps.")
    seed: int = _option(0, "Seed of every random draw.")
    ckpt_every: int = _option(500, "Checkpoint interval in steps.")
    sample_every: int = _option(2000, "Sample-grid interval in steps (0: never).")
    log_every: int = _option(50, "log.jsonl interval in steps.")
    keep: int = _option(3, "Checkpoints kept on disk (the latest KEEP).")
    channels_last: bool = _option(False, "channels_last memory format.")
    compile: bool = _option(False, "torch.compile the loss.")
    precision: str = _option("fp32", "bf16: the network's forward in bfloat16 (autocast; fp32 weights, Adam and EMA).",
                             choices=("fp32", "bf16"))
    device: str = _option("auto", "Device.", choices=("auto", "cpu", "cuda", "mps"))
    init: str | None = _option(None, "Start from this prior file's weights.", path=True)

    def unet(self) -> UNetConfig:
        return UNetConfig(channels=self.channels, width=self.width, mults=tuple(self.mults),
                          num_res_blocks=self.res_blocks, attn_levels=tuple(self.attn_levels), dropout=self.dropout,
                          norm_groups=self.norm_groups)

    def check(self) -> "TrainConfig":
        """ValueError (one line) for settings no run can use; returns self."""
        for name in ("size", "batch", "steps", "ckpt_every", "log_every", "keep", "T"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.sample_every < 0 or self.warmup < 0:
            raise ValueError("sample-every and warmup must be >= 0")
        for name in ("lr", "scales", "grad_clip"):
            v = float(getattr(self, name))
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name.replace('_', '-')} must be a positive number, got {v}")
        if not 1 <= float(self.zoom_out) <= 1.5 or int(self.shift) < 0:
            raise ValueError(f"zoom-out must be in [1, 1.5] and shift >= 0, got {self.zoom_out}, {self.shift}")
        if not 0 <= int(self.t_focus) <= int(self.T) or not 0 < float(self.focus_share) <= 1:
            raise ValueError(f"t-focus must be in [0, T] and focus-share in (0, 1], got {self.t_focus}, {self.focus_share}")
        if not 0 <= float(self.ema) < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, got {self.precision!r}")
        return self

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}: use auto, cpu, cuda or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda requested but CUDA is not available")
    return dev


def forward_precision(device: torch.device | str, precision: str):
    """The context the training forward runs in: bf16 autocasts it to bfloat16 (weights, Adam and
    EMA stay float32); fp32 changes nothing."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def _loss_weights(cfg: TrainConfig, schedule):
    if cfg.weighting == "uniform":
        return None
    if cfg.weighting == "elbo":
        return elbo_weights(schedule)
    if cfg.weighting == "min-snr":
        return min_snr_weights(schedule)
    raise ValueError(f"unknown weighting {cfg.weighting!r}: uniform, elbo or min-snr")


def _optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict, list]:
    sd = opt.state_dict()
    tensors = {f"{i}.{k}": v for i, st in sd["state"].items() for k, v in st.items() if torch.is_tensor(v)}
    return tensors, sd["param_groups"]


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict, groups: list) -> None:
    state: dict = {}
    for key, v in tensors.items():
        i, name = key.split(".", 1)
        state.setdefault(int(i), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": groups})


class _Batches:
    """The global batch of `step`, restricted to this rank's share."""

    def __init__(self, data: ImageData, cfg: TrainConfig, rank: int, world: int, T: int):
        if cfg.batch % world:
            raise ValueError(f"batch {cfg.batch} does not split over {world} processes")
        self.data, self.cfg, self.T = data, cfg, T
        self.local = cfg.batch // world
        self.offset = rank * self.local
        self._perm: tuple[int, torch.Tensor] | None = None

    def _image_index(self, g_index: int) -> int:
        epoch, pos = divmod(g_index, len(self.data))
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, torch.randperm(len(self.data), generator=key_generator(self.cfg.seed, -1, epoch)))
        return int(self._perm[1][pos])

    def __call__(self, step: int):
        xs, ts, es = [], [], []
        for j in range(self.local):
            g_index = step * self.cfg.batch + self.offset + j
            g = key_generator(self.cfg.seed, g_index)
            x = self.data.view(self._image_index(g_index), g)
            xs.append(x)
            ts.append(self._t(g))
            es.append(torch.randn(x.shape, generator=g))  # Eq. (25) of the seed
        return torch.stack(xs), torch.tensor(ts), torch.stack(es)

    def _t(self, g: torch.Generator) -> int:
        """t uniform on 1..T (Eq. (24) of the seed), or with --t-focus the mixture that puts the share
        focus_share of the draws on 1..t_focus: every t keeps the seed's regression target, only the
        effort spent on each level changes."""
        top = self.T
        if self.cfg.t_focus and float(torch.rand((), generator=g)) < self.cfg.focus_share:
            top = self.cfg.t_focus
        return int(torch.randint(1, top + 1, (), generator=g))  # Eq. (24) of the seed


def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True, minutes: float | None = None) -> Path:
    """Train (or resume) a run in cfg.out; returns the last checkpoint directory. `minutes`: stop
    (with a checkpoint) after that much wall time of this call, before cfg.steps if need be: a
    session's budget, or equal compute for the runs of a sweep; `resume` continues."""
    if minutes is not None and not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(f"minutes must be a positive number, got {minutes}")
    out = Path(cfg.out)
    ckdir = out / "checkpoints"
    start, state = 0, None
    last = latest_checkpoint(ckdir)
    if resume:
        if last is None:
            raise ValueError(f"{out}: nothing to resume (no checkpoints/step-*)")
        state = checkpoint_state(last)  # whole and of its own step (latest_checkpoint skipped any other)
        steps = cfg.steps
        cfg = TrainConfig.from_dict(state["config"])
        cfg.steps = max(steps, cfg.steps) if steps else cfg.steps
        start = int(state["step"])
    elif last is not None:
        raise ValueError(f"{out}: holds a run already; pass --resume to continue it or choose another --out")
    cfg.check()

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = resolve_device(cfg.device)
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    unet_cfg = cfg.unet()
    if cfg.size % unet_cfg.multiple:
        raise ValueError(f"--size {cfg.size} is not a multiple of 2**(levels-1) = {unet_cfg.multiple}")
    data = ImageData(load_images(cfg.data, cfg.channels, cfg.subset), cfg.size, scales=cfg.scales, rot90=cfg.rot90,
                     flip=cfg.flip, zoom_out=cfg.zoom_out, shift=cfg.shift)
    schedule = make_schedule(cfg.schedule, cfg.T)
    weights = _loss_weights(cfg, schedule)

    with torch.random.fork_rng(devices=[]):  # initial weights from the run's seed; global state restored
        torch.manual_seed(cfg.seed)
        net = UNet(unet_cfg).to(device)
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    if state is None and cfg.init:
        _init_from(net, ema, cfg.init)
    if state is not None:
        net.load_state_dict(load_file(str(last / "model.safetensors"), device=str(device)))
        ema.load_state_dict(load_file(str(last / "ema.safetensors"), device=str(device)))
        _load_optimizer(opt, load_file(str(last / "optimizer.safetensors"), device=str(device)), state["param_groups"])
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    model = DDPM(net, schedule)
    step_fn = model
    if world > 1:
        step_fn = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    compiled_loss = torch.compile(model.loss) if cfg.compile else None
    batches = _Batches(data, cfg, rank, world, schedule.T)
    n_params = sum(p.numel() for p in net.parameters())

    if rank == 0:
        from restore.io import atomic_write

        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(asdict(cfg), indent=1)))
        _truncate_log(out / "log.jsonl", start)
    log = open(out / "log.jsonl", "a") if rank == 0 else None
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress or rank != 0, unit="step", dynamic_ncols=True)
    t_last, n_last = time.perf_counter(), 0
    images_seen = int(state["images_seen"]) if state else 0
    elapsed = float(state.get("seconds", 0.0)) if state else 0.0
    net.train()

    def checkpoint(step: int) -> Path:
        train_state = {"step": step, "images_seen": images_seen, "ema_decay": cfg.ema, "seconds": round(elapsed, 1),
                       "device": str(device), "processes": world, "params": n_params}
        meta = {"restore": json.dumps(prior_config(unet_cfg, schedule, cfg.size, train_state))}
        opt_tensors, groups = _optimizer_tensors(opt)
        files = {"ema.safetensors": (ema.state_dict(), meta), "model.safetensors": (net.state_dict(), meta),
                 "optimizer.safetensors": (opt_tensors, None)}
        return save_checkpoint(ckdir, step, files, {**train_state, "config": asdict(cfg), "param_groups": groups},
                               keep=cfg.keep)

    path = last
    deadline = time.monotonic() + 60 * minutes if minutes else None
    try:  # the bar is closed (a newline) before any error is printed
        for step in range(start, cfg.steps):
            t0 = time.perf_counter()
            x0, t, noise = batches(step)
            x0, t, noise = x0.to(device), t.to(device), noise.to(device)
            if cfg.channels_last:
                x0, noise = x0.contiguous(memory_format=torch.channels_last), noise.contiguous(memory_format=torch.channels_last)
            lr = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup, 1))
            for group in opt.param_groups:
                group["lr"] = lr
            with forward_precision(device, cfg.precision):
                if world > 1:
                    per_sample = step_fn(x0, t, noise, weights)  # DDP forward is DDPM.forward -> loss
                else:
                    per_sample = (compiled_loss or model.loss)(x0, t, noise, weights)
            loss = per_sample.mean()  # Eq. (28) of the seed
            opt.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()  # Eq. (29) of the seed, with Adam
            decay = min(cfg.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), net.parameters()):
                    pe.lerp_(p, 1 - decay)
            images_seen += cfg.batch
            elapsed += time.perf_counter() - t0
            n_last += cfg.batch
            done = step + 1
            if rank == 0:
                lv = loss.item()
                if not math.isfinite(lv):
                    raise FloatingPointError(f"loss is {lv} at step {done}: lower --lr or check the data")
                if done % cfg.log_every == 0 or done == cfg.steps:
                    now = time.perf_counter()
                    rate = n_last / (now - t_last)
                    t_last, n_last = now, 0
                    rec = {"step": done, "loss": round(lv, 6), "grad_norm": round(float(gnorm), 4), "lr": lr,
                           "images_seen": images_seen, "images_per_s": round(rate, 2), "seconds": round(elapsed, 1)}
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                    bar.set_postfix(loss=f"{lv:.4f}", img_s=f"{rate:.1f}")
                if done % cfg.ckpt_every == 0 or done == cfg.steps:
                    path = checkpoint(done)
                if cfg.sample_every and (done % cfg.sample_every == 0 or done == cfg.steps):
                    _sample_grid(ema, schedule, cfg, out / "samples" / f"step-{done:09d}.png", device)
            bar.update(1)
            if deadline is not None and _out_of_time(deadline, world, device, every=cfg.log_every, step=done):
                if rank == 0 and done % cfg.ckpt_every and done != cfg.steps:
                    path = checkpoint(done)
                break
    finally:
        bar.close()
        if log:
            log.close()
    if world > 1:
        dist.barrier()
    return path


def _out_of_time(deadline: float, world: int, device, *, every: int, step: int) -> bool:
    """Past the deadline? One process decides each step; several agree (the latest clock wins)
    every `every` steps, so that all of them stop after the same step."""
    if world == 1:
        return time.monotonic() >= deadline
    if step % every:
        return False
    flag = torch.tensor([float(time.monotonic() >= deadline)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def _truncate_log(path: Path, step: int) -> None:
    """Drop the log records of steps after `step` (written by a run killed before its next
    checkpoint; they are redone now), so the log has each step once. Atomic."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines()
    keep = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:  # a line cut short by the kill
            continue
        if isinstance(rec, dict) and int(rec.get("step", 0)) <= step:
            keep.append(line)
    if keep != lines:
        from restore.io import atomic_write

        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(f"{line}\n" for line in keep)))


def _init_from(net: UNet, ema: UNet, path: str) -> None:
    """Start from a prior file's weights (e.g. a shipped prior, to continue its training on a new
    machine): they seed both the weights and the EMA; the optimizer starts afresh. The configs may
    differ only where the parameters do not (norm groups, dropout): training then adapts them; a
    source's own norm groups must be named again (not dropped by omitting --norm-groups)."""
    from .checkpoint import load_prior

    src = load_prior(path).net
    have, want = getattr(src, "config", None), net.config
    free = dict(norm_groups=None, dropout=0.0)  # no parameters of their own
    if not isinstance(have, UNetConfig) or replace(have, **free) != replace(want, **free):
        raise ValueError(f"{path}: its network config differs from this run's ({have} vs {want})")
    if have.norm_groups is not None and want.norm_groups is None:  # never back to the default by omission
        raise ValueError(f"{path}: its network has {have.norm_groups} norm groups; pass --norm-groups {have.norm_groups}")
    sd = {k: v.float() for k, v in src.state_dict().items()}
    net.load_state_dict(sd)
    ema.load_state_dict(sd)


def _sample_grid(ema: UNet, schedule, cfg: TrainConfig, path: Path, device) -> None:
    from restore.io import save_grid

    path.parent.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(cfg.seed)
    prior = DDPM(ema, schedule)
    x = ddim_sample(prior, (16, cfg.channels, cfg.size, cfg.size), steps=50, generator=g)
    save_grid(path, (x + 1) / 2, nrow=4)
