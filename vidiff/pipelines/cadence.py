"""Held frames in a regular cadence, and continuing it (``vidiff generate``; no torch, no images).

Animation drawn on twos or threes, and footage brought to a higher rate by repeating frames
(16 to 24 fps repeats every third frame), show each picture for two or more frames in a
pattern that repeats. Extrapolating such seeds frame by frame goes wrong twice: the flow
between a picture and its own repeat is zero (the motion seems to stop), and the frames to make
should hold too. So, as ``vidiff interpolate`` collapses holds before it interpolates
(:func:`vidiff.timing.collapse_duplicates`), ``vidiff generate`` finds the cadence of its seeds,
continues the distinct pictures one picture apart, and shows each as long as the cadence says.

A transition between consecutive seeds is a *hold* when no thumbnail pixel changes by more than
the larger of :class:`vidiff.scenes.SceneDetector`'s ``dup_threshold`` and :data:`HOLD_SHARE` of
the seeds' median change (compression noise on a repeated frame, against real motion). A
cadence is the shortest period ``p`` (2 to :data:`MAX_PERIOD`) with which the last ``2 p``
transitions repeat, holding at least once and moving at least once per period: it must have
been seen twice. Seeds that all hold (two transitions or more: a still shot, a slide) are a
cadence of period 1, continued by holding the last. Holds that follow no pattern (dropped or
doubled frames now and then) or steady motion give no cadence, and the seeds are continued as
they are.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..scenes import SceneDetector, Thumb

MAX_PERIOD = 6
HOLD_SHARE = 0.1  # a hold changes less than this share of the median change between seeds
LOOKBACK = 2 * MAX_PERIOD + 1  # frames that show every period twice (a video's last ones)


@dataclass(frozen=True)
class Cadence:
    """``holds``: one period of the pattern, starting with the transition after the last seed
    (``True``: that frame repeats the one before)."""

    holds: tuple[bool, ...]

    def future(self, count: int) -> list[bool]:
        """Whether each of the next ``count`` frames holds the one before it."""
        return [self.holds[j % len(self.holds)] for j in range(count)]


def transition_holds(thumbs: Sequence[Thumb], detector: SceneDetector | None = None) -> list[bool]:
    """One per pair of consecutive thumbnails: whether the second repeats the first (module
    docstring)."""
    limit = (detector or SceneDetector()).dup_threshold
    changes = [float(np.abs(a.gray - b.gray).max()) for a, b in itertools.pairwise(thumbs)]
    if not changes:
        return []
    limit = max(limit, HOLD_SHARE * float(np.median(changes)))
    return [c <= limit for c in changes]


def find_cadence(holds: Sequence[bool]) -> Cadence | None:
    """The cadence whose pattern the last transitions ``holds`` show twice, or ``None``."""
    for p in range(2, MAX_PERIOD + 1):
        recent = list(holds[len(holds) - 2 * p :]) if 2 * p <= len(holds) else None
        if recent is None:
            break
        first, second = recent[:p], recent[p:]
        if first == second and any(first) and not all(first):
            return Cadence(tuple(second))  # the next transition repeats recent[0]'s phase
    if len(holds) >= 2 and all(holds):
        return Cadence((True,))  # nothing moved: a still
    return None


def distinct(holds: Sequence[bool]) -> list[int]:
    """Indices of the frames that are not a hold of the one before (the first always is)."""
    return [0] + [i for i, held in enumerate(holds, start=1) if not held]
