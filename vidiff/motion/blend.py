"""Flow to an arbitrary time, forward-backward visibility, and the occlusion-aware blend.

Layouts as in :mod:`vidiff.motion.base`: images ``b c h w`` float ``[0, 1]``, flows ``b 2 h w`` in
pixels (dx, dy). Time ``t`` is in units of the input interval (frame0 at 0, frame1 at 1).

Flow to time ``t`` generalises Super SloMo's (Jiang et al. 2018) approximation, which reads the
motion of the pixel that sits at ``x`` at time ``t`` from the flows at ``x`` of both inputs, mixed by
``s = clamp(t, 0, 1)``::

    F_t->0 = t       * (-(1 - s) F_0->1 + s F_1->0)
    F_t->1 = (1 - t) * ( (1 - s) F_0->1 - s F_1->0)

Inside ``[0, 1]`` this is exactly Super SloMo's ``-(1-t)t F01 + t^2 F10`` and
``(1-t)^2 F01 - t(1-t) F10``; past frame1 (``t > 1``) it becomes the constant-velocity
extrapolation ``F_t->1 = (t - 1) F_1->0`` (and ``F_t->0 = t F_1->0``), before frame0 (``t < 0``)
``F_t->0 = -t F_0->1``. The temporal blend weights are ``1 - s`` for frame0 and ``s`` for frame1,
so an extrapolated frame is drawn from the nearer input only.

Visibility: a pixel whose forward flow is not undone by the backward flow at its match
(forward-backward error, Sundaram et al. 2010) is probably occluded in the other frame; its soft
visibility is ``exp(-|F01 + F10(x + F01)|^2 / (alpha (|F01|^2 + |F10(x + F01)|^2) + beta))``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vidiff.motion.warp import backward_warp


def flows_to_time(flow01: Tensor, flow10: Tensor, t: float | Tensor) -> tuple[Tensor, Tensor]:
    """Return ``(F_t->0, F_t->1)`` (each ``b 2 h w``, pixels) for time ``t``: a float, or a
    ``(b,)`` tensor with one time per pair (training batches)."""
    if isinstance(t, Tensor):
        t = t.to(flow01.dtype).view(-1, 1, 1, 1)
        s = t.clamp(0.0, 1.0)
    else:
        s = min(max(t, 0.0), 1.0)
    flow_t0 = t * (s * flow10 - (1.0 - s) * flow01)
    flow_t1 = (1.0 - t) * ((1.0 - s) * flow01 - s * flow10)
    return flow_t0, flow_t1


def visibility(flow_ab: Tensor, flow_ba: Tensor, alpha: float, beta: float) -> Tensor:
    """Soft visibility ``(b 1 h w)`` in ``(0, 1]`` of image a's pixels in image b."""
    back = backward_warp(flow_ba, flow_ab)
    err = (flow_ab + back).square().sum(1, keepdim=True)
    mag = flow_ab.square().sum(1, keepdim=True) + back.square().sum(1, keepdim=True)
    return (-err / (alpha * mag + beta)).exp()


def blend_warped(
    frame0: Tensor,
    frame1: Tensor,
    flow_t0: Tensor,
    flow_t1: Tensor,
    weight0: Tensor | float,
    weight1: Tensor | float,
    mode: str = "bilinear",
) -> Tensor:
    """Backward-warp both frames to time t and blend: ``sum(w_i warp_i) / sum(w_i)``; ``b 3 h w``.
    ``mode``: the warp's sampling (:func:`vidiff.motion.warp.backward_warp`).

    ``weight0``/``weight1`` are ``b 1 h w`` (temporal share times visibility, strictly positive
    where the share is) or python floats; a side whose weight is the float 0 is not warped at all.
    """
    if isinstance(weight1, float) and weight1 == 0.0:
        return backward_warp(frame0, flow_t0, mode=mode)
    if isinstance(weight0, float) and weight0 == 0.0:
        return backward_warp(frame1, flow_t1, mode=mode)
    if isinstance(weight0, float) and isinstance(weight1, float):
        share = weight1 / (weight0 + weight1)
        warped0 = backward_warp(frame0, flow_t0, mode=mode)
        warped1 = backward_warp(frame1, flow_t1, mode=mode)
        if warped0.requires_grad or warped1.requires_grad:
            return torch.lerp(warped0, warped1, share)
        return warped0.lerp_(warped1, share)  # fresh tensors: blend in place
    warped0 = backward_warp(frame0, flow_t0, mode=mode)
    warped1 = backward_warp(frame1, flow_t1, mode=mode)
    return (weight0 * warped0 + weight1 * warped1) / (weight0 + weight1)
