"""DDPM priors: schedules, the eps-network, sampling, the likelihood bound, checkpoints, training.

The interface the solvers use of a prior is `Prior` (protocol.py)."""
from .checkpoint import load_prior, save_prior
from .ddpm import DDPM, elbo_weights, min_snr_weights
from .gaussian import gaussian_prior, stationary_covariance
from .likelihood import bits_per_dim
from .protocol import Prior
from .sampling import ancestral_sample, ddim_sample, posterior_mean, reverse_mean_eps, reverse_variance
from .schedule import Schedule, cosine_schedule, linear_schedule, make_schedule
from .unet import UNet, UNetConfig

__all__ = [
    "DDPM", "Prior", "Schedule", "UNet", "UNetConfig", "ancestral_sample", "bits_per_dim", "cosine_schedule",
    "ddim_sample", "elbo_weights", "gaussian_prior", "linear_schedule", "load_prior", "make_schedule",
    "min_snr_weights", "posterior_mean", "reverse_mean_eps", "reverse_variance", "save_prior", "stationary_covariance",
]
