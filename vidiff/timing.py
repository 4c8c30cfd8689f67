"""Output frame timing: which output frame shows what.

Conventions
-----------
* Times are exact :class:`~fractions.Fraction` seconds. Output frame ``i`` shows time
  ``origin + i / fps`` where ``origin`` is the time of the first input frame; nothing is
  accumulated by adding floats.
* The output covers the input's duration: frames are produced for every output time before
  ``end_time`` (the time at which the last input frame stops showing).
* Input frames that are reused for interpolation are called *keys*. Each output time ``T``
  falls in a *segment* between two consecutive keys ``a`` and ``b`` (``a.time <= T < b.time``)
  and gets the fractional position ``t = (T - a.time) / (b.time - a.time)`` in [0, 1).
  ``t == 0`` means the output frame *is* key ``a``. Times after the last key hold it.

This module only plans; it never touches pixels, except through the ``is_duplicate`` and
``is_cut`` predicates its callers pass in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

from .errors import OptionError

K = TypeVar("K")


@dataclass(frozen=True)
class Segment(Generic[K]):
    """Output frames between key ``a`` and key ``b`` (``b`` is None after the last key).

    ``indices`` are output frame indices, ``positions`` their fractional times in [0, 1)
    between ``a`` and ``b`` (all 0 when ``b`` is None: the last key is held).
    """

    a: K
    b: K | None
    indices: tuple[int, ...]
    positions: tuple[Fraction, ...]


def output_time(index: int, fps: Fraction, origin: Fraction) -> Fraction:
    """Exact presentation time of output frame ``index``."""
    return origin + Fraction(index) / fps


def output_frame_count(duration: Fraction, fps: Fraction) -> int:
    """Number of output frames that cover ``duration`` seconds at ``fps``: ceil(duration * fps)."""
    if duration <= 0:
        return 1
    return max(1, math.ceil(duration * fps))


def resolve_output_rate(fps: Fraction | None, multi: int | None, input_fps: Fraction | None) -> Fraction:
    """The output rate from ``--fps F`` or ``--multi N`` (N times the input's nominal rate)."""
    if (fps is None) == (multi is None):
        raise OptionError("give exactly one of --fps F or --multi N")
    if fps is not None:
        return fps
    if isinstance(multi, bool) or not isinstance(multi, int) or multi < 1:
        raise OptionError(f"--multi must be a whole number of at least 1, got {multi!r}")
    if input_fps is None:
        raise OptionError("--multi needs the input's frame rate, which is unknown: use --fps instead")
    return input_fps * multi


def plan_segments(
    keys: Iterable[K],
    time_of: Callable[[K], Fraction],
    fps: Fraction,
    end_time: Callable[[], Fraction | None],
) -> Iterator[Segment[K]]:
    """Stream the output plan, one segment per pair of consecutive keys, in bounded memory.

    ``keys`` must have strictly increasing times. ``end_time`` is called once the keys are
    exhausted (a reader only knows where the stream ends after reading it); ``None`` means "one
    mean key interval after the last key".
    """
    it = iter(keys)
    try:
        a = next(it)
    except StopIteration:
        return
    origin = time_of(a)
    first_time = origin
    index = 0
    count = 1
    for b in it:
        ta, tb = time_of(a), time_of(b)
        if tb <= ta:
            raise ValueError(f"key times must increase, got {ta} then {tb}")
        indices, positions = [], []
        while True:
            tt = output_time(index, fps, origin)
            if tt >= tb:
                break
            indices.append(index)
            positions.append((tt - ta) / (tb - ta))
            index += 1
        yield Segment(a, b, tuple(indices), tuple(positions))
        a = b
        count += 1
    last = time_of(a)
    end = end_time()
    if end is None or end <= last:
        end = last + ((last - first_time) / (count - 1) if count > 1 else 1 / fps)
    total = output_frame_count(end - origin, fps)
    indices = tuple(range(index, total))
    yield Segment(a, None, indices, tuple(Fraction(0) for _ in indices))


def collapse_duplicates(
    frames: Iterable[K], is_duplicate: Callable[[K, K], bool], max_run: int
) -> Iterator[K]:
    """Drop repeated frames so that motion stays even across animation holds.

    A run of identical frames (an animation drawn "on twos" or "threes", or a duplicated frame
    from a frame-rate conversion) is reduced to its first frame when it is at most ``max_run``
    frames long, so interpolation spreads the motion over the whole run. A longer run is a real
    pause: its first and last frames are kept, so the picture stays still and then moves.
    ``max_run <= 1`` keeps every frame. Holds at most ``max_run + 1`` frames in memory.
    """
    it = iter(frames)
    try:
        head = next(it)
    except StopIteration:
        return
    if max_run <= 1:
        yield head
        yield from it
        return
    while True:
        yield head
        run_last = head
        run_len = 1
        nxt = None
        for frame in it:
            if is_duplicate(head, frame):
                run_last = frame
                run_len += 1
                continue
            nxt = frame
            break
        if run_len > max_run:
            yield run_last
        if nxt is None:
            return
        head = nxt
