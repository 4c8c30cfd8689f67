"""RefinedMotion: the motion estimate corrected by the learned refiner, as a motion estimator.

It implements :class:`vidiff.motion.MotionEstimator`, so everything that takes a motion estimate
(the interpolation pipeline, :func:`vidiff.model.build_cond` for the diffusion model) takes it
unchanged: motion (DIS flows, and Farneback's where they fit better), learned mean (this) and
diffusion (on ``x - mean``) stay three separable parts. Times strictly inside (0, 1) are refined
by the refiner; times past frame1 (``t > 1``: prediction, ``vidiff generate``) by the predictor
when there is one (the same network trained on prediction); 0 and 1 return the inputs; anything
else (no refiner or predictor for it, or ``t < 0``) gets the plain motion estimate. A network
with ``alternate`` (:mod:`.refiner`) is also given the motion step's second flow's own pair.

``max_memory`` (bytes for one call, or a :class:`.memory.Budget`) runs the refiner's U-Net in overlapping
tiles when a frame would not fit (:mod:`.tiling`); ``None`` runs whole frames.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from ..motion.base import check_pair
from ..motion.blend import flows_to_time
from ..motion.flow import FlowMotion
from .memory import check_budget, plan_for
from .refiner import Refiner


class RefinedMotion:
    """``ensemble=True`` also refines the mirrored pair (frames and flows flipped left-right) and
    averages the two results: twice the refiner's time for a steadier estimate."""

    def __init__(
        self, refiner: Refiner | None, motion: FlowMotion | None = None, ensemble: bool = False,
        max_memory=None, predictor: Refiner | None = None,
    ):
        # channels-last: oneDNN's convolutions run 1.5-2x faster in it on the CPU (720p, measured)
        self.refiner, self.predictor = (
            None if net is None else net.eval().to(memory_format=torch.channels_last)
            for net in (refiner, predictor)
        )
        self.motion = motion if motion is not None else FlowMotion()
        self.ensemble = bool(ensemble)
        self.max_memory = check_budget(max_memory)

    @torch.inference_mode()
    def estimate(self, frame0: Tensor, frame1: Tensor, times: Sequence[float]) -> Tensor:
        return torch.stack(list(self.estimates(frame0, frame1, times)), dim=2)

    @torch.inference_mode()
    def estimates(self, frame0: Tensor, frame1: Tensor, times: Sequence[float]) -> Iterator[Tensor]:
        """:meth:`estimate` one time at a time (``b 3 h w`` each), the flows computed once."""
        times = check_pair(frame0, frame1, times)
        nets = [self._net(t) for t in times]
        # the plain estimates, in order, from one motion field
        plain = self.motion.estimates(frame0, frame1, [t for t, n in zip(times, nets) if n is None])
        prepared, plans = None, {}
        for t, net in zip(times, nets):
            if net is None:
                yield next(plain)
                continue
            if prepared is None:
                dtype = next(net.parameters()).dtype
                f0, f1 = (_last(f.to(dtype)) for f in (frame0, frame1))
                if any(n is not None and n.config.alternate for n in nets):
                    flows, alt = self.motion.full_flow_candidates(frame0, frame1)
                else:  # no network chooses: the second flow's own pair is not needed
                    flows, alt = self.motion.full_flows(frame0, frame1), None
                flows = _last(flows.to(dtype))
                alt = None if alt is None else _last(alt.to(dtype))
                prepared = True
            factor = net.config.factor  # the refiner and the predictor may differ in depth
            if factor not in plans:
                plans[factor] = plan_for("refiner", *frame0.shape[-2:], frame0.shape[0],
                                         self.max_memory, factor=factor)
            plan = plans[factor]
            ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], t)
            frame = net(f0, f1, ft0, ft1, t, plan=plan, flows=flows, alt_flows=alt)["frame"]
            if self.ensemble:
                mirrored = net(_flip(f0), _flip(f1), _flip(ft0, True), _flip(ft1, True), t,
                               plan=plan, flows=_flip(flows, True),
                               alt_flows=None if alt is None else _flip(alt, True))["frame"]
                frame = (frame + _flip(mirrored)) / 2
            yield frame.clamp(0.0, 1.0).to(frame0.dtype)

    def _net(self, t: float) -> Refiner | None:
        """The network that refines time ``t``, or None for the plain motion estimate."""
        if 0.0 < t < 1.0:
            return self.refiner
        return self.predictor if t > 1.0 else None


def _last(x: Tensor) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def _flip(x: Tensor, flow: bool = False) -> Tensor:
    """Mirror ``b c h w`` left-right; a flow's dx (every even channel of a ``b 2k h w`` stack of
    flows) changes sign."""
    x = x.flip(-1)
    if flow:
        sign = torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
        sign[0::2] = -1
        x = x * sign.view(1, -1, 1, 1)
    return x
