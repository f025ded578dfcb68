"""RePaint: inpainting with resampling (Lugmayr, Danelljan, Romero, Yu, Timofte & Van Gool, CVPR 2022)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from restore.operators import Inpainting
from restore.operators.base import Operator
from restore.priors.schedule import Schedule
from restore.priors.sampling import posterior_mean, reverse_variance

from ._chain import chain, emit, finish, level_abar, levels, normal, observe, renoise, start
from .padding import pads


@pads
@torch.no_grad()
def repaint(prior, operator: Operator, y: Tensor, *, steps: int | Schedule, sigma_y: float,
            generator: torch.Generator | None = None, callback: Callable | None = None, x_init: Tensor | None = None,
            jump_length: int = 10, resample: int = 10, variance="beta_tilde") -> Tensor:
    """RePaint, Lugmayr et al. CVPR 2022, Algorithm 1 (eqs. 8-10) with the resampling schedule.

    Each reverse step draws the known pixels from the forward chain, x_{t-1}^known ~
    N(sqrt(abar_{t-1}) y', (1 - abar_{t-1}) I), the unknown ones from the model's ancestral step,
    x_{t-1}^unknown ~ N(mu_theta(x_t, t), sigma_t^2 I) (sigma_t^2 from ``variance``, passed to
    `reverse_variance`; the paper's network learns it), and joins them with the mask:
    x_{t-1} = m * known + (1 - m) * unknown. Resampling: after reaching levels 1, 1 + j, 1 + 2j, ...
    (j = jump_length) the chain goes back j levels with q(x_{t+j} | x_t), resample - 1 times each
    (the paper's U = resample, default 10 and j = 10; resample = 1 disables it).

    Only `Inpainting` operators (ValueError otherwise). The paper defines no noisy measurement:
    sigma_y > 0 raises ValueError (known pixels would be pasted with their noise).
    Returns images on [0, 1], unclamped; callback {i, t, x, x0_hat} once per network evaluation.
    """
    if not isinstance(operator, Inpainting):
        raise ValueError(f"repaint is an inpainting method: it needs an Inpainting operator, got {operator!r}")
    if float(sigma_y) > 0:
        raise ValueError("repaint: the RePaint paper defines no noisy-measurement case; "
                         "use ddnm_plus, ddrm, pigdm, diffpir or dps for sigma_y > 0")
    obs = observe(prior, operator, y, sigma_y)
    s = chain(prior, steps)
    var = reverse_variance(s, variance)
    mask = operator.A(torch.ones(obs.x_shape, dtype=obs.y.dtype, device=obs.y.device))
    x = start(obs, s, generator, x_init)
    path = levels(len(s), jump_length, resample)
    for low, high in zip(path[:-1], path[1:]):
        if high > low:
            # RePaint Alg. 1, resampling: x_t ~ N(sqrt(1 - beta_t) x_{t-1}, beta_t I), j times in one draw
            x = renoise(s, x, low, high, generator)
            continue
        i = high
        t = int(s.t[i])
        ab = level_abar(s, i)
        known = ab**0.5 * obs.y + (1 - ab) ** 0.5 * normal(x.shape, generator, x)  # RePaint eq. (8)
        x0 = prior.x0_hat(x, t)
        emit(callback, i, t, x, x0)
        unknown = posterior_mean(s, i, x0, x)  # RePaint eq. (9): mu_theta(x_t, t) ...
        if i > 0:
            unknown = unknown + float(var[i]) ** 0.5 * normal(x.shape, generator, x)  # ... + sigma_t z
        x = mask * known + (1 - mask) * unknown  # RePaint eq. (10)
    return finish(x, y)
