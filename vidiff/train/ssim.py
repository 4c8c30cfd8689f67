"""SSIM as a training loss: the benchmarks' structural similarity, differentiable, per sample.

:func:`ssim_per_sample` is :func:`vidiff.metrics.ssim` in torch (per RGB channel, an 11x11
Gaussian window of sigma 1.5, the valid region, averaged; the same constants on the [0, 1]
scale), so that a refiner's loss can pay for what the benchmarks' SSIM column measures
(``RefinerTrain.ssim_loss``). Layout: frames ``b 3 h w`` in [0, 1], at least 11 px a side.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

SIDE, SIGMA = 11, 1.5
C1, C2 = 0.01**2, 0.03**2


def _gauss(device, dtype) -> Tensor:
    taps = torch.tensor([math.exp(-((k - SIDE // 2) ** 2) / (2 * SIGMA**2)) for k in range(SIDE)],
                        device=device, dtype=dtype)
    return taps / taps.sum()


def _filter(x: Tensor, taps: Tensor) -> Tensor:
    """The separable Gaussian of each channel, valid region only (``b c h-10 w-10``)."""
    c = x.shape[1]
    x = F.conv2d(x, taps.view(1, 1, 1, SIDE).expand(c, 1, 1, SIDE), groups=c)
    return F.conv2d(x, taps.view(1, 1, SIDE, 1).expand(c, 1, SIDE, 1), groups=c)


def ssim_per_sample(x: Tensor, y: Tensor) -> Tensor:
    """``b``: the SSIM of each sample of ``x`` against ``y`` (``b 3 h w``, [0, 1])."""
    if min(x.shape[-2:]) < SIDE:
        raise ValueError(f"ssim needs at least {SIDE}x{SIDE} pixels, got {tuple(x.shape[-2:])}")
    x, y = x.float(), y.float()
    taps = _gauss(x.device, x.dtype)
    mu_x, mu_y = _filter(x, taps), _filter(y, taps)
    var_x = _filter(x * x, taps) - mu_x**2
    var_y = _filter(y * y, taps) - mu_y**2
    cov = _filter(x * y, taps) - mu_x * mu_y
    num = (2 * mu_x * mu_y + C1) * (2 * cov + C2)
    den = (mu_x**2 + mu_y**2 + C1) * (var_x + var_y + C2)
    return (num / den).flatten(1).mean(1)
