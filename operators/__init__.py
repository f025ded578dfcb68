"""Forward operators y = A x (noiseless, pure) and the one place measurement noise is added.

Images are tensors (B, C, H, W) on the [0, 1] scale; every operator follows its input's device and
dtype. See `base` for the SVD convention shared by the operators with ``has_svd``.
"""

from .base import Composed, Operator, SVDOperator
from .bicubic import bicubic_matrix, keys_cubic
from .blur import Blur
from .cg import cgls
from .circular_blur import CircularBlur
from .colorize import Colorize
from .crop import Crop, Padded
from .denoise import Denoise
from .downsample import Downsample
from .inpainting import Inpainting
from .kernels import check_kernel, gaussian_kernel, load_kernel, motion_kernel, parse_kernel, uniform_kernel
from .linear import LinearOperator
from .masks import box_mask, half_mask, load_mask, random_mask, stroke_mask
from .noise import add_noise, estimate_noise, to_prior_space
from .scales import Coarse, block_mean, upsample

__all__ = [
    "Operator",
    "SVDOperator",
    "Inpainting",
    "Blur",
    "CircularBlur",
    "Downsample",
    "Denoise",
    "Colorize",
    "Crop",
    "Padded",
    "LinearOperator",
    "Composed",
    "Coarse",
    "block_mean",
    "upsample",
    "gaussian_kernel",
    "motion_kernel",
    "uniform_kernel",
    "load_kernel",
    "check_kernel",
    "parse_kernel",
    "keys_cubic",
    "bicubic_matrix",
    "load_mask",
    "box_mask",
    "random_mask",
    "stroke_mask",
    "half_mask",
    "add_noise",
    "estimate_noise",
    "to_prior_space",
    "cgls",
]
