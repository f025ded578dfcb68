"""The DDPM prior (seed Step 3): forward chain, eps-network, x0_hat, reverse mean and loss.

Images live in [-1, 1] inside the prior. `DDPM` implements the interface the solvers use,
written down in protocol.py (`Prior`): `schedule`, `eps(x_t, t)`, `x0_hat(x_t, t)`, ..., where t
is the seed's time index 1..T of `schedule` (a tensor of shape (B,) or an int, checked by
schedule.time_index); the network receives t - 1.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .schedule import Schedule, gather, reverse_variance, time_index

__all__ = ["DDPM", "PRECISIONS", "elbo_weights", "min_snr_weights", "inference_precision", "native_bf16",
           "with_precision"]

# precision of the network's forward at inference: None = the weights' own dtype, else torch.autocast to it
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def inference_precision(device: torch.device | str, precision: str):
    """The context a network forward runs in at `precision` ("fp32": unchanged; "bf16", "fp16":
    torch.autocast to it on the device's type). fp16 needs CUDA (a CPU has no fast float16 kernels);
    an unknown precision is a ValueError."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    kind = torch.device(device).type
    if precision == "fp16" and kind == "cpu":
        raise ValueError("precision fp16 needs a CUDA device; on the CPU use bf16 or fp32")
    dt = PRECISIONS[precision]
    return torch.autocast(kind, dtype=dt or torch.float32, enabled=dt is not None)


def native_bf16(device: torch.device | str) -> bool:
    """Whether `device` computes in bfloat16 natively: a CPU with AVX512-BF16 or AMX (oneDNN's
    check), a CUDA GPU that supports it."""
    kind = torch.device(device).type
    if kind == "cpu":
        check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        try:
            return bool(torch.backends.mkldnn.is_available() and check is not None and check())
        except RuntimeError:
            return False
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return False


def with_precision(prior, precision: str | None):
    """`prior` with its network forward run at `precision` (`DDPM.precision`): a shallow copy sharing
    the network (the caller's prior is not changed); a TiledPrior gets its wrapped prior's copy;
    None or the prior's own precision: the prior itself. A prior without a precision setting (not a
    DDPM) is returned as it is for "fp32" and refused (ValueError) otherwise."""
    import copy

    if precision is None:
        return prior
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if hasattr(prior, "prior") and hasattr(prior, "tile"):  # a TiledPrior
        inner = with_precision(prior.prior, precision)
        if inner is prior.prior:
            return prior
        out = copy.copy(prior)
        out.prior = inner
        return out
    if not hasattr(prior, "precision"):
        if precision == "fp32":
            return prior
        raise ValueError(f"precision {precision} is not supported by {type(prior).__name__}")
    if prior.precision == precision:
        return prior
    inference_precision(prior.device, precision)  # checks it (fp16 on a CPU)
    out = copy.copy(prior)
    out.precision = precision
    return out


def elbo_weights(s: Schedule, variance: str = "beta") -> Tensor:
    """w_t making seed eq. 23 the true bound term: beta_t^2 / (2 sigma_t^2 alpha_t (1 - abar_t)).

    At t = 1 (beta_tilde_1 = 0) sigma_1^2 is beta_1 ('beta') or beta_tilde_2 ('beta_tilde', as
    guided-diffusion clips it). Normalised to mean 1 so the learning rate keeps its meaning.
    """
    w = s.betas**2 / (2 * reverse_variance(s, variance, clip_first=True) * s.alphas * (1 - s.abar))
    return w / w.mean()


def min_snr_weights(s: Schedule, gamma: float = 5.0) -> Tensor:
    """Min-SNR-gamma weighting for eps-prediction (Hang et al. 2023): min(SNR_t, gamma) / SNR_t."""
    snr = s.abar / (1 - s.abar)
    return torch.clamp(snr, max=gamma) / snr


class DDPM(nn.Module):
    """A trained (or exact) noise predictor with its schedule.

    `net(x, t - 1)` predicts eps. `clip` is the default for clipping x0_hat to [-1, 1].
    """

    precision = "fp32"  # the network forward's precision in eps (PRECISIONS; set by with_precision)

    def __init__(self, net: nn.Module, schedule: Schedule, *, image_size: int | None = None,
                 channels: int | None = None, clip: bool = True, meta: dict | None = None):
        super().__init__()
        self.net, self.schedule, self.clip = net, schedule, clip
        self.image_size = image_size
        self.channels = channels if channels is not None else getattr(getattr(net, "config", None), "channels", None)
        self.meta = dict(meta or {})

    def _tensor(self):
        p = next(iter(self.net.parameters()), None)
        return p if p is not None else next(iter(self.net.buffers()), None)

    @property
    def device(self) -> torch.device:
        p = self._tensor()
        return p.device if p is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        p = self._tensor()
        return p.dtype if p is not None else torch.float32

    @property
    def size_multiple(self) -> int:
        """Image sides the network takes are multiples of this: its config's `multiple`, else 1."""
        m = getattr(getattr(self.net, "config", None), "multiple", 1)
        return max(1, int(m() if callable(m) else m))

    @property
    def min_size(self) -> int:
        """The smallest image side: 1 (a whole-image prior; a patch prior is a TiledPrior)."""
        return 1

    def eps(self, x_t: Tensor, t) -> Tensor:
        """eps_theta(x_t, t) (seed eq. 19), t in 1..T; the network is fed t - 1.

        Outside training (net.eval()) a NaN or inf in the output raises FloatingPointError naming
        the step, so a sampler or solver stops there instead of writing a black image.
        With `precision` "bf16" the forward runs on a bfloat16 channels_last copy of the network
        (`_bf16_net`; under torch.autocast while the network trains), with "fp16" under
        torch.autocast; eps comes back in x_t's dtype."""
        tt = time_index(t, x_t, self.schedule.T)
        if self.precision == "fp32":
            out = self.net(x_t.to(self.dtype), tt - 1)
        elif self.precision == "bf16" and not self.net.training:
            out = self._bf16_net()(x_t.to(torch.bfloat16).contiguous(memory_format=torch.channels_last), tt - 1)
        else:
            with inference_precision(x_t.device, self.precision):
                out = self.net(x_t.to(self.dtype), tt - 1)
        out = out.to(x_t.dtype)[:, : x_t.shape[1]].contiguous()  # drop a learned-variance half
        if not self.net.training and not bool(torch.isfinite(out).all()):
            bad = "the input x_t" if not bool(torch.isfinite(x_t).all()) else "the network output"
            raise FloatingPointError(f"{bad} has NaN or inf values at diffusion step t={int(tt.max())} "
                                     f"(of T={self.schedule.T})")
        return out

    def _bf16_net(self) -> nn.Module:
        """The network for inference at bf16: a copy with bfloat16 weights in channels_last, made at
        the first call and again whenever a weight of `net` changed or moved (the weights of `net`
        stay as they are; the copy costs half their memory again). Against autocast it avoids a cast
        of every weight at every forward (faster: benchmarks/notes/speed.md, "Inference precision")."""
        key = (self.device,) + tuple((p.data_ptr(), p._version) for p in self.net.parameters())
        hit = self.__dict__.get("_bf16_copy")  # not a submodule: outside state_dict and parameters()
        if hit is None or hit[0] != key:
            import copy

            net = copy.deepcopy(self.net).to(torch.bfloat16).to(memory_format=torch.channels_last).eval()
            for p in net.parameters():
                p.requires_grad_(False)
            hit = self.__dict__["_bf16_copy"] = (key, net)
        return hit[1]

    def x0_from_eps(self, x_t: Tensor, t, eps: Tensor, clip: bool | None = None) -> Tensor:
        abar = gather(self.schedule.abar, time_index(t, x_t, self.schedule.T) - 1, x_t)
        x0 = (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()  # Eq. (20) of the seed
        return x0.clamp(-1, 1) if (self.clip if clip is None else clip) else x0

    def x0_hat(self, x_t: Tensor, t, clip: bool | None = None) -> Tensor:
        """x0_hat(x_t, t) (seed eq. 20), clipped to [-1, 1] unless clip=False."""
        return self.x0_from_eps(x_t, t, self.eps(x_t, t), clip)

    def q_sample(self, x0: Tensor, t, noise: Tensor) -> Tensor:
        abar = gather(self.schedule.abar, time_index(t, x0, self.schedule.T) - 1, x0)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise  # Eq. (12) of the seed

    def forward(self, x0: Tensor, t: Tensor, noise: Tensor, weights: Tensor | None = None) -> Tensor:
        """The training loss (so DistributedDataParallel can wrap the prior)."""
        return self.loss(x0, t, noise, weights)

    def loss(self, x0: Tensor, t: Tensor, noise: Tensor, weights: Tensor | None = None) -> Tensor:
        """Per-sample w_t ||eps - eps_theta(x_t, t)||^2 / D (seed eqs. 26-28), t in 1..T."""
        err = (noise - self.eps(self.q_sample(x0, t, noise), t)).pow(2).flatten(1).mean(1)
        if weights is not None:
            err = err * weights.to(err.device, err.dtype)[time_index(t, x0, self.schedule.T) - 1]
        return err
