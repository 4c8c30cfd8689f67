"""Conditioning for one batch of windows, as data: known frames, mask, times and the motion estimate.

Conventions: windows are ``b 3 t h w`` float in [0, 1]; ``mask`` is ``(b, t)`` bool, True = known;
``times`` is ``(b, t)`` float in units of the input frame interval (only differences matter). Frames
of a window may be listed in any order (the usual one is known frames first, then unknown ones):
neighbours are found by time, not by position.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import OptionError


@dataclass
class Cond:
    """Conditioning of a batch of windows.

    ``frames`` at unknown positions are zeroed here (so a training target left in can never leak
    into the network's input). ``cache`` holds tensors the network derives from the conditioning
    alone (reused across the steps of one sampling run; never used while autograd records).
    """

    frames: Tensor  # (b, 3, t, h, w) [0, 1] known frames; zeros where unknown
    mask: Tensor  # (b, t) bool, True = known
    mu: Tensor  # (b, 3, t, h, w) [0, 1] motion estimate; equals frames where known
    times: Tensor  # (b, t) float, frame times in units of the input frame interval

    def __post_init__(self) -> None:
        check_window(self.frames, self.mask, self.times)
        if self.mu.shape != self.frames.shape:
            raise OptionError(
                f"Cond.mu must have the frames' shape {tuple(self.frames.shape)}, "
                f"got {tuple(self.mu.shape)}"
            )
        known = self.mask[:, None, :, None, None]
        self.frames = torch.where(known, self.frames, torch.zeros((), dtype=self.frames.dtype))
        # derived tensors, not a dataclass field: dataclasses.fields(Cond) lists the data only
        self.cache: dict = {}

    def to(self, device=None, dtype=None) -> Cond:
        """Move to a device; ``dtype`` applies to the images and times (mask stays bool)."""
        return Cond(
            self.frames.to(device, dtype),
            self.mask.to(device),
            self.mu.to(device, dtype),
            self.times.to(device, dtype),
        )

    @property
    def unknown(self) -> Tensor:
        """``(b, 1, t, 1, 1)`` float, 1 at unknown frames: broadcasts over a window."""
        return (~self.mask).to(self.frames.dtype)[:, None, :, None, None]


def check_window(frames: Tensor, mask: Tensor, times: Tensor) -> None:
    if not isinstance(frames, Tensor) or frames.ndim != 5 or frames.shape[1] != 3:
        shape = tuple(frames.shape) if isinstance(frames, Tensor) else type(frames).__name__
        raise OptionError(f"frames must be a (b, 3, t, h, w) tensor, got {shape}")
    b, _, t = frames.shape[:3]
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (b, t):
        got = (tuple(mask.shape), mask.dtype) if isinstance(mask, Tensor) else type(mask).__name__
        raise OptionError(f"mask must be a ({b}, {t}) bool tensor, got {got}")
    if not isinstance(times, Tensor) or tuple(times.shape) != (b, t):
        got = tuple(times.shape) if isinstance(times, Tensor) else type(times).__name__
        raise OptionError(f"times must be a ({b}, {t}) tensor, got {got}")
    if not bool(mask.any(1).all()):
        raise OptionError("mask must mark at least one known frame in every window")


def neighbours(known_times: list[tuple[float, int]], t: float) -> tuple[int, int, float] | None:
    """Known pair ``(i0, i1, s)`` to estimate time ``t`` from; ``s`` is in that pair's units.

    ``known_times`` is sorted by time. Between two known frames: the nearest on each side. Past the
    last (before the first): the last (first) two, so ``s > 1`` (``s < 0``). ``None``: only one known
    frame, hold it.
    """
    if len(known_times) < 2:
        return None
    before = [k for k in known_times if k[0] <= t]
    after = [k for k in known_times if k[0] > t]
    if before and after:
        (t0, i0), (t1, i1) = before[-1], after[0]
    elif after:  # before the first known frame: extrapolate backwards
        (t0, i0), (t1, i1) = known_times[0], known_times[1]
    else:  # after the last known frame: extrapolate forwards
        (t0, i0), (t1, i1) = known_times[-2], known_times[-1]
    if t1 == t0:
        raise OptionError(f"known frames {i0} and {i1} share the time {t0}; times must differ")
    return i0, i1, (t - t0) / (t1 - t0)


def before_pair(known_times: list[tuple[float, int]], i0: int, i1: int) -> int | None:
    """The known frame one pair interval before ``i0`` (for a pair ``(i0, i1)`` that is
    extrapolated forward), or ``None``: what a motion estimator may backtest its flow on."""
    times = dict((j, t) for t, j in known_times)
    want = 2 * times[i0] - times[i1]
    for t, j in known_times:
        if abs(t - want) <= 1e-6 * max(1.0, abs(want)):
            return j
    return None


@torch.no_grad()
def build_cond(frames: Tensor, mask: Tensor, times: Tensor, motion) -> Cond:
    """Cond for windows whose unknown frames are to be generated.

    ``frames``: ``(b, 3, t, h, w)`` in [0, 1] (values at unknown frames are ignored: targets may be
    left in for training). For each unknown frame mu comes from ``motion.estimate`` on its nearest
    known neighbours in time: between two known frames at the fractional time; after the last known
    extrapolated from the last two (held if only one is known); before the first, backwards. One
    ``estimate`` call per distinct (pair, times) group, batched over windows that share it. Past
    the last known frame, a motion estimator that takes it (``takes_before``,
    :mod:`vidiff.motion.base`) is also given the known frame one interval before the pair, when
    the window holds one.
    """
    check_window(frames, mask, times)
    if not frames.is_floating_point():
        raise OptionError(f"frames must be float in [0, 1], got dtype {frames.dtype}")
    known5 = mask[:, None, :, None, None]
    kframes = torch.where(known5, frames, torch.zeros((), dtype=frames.dtype, device=frames.device))
    mu = kframes.clone()
    groups: dict[tuple, list[tuple[int, list[int]]]] = defaultdict(list)
    tl, ml = times.tolist(), mask.tolist()
    takes_before = getattr(motion, "takes_before", False)
    for bi in range(frames.shape[0]):
        known_times = sorted((tl[bi][j], j) for j in range(len(tl[bi])) if ml[bi][j])
        per_pair: dict[tuple[int, int], list[tuple[int, float]]] = defaultdict(list)
        for j in range(len(tl[bi])):
            if ml[bi][j]:
                continue
            nb = neighbours(known_times, tl[bi][j])
            if nb is None:
                mu[bi, :, j] = frames[bi, :, known_times[0][1]]
            else:
                per_pair[nb[:2]].append((j, nb[2]))
        for (i0, i1), items in per_pair.items():
            ahead = takes_before and all(s > 1 for _, s in items)
            ib = before_pair(known_times, i0, i1) if ahead else None
            key = (i0, i1, ib, tuple(s for _, s in items))
            groups[key].append((bi, [j for j, _ in items]))
    for (i0, i1, ib, ss), members in groups.items():
        idx = [bi for bi, _ in members]
        if ib is None:
            est = motion.estimate(frames[idx, :, i0], frames[idx, :, i1], list(ss))
        else:
            est = motion.estimate(frames[idx, :, i0], frames[idx, :, i1], list(ss),
                                  before=frames[idx, :, ib])
        est = est.to(frames.dtype).clamp(0, 1)
        for k, (bi, js) in enumerate(members):
            mu[bi][:, js] = est[k]
    return Cond(kframes, mask, mu, times.to(frames.dtype))
