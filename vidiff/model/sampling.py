"""Noise schedules and samplers over a denoiser callable, plus :func:`sample` for whole windows.

Every sampler has the signature ``sampler(denoise, x, sigmas, *, generator=None) -> x``:
``denoise(x, sigma) -> denoised`` has the conditioning bound in (conditioning travels as data, never
as sampler arguments), ``x`` starts at noise level ``sigmas[0]`` and ``sigmas`` decreases to a final
0. The last step (to sigma 0) returns the denoised estimate itself, so a denoiser that outputs 0
makes every sampler return exactly 0 (the untrained model samples mu exactly).

- ``dpmpp2m`` (default): DPM-Solver++(2M) (Lu et al. 2022, as in k-diffusion), deterministic,
  second order with one network evaluation per step by reusing the previous one: the best quality
  per evaluation at 2-8 steps, which is what a CPU frame budget allows.
- ``heun``: EDM's deterministic 2nd-order Heun (Karras et al. 2022, Alg. 1 without churn); two
  evaluations per step except the last (2 * steps - 1 in all).
- ``ancestral``: Euler ancestral (eta = 1), a DDPM-style stochastic sampler: fresh noise each step.
- ``ode``: first-order Euler on the probability-flow ODE; meant for many steps (a reference).
Schedule: :func:`karras_sigmas` (rho = 7 spacing, EDM eq. 5) with a 0 appended.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import OptionError
from .cond import Cond
from .noise import Generators, randn
from .tiling import TilePlan, run_tiled

Denoise = Callable[[Tensor, float], Tensor]


def karras_sigmas(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """``steps`` noise levels from sigma_max down to sigma_min (EDM eq. 5), then a final 0."""
    if steps < 1:
        raise OptionError(f"steps must be >= 1 for a schedule, got {steps}")
    if steps == 1:
        return torch.tensor([sigma_max, 0.0], dtype=torch.float64)
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    sigmas[0], sigmas[-1] = sigma_max, sigma_min  # exact ends, whatever the rounding
    return torch.cat([sigmas, sigmas.new_zeros(1)])


def sample_dpmpp2m(denoise: Denoise, x: Tensor, sigmas: Tensor, *, generator=None) -> Tensor:
    s = sigmas.tolist()
    old = None
    for i in range(len(s) - 1):
        denoised = denoise(x, s[i])
        if s[i + 1] == 0:
            return denoised
        h = math.log(s[i]) - math.log(s[i + 1])
        if old is not None:
            r = (math.log(s[i - 1]) - math.log(s[i])) / h
            d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old
        else:
            d = denoised
        x = (s[i + 1] / s[i]) * x - math.expm1(-h) * d
        old = denoised
    return x


def sample_heun(denoise: Denoise, x: Tensor, sigmas: Tensor, *, generator=None) -> Tensor:
    s = sigmas.tolist()
    for i in range(len(s) - 1):
        denoised = denoise(x, s[i])
        if s[i + 1] == 0:
            return denoised
        d = (x - denoised) / s[i]
        x_next = x + (s[i + 1] - s[i]) * d
        d2 = (x_next - denoise(x_next, s[i + 1])) / s[i + 1]
        x = x + (s[i + 1] - s[i]) * (d + d2) / 2
    return x


def sample_euler_ancestral(
    denoise: Denoise, x: Tensor, sigmas: Tensor, *, generator: Generators = None
) -> Tensor:
    s = sigmas.tolist()
    for i in range(len(s) - 1):
        denoised = denoise(x, s[i])
        if s[i + 1] == 0:
            return denoised
        up = min(s[i + 1], math.sqrt(s[i + 1] ** 2 * (s[i] ** 2 - s[i + 1] ** 2) / s[i] ** 2))
        down = math.sqrt(s[i + 1] ** 2 - up**2)
        x = x + (down - s[i]) * (x - denoised) / s[i]
        x = x + randn(x.shape, generator, x.device, x.dtype) * up
    return x


def sample_euler(denoise: Denoise, x: Tensor, sigmas: Tensor, *, generator=None) -> Tensor:
    s = sigmas.tolist()
    for i in range(len(s) - 1):
        denoised = denoise(x, s[i])
        if s[i + 1] == 0:
            return denoised
        x = x + (s[i + 1] - s[i]) * (x - denoised) / s[i]
    return x


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "dpmpp2m": sample_dpmpp2m,
    "heun": sample_heun,
    "ancestral": sample_euler_ancestral,
    "ode": sample_euler,
}
DEFAULT_SAMPLER = "dpmpp2m"


@torch.no_grad()
def sample(
    denoiser,
    cond: Cond,
    *,
    steps: int,
    sampler: str = DEFAULT_SAMPLER,
    generator: Generators = None,
    sigma_max: float | None = None,
    sigma_min: float | None = None,
    plan: TilePlan | None = None,
) -> Tensor:
    """Frames ``(b, 3, t, h, w)`` in [0, 1] for ``cond``'s windows; known frames bit-exact.

    ``steps`` noise levels of the Karras schedule (``steps = 0`` returns mu); ``sampler`` a key of
    :data:`SAMPLERS`; ``generator`` None, a generator or one per window (per-window generators make a
    window reproducible whatever the batch it is in). ``sigma_max``/``sigma_min`` default to the
    model config's. The same seed gives the same frames on the same device. ``plan``
    (:mod:`.tiling`, e.g. from :func:`.memory.denoiser_plan`) runs the network tile by tile;
    the noise is drawn for the whole frame, so a seed gives the same noise tiled or not.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise OptionError(f"steps must be a non-negative integer, got {steps!r}")
    if sampler not in SAMPLERS:
        raise OptionError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    cfg = denoiser.config
    residual = torch.zeros_like(cond.mu)
    if steps > 0:
        sigmas = karras_sigmas(
            steps,
            cfg.sigma_min if sigma_min is None else sigma_min,
            cfg.sigma_max if sigma_max is None else sigma_max,
            cfg.rho,
        )
        x = randn(cond.mu.shape, generator, cond.mu.device, cond.mu.dtype) * sigmas[0].item()
        x = x * cond.unknown
        residual = SAMPLERS[sampler](
            tiled_denoise(denoiser, cond, plan), x, sigmas, generator=generator
        )
    return denoiser.to_frames(residual, cond)


def tiled_denoise(denoiser, cond: Cond, plan: TilePlan | None) -> Denoise:
    """``denoise(x, sigma)`` with ``cond`` bound, run tile by tile when ``plan`` has several.

    Each tile keeps its own :class:`Cond` crop for the whole run, so the network's per-run cache
    (the stem features of mu and the known frames) is computed once per tile, as untiled.
    """
    if plan is None or plan.single:
        return lambda x, sigma: denoiser(x, sigma, cond)
    conds = [
        Cond(tile.crop(cond.frames), cond.mask, tile.crop(cond.mu), cond.times)
        for tile in plan.tiles
    ]
    return lambda x, sigma: run_tiled(
        lambda tile, xt: denoiser(xt, sigma, conds[tile.index]), [x], plan
    )
