"""RefinedMotion: the motion estimate corrected by the learned refiner, as a motion estimator.

It implements :class:`vidiff.motion.MotionEstimator`, so everything that takes a motion estimate
(the interpolation pipeline, :func:`vidiff.model.build_cond` for the diffusion model) takes it
unchanged: motion (DIS flows), learned mean (this) and diffusion (on ``x - mean``) stay three
separable parts. Times strictly inside (0, 1) are refined; 0 and 1 return the inputs; times
outside (extrapolation, used by ``vidiff generate``) get the plain motion estimate, because the
refiner is trained on interpolation only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..motion.base import check_pair
from ..motion.blend import flows_to_time
from ..motion.flow import FlowMotion
from .refiner import Refiner


class RefinedMotion:
    def __init__(self, refiner: Refiner, motion: FlowMotion | None = None):
        self.refiner = refiner.eval()
        self.motion = motion if motion is not None else FlowMotion()

    @torch.inference_mode()
    def estimate(self, frame0: Tensor, frame1: Tensor, times: Sequence[float]) -> Tensor:
        times = check_pair(frame0, frame1, times)
        inside = [t for t in times if 0.0 < t < 1.0]
        outside = [t for t in times if not 0.0 < t < 1.0]
        out: dict[float, Tensor] = {}
        if outside:
            est = self.motion.estimate(frame0, frame1, outside)
            out.update({t: est[:, :, i] for i, t in enumerate(outside)})
        if inside:
            dtype = next(self.refiner.parameters()).dtype
            f0, f1 = frame0.to(dtype), frame1.to(dtype)
            flows = self.motion.full_flows(frame0, frame1).to(dtype)
            for t in dict.fromkeys(inside):
                ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], t)
                frame = self.refiner(f0, f1, ft0, ft1, t)["frame"]
                out[t] = frame.clamp(0.0, 1.0).to(frame0.dtype)
        return torch.stack([out[t] for t in times], dim=2)
