"""Random training windows, each a deterministic function of its seed.

A window is ``window`` frames taken from one segment at a spacing ``s`` (1..``max_spacing``
source frames), with a known/unknown mask drawn from a task:

- ``interpolation``: known frames every ``s`` source frames (1 or more on each side of a gap) and
  1..``max_unknown`` unknown frames inside the gap at their true fractional times (``s >= 2``);
- ``prediction``: known frames first, 1..``max_unknown`` unknown frames continuing at the same
  spacing;
- ``infill``: frames every ``s`` with a random mask (at least one known and one unknown).

Times are the sampled frames' true times (from the segment's time stamps) in units of ``s``,
shifted so that the known frame just before the first unknown frame is at 0 (the first known
frame when unknown frames come first): interpolation gaps run from 0 to 1, context frames sit
at negative times and above 1, as :mod:`vidiff.pipelines.interpolate` lays out its windows.
Augmentation: time reversal (the segment played backwards), a random square crop, flips.

Output per window: ``frames`` uint8 ``t h w 3``, ``mask`` bool ``t`` (True = known), ``times``
float32 ``t``; :func:`batch_seed` makes a window a function of ``(seed, step, slot)`` only, so a
resumed run draws exactly the batches it would have drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidiff.errors import InputError

from .config import TASKS, DataConfig
from .segments import Segment

EVAL_STREAM = 0x5EED_E7A1  # seed stream of the held-back evaluation windows


@dataclass(frozen=True)
class Window:
    frames: np.ndarray  # uint8 (t, h, w, 3)
    mask: np.ndarray  # bool (t,)
    times: np.ndarray  # float32 (t,)
    task: str


def batch_seed(seed: int, step: int, slot: int) -> np.random.Generator:
    """The generator of window ``slot`` (rank * batch + i) of ``step``."""
    return np.random.default_rng([int(seed), int(step), int(slot)])


@dataclass(frozen=True)
class _Layout:
    offsets: np.ndarray  # int, sorted, offsets[0] == 0 (source frames)
    mask: np.ndarray  # bool
    spacing: int


class WindowSampler:
    """Draws windows from ``segments`` (only those at least ``crop_size`` on each side)."""

    def __init__(self, segments: list[Segment], config: DataConfig):
        self.config = config
        c = config.crop_size
        self.segments = [s for s in segments if min(s.frames.shape[1:3]) >= c]
        if not self.segments:
            raise InputError(
                f"--data: no segment is at least {c}x{c} pixels; lower [data] crop_size"
            )
        self.lengths = np.array([len(s) for s in self.segments])
        # every task needs at least window frames at spacing 1 (interpolation: 2 in the gap)
        need = 2 * (config.window - 2) + 1
        if self.lengths.max() < need:
            raise InputError(
                f"--data: the longest segment has {self.lengths.max()} frames; windows of "
                f"{config.window} frames need {need}: lower [data] window or use longer clips"
            )
        weights = config.task_weights()
        self.tasks = list(TASKS)
        self.task_p = np.array([weights[t] for t in self.tasks])

    def draw(self, rng: np.random.Generator, task: str | None = None) -> Window:
        cfg = self.config
        task = task or self.tasks[rng.choice(len(self.tasks), p=self.task_p)]
        layout = self._layout(task, rng)
        span = int(layout.offsets[-1])
        eligible = np.flatnonzero(self.lengths > span)
        room = (self.lengths[eligible] - span).astype(np.float64)
        seg = self.segments[eligible[rng.choice(len(eligible), p=room / room.sum())]]
        start = int(rng.integers(0, len(seg) - span))
        positions = start + layout.offsets
        mask = layout.mask
        if rng.random() < cfg.reverse_prob:
            positions, mask = positions[::-1], mask[::-1]
        stamps = seg.times[positions]
        times = np.abs(stamps - stamps[0]) / layout.spacing
        times = times - times[_anchor(mask)]
        h, w = seg.frames.shape[1:3]
        c = cfg.crop_size
        y = int(rng.integers(0, h - c + 1))
        x = int(rng.integers(0, w - c + 1))
        frames = seg.frames[positions, y : y + c, x : x + c]
        if rng.random() < cfg.hflip_prob:
            frames = frames[:, :, ::-1]
        if rng.random() < cfg.vflip_prob:
            frames = frames[:, ::-1]
        return Window(
            np.ascontiguousarray(frames), np.array(mask, dtype=bool), times.astype(np.float32), task
        )

    def _layout(self, task: str, rng: np.random.Generator) -> _Layout:
        cfg = self.config
        n = cfg.window
        longest = int(self.lengths.max())
        if task == "interpolation":
            unknown = int(rng.integers(1, cfg.max_unknown + 1))
            known = n - unknown
            # the gap needs unknown + 1 source frames at least; all known frames share the spacing
            most = min(max(cfg.max_spacing, unknown + 1), (longest - 1) // (known - 1))
            if most < unknown + 1:  # segments too short for this many in the gap
                unknown = max(1, most - 1)
                known = n - unknown
                most = min(max(cfg.max_spacing, unknown + 1), (longest - 1) // (known - 1))
            s = int(rng.integers(unknown + 1, most + 1))
            before = int(rng.integers(1, known))  # known frames up to the gap's start
            known_at = np.arange(known) * s
            gap_start = (before - 1) * s
            inside = np.sort(rng.choice(np.arange(1, s), size=unknown, replace=False))
            offsets = np.concatenate([known_at, gap_start + inside])
            mask = np.concatenate([np.ones(known, bool), np.zeros(unknown, bool)])
            order = np.argsort(offsets, kind="stable")
            return _Layout(offsets[order], mask[order], s)
        s = int(rng.integers(1, max(1, min(cfg.max_spacing, (longest - 1) // (n - 1))) + 1))
        offsets = np.arange(n) * s
        if task == "prediction":
            unknown = int(rng.integers(1, cfg.max_unknown + 1))
            mask = np.arange(n) < n - unknown
        else:
            mask = rng.random(n) < 0.5
            if mask.all():
                mask[rng.integers(0, n)] = False
            if not mask.any():
                mask[rng.integers(0, n)] = True
        return _Layout(offsets, mask, s)


def _anchor(mask: np.ndarray) -> int:
    """Index of the known frame just before the first unknown one (or the first known frame)."""
    first_unknown = int(np.flatnonzero(~mask)[0])
    before = np.flatnonzero(mask[:first_unknown])
    return int(before[-1]) if len(before) else int(np.flatnonzero(mask)[0])


def split_holdout(segments: list[Segment], every: int) -> tuple[list[Segment], list[Segment]]:
    """(train, held-back): every ``every``-th segment is held back when there are enough;
    with fewer segments, evaluation windows come from the training segments."""
    if len(segments) < every:
        return segments, segments
    train = [s for i, s in enumerate(segments) if i % every != every - 1]
    held = [s for i, s in enumerate(segments) if i % every == every - 1]
    return train, held
