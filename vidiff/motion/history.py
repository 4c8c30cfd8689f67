"""How far to trust the flow past the pair, from how it did one frame back (a third seed).

Past frame1 (``vidiff generate``) the motion estimate carries frame1 on along the pair's flow,
which assumes the motion goes on. Where it stops, turns, or never was motion (flicker, the
neighbour of a held frame), a damped flow, or frame1 held, scores higher, and the pair alone
says little about which (``tools/probe_damping.py``). With the known frame one interval before
the pair (``before``), the same extrapolation can be *backtested*: frame0 carried on one frame
by its flow to ``before`` predicts frame1, which is known. Per block of the frame, the factor
on that flow that predicted frame1 best picks, through :data:`TABLE`, the factor to put on the
pair's flow at each time ahead. The table was fitted on real footage (``clips/`` and
``sequences/``, the benchmark's frames kept out) by ``tools/probe_history.py``, as the choice
that maximises the mean frame PSNR; the factors are then interpolated between block centres so
that no block edge shows.

Layouts: frames ``b 3 h w`` in [0, 1]; flows ``b 2 h w`` in pixels; the choice ``b 1 gh gw``
(indices into :data:`FACTORS`, one per block); the gain ``b 1 h w``; a predictor's history
input ``b 2 h w`` (:func:`history_input`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from vidiff.motion.warp import backward_warp

FACTORS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25)
"""The factors on the flow the backtest tries (0 holds frame0, 1 is the flow as it is)."""

# Rows: t = 2, 3, 4, 5 (1-4 frames past frame1); columns: the backtest's best factor, as FACTORS.
# python tools/probe_history.py --every 3 --block 128 (AMD EPYC, 2026-12-06; weights/README.md)
TABLE: tuple[tuple[float, ...], ...] = (
    (0.25, 0.5, 0.75, 0.75, 1.0, 1.0),
    (0.0, 0.25, 0.5, 0.75, 1.0, 0.75),
    (0.0, 0.25, 0.5, 0.75, 1.0, 0.75),
    (0.0, 0.25, 0.5, 0.75, 1.0, 0.75),
)

BLOCK = 128
"""Block side in pixels at a short side of 480 or less (scaled with larger frames). Of 32, 64
and 128 px, 128 scored best in the probe (+0.56 dB over mu, against +0.50 and +0.42) and on
the generate benchmark (mu + backtest 30.57 dB / SSIM 0.8568 against 30.44 / 0.8553 at 64)."""


def block_size(h: int, w: int) -> int:
    """The block side for an ``h x w`` frame: :data:`BLOCK`, scaled above a short side of 480."""
    return max(8, round(BLOCK * max(1.0, min(h, w) / 480)))


@torch.no_grad()
def backtest_choice(frame0: Tensor, frame1: Tensor, flow_0b: Tensor, mode: str = "bilinear"
                    ) -> Tensor:
    """``b 1 gh gw`` long: per block, the index of the factor in :data:`FACTORS` whose
    ``warp(frame0, factor * flow_0b)`` (frame0 carried one frame on, as the motion step
    extrapolates) is nearest frame1. ``flow_0b``: the flow from frame0 to ``before`` (pixels,
    frame size, as :meth:`vidiff.motion.FlowMotion.full_flows` of ``(frame0, before)`` gives it
    first); blocks at the right and bottom edges may be partial."""
    h, w = frame0.shape[-2:]
    block = block_size(h, w)
    errors = []
    for g in FACTORS:
        guess = frame0 if g == 0.0 else backward_warp(frame0, g * flow_0b, mode=mode)
        err = (guess.float() - frame1.float()).square().mean(1, keepdim=True)
        errors.append(F.avg_pool2d(err, block, ceil_mode=True))
    return torch.stack(errors, 0).argmin(0)


def history_gain(choice: Tensor, t: float, h: int, w: int) -> Tensor:
    """``b 1 h w`` float: the factor on the pair's flow at time ``t`` (> 1) for each pixel of an
    ``h x w`` frame, from :func:`backtest_choice`'s blocks through :data:`TABLE`, interpolated
    bilinearly between block centres."""
    row = TABLE[min(max(int(round(t)) - 2, 0), len(TABLE) - 1)]
    return _per_pixel(torch.tensor(row, dtype=torch.float32, device=choice.device)[choice], h, w)


def backtest_map(choice: Tensor, h: int, w: int) -> Tensor:
    """``b 1 h w`` float: the backtest's best factor itself (:data:`FACTORS`, 0 ... 1.25) for
    each pixel of an ``h x w`` frame, interpolated as :func:`history_gain`: what a predictor that
    sees the history is given (``RefinerConfig.history``), whatever the time it is asked for."""
    return _per_pixel(torch.tensor(FACTORS, dtype=torch.float32, device=choice.device)[choice], h, w)


def history_input(choice: Tensor | None, h: int, w: int, batch: int = 1) -> Tensor:
    """``b 2 h w`` float: a predictor's history input, :func:`backtest_map` and a channel of 1
    where there was a backtest; without one (``choice`` None: two seeds, or the first pair of a
    run) factor 1 (the flow as it is) and 0."""
    if choice is None:
        return torch.cat([torch.ones(batch, 1, h, w), torch.zeros(batch, 1, h, w)], 1)
    factors = backtest_map(choice, h, w)
    return torch.cat([factors, torch.ones_like(factors)], 1)


def _per_pixel(values: Tensor, h: int, w: int) -> Tensor:
    """Per-block ``values`` (``b 1 gh gw``) over an ``h x w`` frame, bilinear between block
    centres."""
    block = block_size(h, w)
    gh, gw = values.shape[-2:]
    # the block grid covers ceil(h / block) blocks: resize it over that padded extent, then crop
    big = F.interpolate(values, size=(gh * block, gw * block), mode="bilinear",
                        align_corners=False)
    return big[..., :h, :w].contiguous()


def grid_shape(h: int, w: int) -> tuple[int, int]:
    """How many blocks :func:`backtest_choice` makes down and across an ``h x w`` frame."""
    block = block_size(h, w)
    return math.ceil(h / block), math.ceil(w / block)
