"""Option checks and conversions shared by the file jobs (interpolate, generate, compare).

Kept apart from the jobs themselves so that a job can use them without importing another job's
dependencies (the interpolation job loads torch; the compare job does not need it).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from ..errors import OptionError
from ..io import EncodeOptions
from ..scenes import SceneDetector
from ..timebase import parse_time


def stretch_bounds(start, duration) -> tuple[Fraction | None, Fraction | None]:
    """``(start, end)`` in seconds from the input's first frame, from ``--start``/``--duration``
    (either may be None); OptionError for a malformed, negative or zero-length stretch."""
    first = parse_time(start, "--start") if start is not None else None
    if duration is None:
        return first, None
    length = parse_time(duration, "--duration")
    if length <= 0:
        raise OptionError(f"--duration must be positive, got {duration}")
    return first, (first or Fraction(0)) + length


def scene_detector(scene_threshold: float | None) -> SceneDetector:
    """The scene-cut detector for ``--scene-threshold`` (``None``: cuts are never detected);
    OptionError outside (0, 1]."""
    if scene_threshold is not None and (
        isinstance(scene_threshold, bool) or not isinstance(scene_threshold, (int, float))
        or not 0 < scene_threshold <= 1
    ):
        raise OptionError(f"--scene-threshold must be in (0, 1], got {scene_threshold}")
    return SceneDetector(cut_threshold=scene_threshold)


def check_start(source: Path, info, first: Fraction | None) -> None:
    """OptionError when ``first`` lies at or beyond the input's known end."""
    if first is not None and info.duration is not None and first >= info.duration:
        raise OptionError(
            f"--start {float(first):g} s is beyond the end of {str(source)!r}, which lasts "
            f"{float(info.duration):.3f} s: choose an earlier start"
        )


def encode_options(target: Path, codec, crf, preset, pix_fmt) -> EncodeOptions:
    given = {
        k: v
        for k, v in {"codec": codec, "crf": crf, "preset": preset, "pix_fmt": pix_fmt}.items()
        if v is not None
    }
    return EncodeOptions(**given)
