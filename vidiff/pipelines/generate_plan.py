"""Window plans for generating a clip longer than the model's window (no torch, no images).

Clip time is counted in frames: the ``S`` seeds sit at times ``0 .. S-1`` and the ``N`` frames to
generate at ``S .. S+N-1``. A plan is the ordered list of model windows that makes every new
frame exactly once; each window names the times of its known frames (all made before it runs)
and of its unknown frames. The same model does every window, only the mask differs:

- autoregressive (default): each window predicts the next ``unknown`` frames from the last
  ``known`` frames already made (seeds or generated), as in flexible diffusion models.
- hierarchical: first sparse keyframes every ``stride`` frames (and the last frame) are predicted,
  ``unknown`` at a time, from the last ``known`` frames made; then the frames between each pair of
  neighbouring keyframes are filled in, with known frames on both sides (an interpolation mask).

:func:`window_times` gives the times the model sees for a window, in the training layout of
:mod:`vidiff.train.windows`: the known frame just before the first unknown one is at 0; the unit
is the gap to the next known frame when there is one (an infill gap spans 0..1), else the
distance to the first unknown frame (so a prediction window continues at 1, 2, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OptionError


@dataclass(frozen=True)
class WindowConfig:
    """How a clip is cut into model windows.

    ``known``: most known frames shown per window (the latest made; an infill window always gets
    one on each side). ``unknown``: most frames generated per window. ``hierarchical``: keyframes
    first, then infill. ``stride``: keyframe spacing in frames (default ``unknown + 1``, so the
    frames between two keyframes fill one window).
    """

    known: int = 3
    unknown: int = 4
    hierarchical: bool = False
    stride: int | None = None

    def __post_init__(self) -> None:
        _whole("--window-known", self.known, 1)
        _whole("--window-unknown", self.unknown, 1)
        if self.stride is not None:
            _whole("--stride", self.stride, 2)

    @property
    def keyframe_stride(self) -> int:
        return self.stride if self.stride is not None else self.unknown + 1


@dataclass(frozen=True)
class WindowPlan:
    known: tuple[int, ...]  # clip times of the known frames, ascending
    unknown: tuple[int, ...]  # clip times of the frames this window makes, ascending


def _whole(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OptionError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def plan_windows(
    seeds: int, frames: int, config: WindowConfig = WindowConfig()
) -> list[WindowPlan]:
    """The windows that generate ``frames`` new frames after ``seeds`` seed frames, in order."""
    _whole("seeds", seeds, 1)
    _whole("--frames", frames, 1)
    made = list(range(seeds))
    end = seeds + frames - 1
    plans: list[WindowPlan] = []
    if config.hierarchical:
        stride = config.keyframe_stride
        keys = list(range(seeds - 1 + stride, end + 1, stride))
        if not keys or keys[-1] != end:
            keys.append(end)
        for chunk in _chunks(keys, config.unknown):
            plans.append(WindowPlan(_pick_known(made, chunk, config.known), tuple(chunk)))
            made.extend(chunk)
        made.sort()
        for a, b in zip([seeds - 1] + keys[:-1], keys, strict=True):
            for chunk in _chunks(list(range(a + 1, b)), config.unknown):
                plans.append(WindowPlan(_pick_known(made, chunk, config.known), tuple(chunk)))
                made.extend(chunk)
                made.sort()
    else:
        for chunk in _chunks(list(range(seeds, end + 1)), config.unknown):
            plans.append(WindowPlan(_pick_known(made, chunk, config.known), tuple(chunk)))
            made.extend(chunk)
    return plans


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _pick_known(made: list[int], unknown: list[int], count: int) -> tuple[int, ...]:
    """The ``count`` made times nearest the unknown span, always with its nearest neighbour on
    each side (when there is one after it); ties go to the earlier frame."""
    lo, hi = unknown[0], unknown[-1]
    before = [t for t in made if t < lo]
    after = [t for t in made if t > hi]
    chosen = {before[-1]}
    if after:
        chosen.add(after[0])

    def distance(t: int) -> tuple[int, int]:
        return (lo - t if t < lo else t - hi, t)

    for t in sorted(before + after, key=distance):
        if len(chosen) >= count:
            break
        chosen.add(t)
    return tuple(sorted(chosen))


def window_times(plan: WindowPlan) -> tuple[list[float], list[float]]:
    """Model times of ``plan``'s known and unknown frames (see the module docstring)."""
    first = plan.unknown[0]
    origin = max(t for t in plan.known if t < first)
    after = [t for t in plan.known if t > plan.unknown[-1]]
    if after:
        unit = min(after) - origin
    else:
        unit = first - origin
    return (
        [(t - origin) / unit for t in plan.known],
        [(t - origin) / unit for t in plan.unknown],
    )


def last_uses(plans: list[WindowPlan]) -> dict[int, int]:
    """For each clip time used as a known frame, the index of the last window that uses it."""
    out: dict[int, int] = {}
    for i, plan in enumerate(plans):
        for t in plan.known:
            out[t] = i
    return out
