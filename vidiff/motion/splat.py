"""Forward splatting of flow to time t (flow-field version of Baker et al.'s interpolation).

Layouts as in :mod:`vidiff.motion.base`: flows ``b 2 h w`` in pixels (dx, dy), images ``b c h w``.

Each pixel ``p`` of a source frame at time ``t_src`` moves with constant velocity; at time ``t`` it
sits at ``q = p + (t - t_src) v(p)`` and the flow from time ``t`` back to the source there is
``p - q``. Splatting that value bilinearly onto the grid at time ``t`` gives the backward flow
``F_t->src`` at the pixels it reaches. Where several source pixels land on one target (occlusion),
each is weighted by ``exp(-k * err)`` with ``err`` its brightness-constancy error (mean absolute
colour difference to its match in the other frame, on [0, 1]): the pixel that is covered in the
other frame matches badly and loses (the "softmax splatting" idea of Niklaus & Liu 2020 with a
fixed metric). The splatted coverage (clamped to [0, 1]) says how much of the source is visible
at each target pixel and becomes its blend weight; holes (nothing landed) keep a fallback flow.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vidiff.motion.warp import backward_warp, base_grid


def splat(values: Tensor, target: Tensor, weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Bilinear forward splat of ``values`` (b c h w) to pixel positions ``target`` (b 2 h w).

    Each source contributes ``weight`` (b 1 h w) times its bilinear share. Returns the weighted sum
    of values ``(b c h w)``, the summed weight ``(b 1 h w)`` (not normalised) and the coverage
    ``(b 1 h w)``: the summed bilinear shares alone, about 1 where the source lands once.
    """
    b, c, h, w = values.shape
    x, y = target[:, 0].reshape(b, -1), target[:, 1].reshape(b, -1)
    x0, y0 = x.floor(), y.floor()
    ones = torch.ones_like(weight)
    payload = torch.cat((values * weight, weight, ones), dim=1).reshape(b, c + 2, -1)
    acc = values.new_zeros(b, c + 2, h * w)
    for dx in (0.0, 1.0):
        for dy in (0.0, 1.0):
            xi, yi = x0 + dx, y0 + dy
            share = (1.0 - (x - xi).abs()) * (1.0 - (y - yi).abs())
            inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            share = share * inside
            index = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long()
            index = index.unsqueeze(1).expand(b, c + 2, -1)
            acc.scatter_add_(2, index, payload * share.unsqueeze(1))
    acc = acc.reshape(b, c + 2, h, w)
    return acc[:, :c], acc[:, c : c + 1], acc[:, c + 1 :]


def splat_flow(
    flow_src: Tensor, match_error: Tensor, t_src: float, t: float, k: float
) -> tuple[Tensor, Tensor]:
    """Flow from time ``t`` back to the source frame, splatted; returns ``(flow, coverage)``.

    ``flow_src`` is the source frame's flow to the other input (``b 2 h w``); the velocity is
    ``flow_src / (t_other - t_src)`` with the other input one unit away. ``coverage`` (b 1 h w) is
    the splatted bilinear share (0 in holes, about 1 where one source pixel lands); ``flow`` is zero
    where nothing landed.
    """
    _, _, h, w = flow_src.shape
    velocity = flow_src if t_src == 0.0 else -flow_src
    disp = (t - t_src) * velocity
    target = base_grid(h, w, flow_src.device, flow_src.dtype) + disp
    weight = torch.exp(-(k * match_error).clamp(max=20.0))
    total, mass, coverage = splat(-disp, target, weight)
    return total / mass.clamp_min(1e-12), coverage


def match_error(image_a: Tensor, image_b: Tensor, flow_ab: Tensor) -> Tensor:
    """Brightness-constancy error ``(b 1 h w)`` of each pixel of a against its match in b."""
    return (image_a - backward_warp(image_b, flow_ab)).abs().mean(1, keepdim=True)
