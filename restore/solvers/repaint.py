"""RePaint: inpainting with resampling (Lugmayr, Danelljan, Romero, Yu, Timofte & Van Gool, CVPR 2022)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from restore.operators import Inpainting
from restore.priors.sampling import posterior_mean, reverse_variance
from restore.priors.schedule import Schedule

from .problem import Problem, normal
from .travel import levels, renoise


@torch.no_grad()
def repaint(prior, problem: Problem, schedule: Schedule, *, x_init: Tensor | None = None,
            generator: torch.Generator | None = None, callback: Callable | None = None,
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
    Signature and return: `restore.solvers.problem`; callback once per network evaluation.
    """
    op = problem.operator
    if not isinstance(op, Inpainting):
        raise ValueError(f"repaint is an inpainting method: it needs an Inpainting operator, got {op!r}")
    if problem.sigma > 0:
        raise ValueError("repaint: the RePaint paper defines no noisy-measurement case; "
                         "use ddnm_plus, ddrm, pigdm, diffpir or dps for sigma_y > 0")
    var = reverse_variance(schedule, variance)
    mask = op.A(torch.ones(problem.x_shape, dtype=problem.y.dtype, device=problem.y.device))
    x = problem.start(schedule, generator, x_init)
    path = levels(len(schedule), jump_length, resample)
    for level, nxt in zip(path[:-1], path[1:]):
        if nxt > level:
            # RePaint Alg. 1, resampling: x_t ~ N(sqrt(1 - beta_t) x_{t-1}, beta_t I), j times in one draw
            x = renoise(schedule, x, level, nxt, generator)
            continue
        i, t, abar, abar_prev = schedule.step(nxt)
        known = abar_prev**0.5 * problem.y + (1 - abar_prev) ** 0.5 * normal(x.shape, generator, x)  # RePaint eq. (8)
        x0 = prior.x0_hat(x, t)
        problem.emit(callback, i, t, x, x0)
        unknown = posterior_mean(schedule, i, x0, x)  # RePaint eq. (9): mu_theta(x_t, t) ...
        if i > 0:
            unknown = unknown + float(var[i]) ** 0.5 * normal(x.shape, generator, x)  # ... + sigma_t z
        x = mask * known + (1 - mask) * unknown  # RePaint eq. (10)
    return problem.image(x)
