"""RefinedMotion: the motion estimate corrected by the learned refiner, as a motion estimator.

It implements :class:`vidiff.motion.MotionEstimator`, so everything that takes a motion estimate
(the interpolation pipeline, :func:`vidiff.model.build_cond` for the diffusion model) takes it
unchanged: motion (DIS flows, and Farneback's where they fit better), learned mean (this) and
diffusion (on ``x - mean``) stay three separable parts. Times strictly inside (0, 1) are refined
by the refiner; times past frame1 (``t > 1``: prediction, ``vidiff generate``) by the predictor
when there is one (the same network trained on prediction); 0 and 1 return the inputs; anything
else (no refiner or predictor for it, or ``t < 0``) gets the plain motion estimate. A network
with ``alternate`` (:mod:`.refiner`) is also given the motion step's second flow's own pair, a
predictor with ``history`` the backtest on the frame before the pair (that of none without it).

``max_memory`` (bytes for one call, or a :class:`.memory.Budget`) runs the refiner's U-Net in overlapping
tiles when a frame would not fit (:mod:`.tiling`); ``None`` runs whole frames.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

from ..errors import OptionError
from ..motion.base import check_pair
from ..motion.blend import flows_to_time
from ..motion.flow import FlowMotion
from ..motion.history import history_gain, history_input
from .memory import check_budget, plan_for
from .refiner import Refiner


class RefinedMotion:
    """``ensemble`` averages the refiner's results over symmetries of the pair, each undone on
    its output (test-time augmentation): any of ``"mirror"`` (frames and flows flipped
    left-right), ``"flip"`` (upside down) and ``"reverse"`` (the pair swapped, so time t is
    asked for as 1 - t; in-between times only). Every combination of the named ones runs, so
    ``("mirror", "reverse")`` is four passes of the refiner for a steadier estimate;
    ``True`` means ``("mirror",)``, ``False`` or ``()`` none."""

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
        self.ensemble = check_ensemble(ensemble)
        self.max_memory = check_budget(max_memory)

    takes_before = True  # as FlowMotion: past frame1, the frame before the pair (backtest)

    @torch.inference_mode()
    def estimate(self, frame0: Tensor, frame1: Tensor, times: Sequence[float],
                 before: Tensor | None = None) -> Tensor:
        return torch.stack(list(self.estimates(frame0, frame1, times, before)), dim=2)

    @torch.inference_mode()
    def estimates(self, frame0: Tensor, frame1: Tensor, times: Sequence[float],
                  before: Tensor | None = None) -> Iterator[Tensor]:
        """:meth:`estimate` one time at a time (``b 3 h w`` each), the flows computed once.
        ``before`` (the known frame before the pair) damps the flow past frame1 as the motion
        step's ``backtest`` says (:mod:`vidiff.motion.history`), for the plain estimate and
        before the predictor sees it: the flow 1->0, the only one that counts there, is scaled
        by the gain, as prediction packs built with ``backtest`` store it."""
        times = check_pair(frame0, frame1, times)
        nets = [self._net(t) for t in times]
        # the plain estimates, in order, from one motion field
        plain = self.motion.estimates(frame0, frame1, [t for t, n in zip(times, nets) if n is None],
                                      before)
        use_before = before is not None and self.motion.config.backtest
        prepared, plans, choice, seen = None, {}, None, {}
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
            fl, al, hist = flows, alt, None
            if t > 1.0 and use_before:  # past frame1 only the flow 1->0 counts: scale it
                if choice is None:
                    choice = self.motion.choose_by_backtest(before, frame0, frame1)
                gain = history_gain(choice, t, *frame0.shape[-2:]).to(f0.dtype)
                fl, al = (None if x is None else _last(torch.cat([x[:, :2], x[:, 2:] * gain], 1))
                          for x in (flows, alt))
            if net.config.history:  # the same for every time past frame1: made once
                backtested = t > 1.0 and use_before
                if backtested not in seen:
                    seen[backtested] = history_input(choice if backtested else None,
                                                     *frame0.shape[-2:], frame0.shape[0]).to(f0)
                hist = seen[backtested]
            passes = [p for p in _passes(self.ensemble) if 0.0 < t < 1.0 or not p[2]]
            frame = sum(_refine(net, f0, f1, fl, al, t, plan, *p, hist) for p in passes)
            frame = frame / len(passes)
            yield frame.clamp(0.0, 1.0).to(frame0.dtype)

    def _net(self, t: float) -> Refiner | None:
        """The network that refines time ``t``, or None for the plain motion estimate."""
        if 0.0 < t < 1.0:
            return self.refiner
        return self.predictor if t > 1.0 else None


ENSEMBLE = ("mirror", "flip", "reverse")


def check_ensemble(ensemble) -> tuple[str, ...]:
    """``ensemble`` as a tuple of :data:`ENSEMBLE` names (``True``: mirror; ``False``: none)."""
    if ensemble is True:
        return ("mirror",)
    if not ensemble:
        return ()
    names = (ensemble,) if isinstance(ensemble, str) else tuple(ensemble)
    unknown = [n for n in names if n not in ENSEMBLE]
    if unknown:
        raise OptionError(f"ensemble: unknown {', '.join(map(repr, unknown))} "
                          f"(choose from {', '.join(ENSEMBLE)})")
    return tuple(n for n in ENSEMBLE if n in names)


def _passes(ensemble: tuple[str, ...]) -> list[tuple[bool, bool, bool]]:
    """``(mirror, flip, reverse)`` for every combination of the named symmetries, identity first."""
    return list(itertools.product(*[(False, True) if n in ensemble else (False,)
                                     for n in ENSEMBLE]))


def _refine(net: Refiner, f0: Tensor, f1: Tensor, flows: Tensor, alt: Tensor | None, t: float,
            plan, mirror: bool, flip: bool, reverse: bool, hist: Tensor | None = None) -> Tensor:
    """The refined frame at ``t`` with the pair seen through one symmetry, undone on the output
    (``hist``, a predictor's history input, is a plain map: mirrored, never reversed)."""
    if reverse:  # the pair swapped: flows 1->0 first, time from the other end
        f0, f1, t = f1, f0, 1.0 - t
        flows = torch.cat([flows[:, 2:], flows[:, :2]], 1)
        alt = None if alt is None else torch.cat([alt[:, 2:], alt[:, :2]], 1)
    dims = [d for d, on in ((-1, mirror), (-2, flip)) if on]
    f0, f1 = (_flip(f, dims) for f in (f0, f1))
    flows = _flip(flows, dims, flow=True)
    alt = None if alt is None else _flip(alt, dims, flow=True)
    hist = None if hist is None else _flip(hist, dims)
    ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], t)
    frame = net(f0, f1, ft0, ft1, t, plan=plan, flows=flows, alt_flows=alt, history=hist)["frame"]
    return _flip(frame, dims)


def _last(x: Tensor) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def _flip(x: Tensor, dims: Sequence[int], flow: bool = False) -> Tensor:
    """Mirror ``b c h w`` along ``dims`` (-1: left-right, -2: upside down); for a ``b 2k h w``
    stack of flows, the component along each flipped axis (dx: even channels, dy: odd) changes
    sign."""
    if not dims:
        return x
    x = x.flip(list(dims))
    if flow:
        sign = torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
        for d in dims:
            sign[slice(0 if d == -1 else 1, None, 2)] *= -1
        x = x * sign.view(1, -1, 1, 1)
    return x
