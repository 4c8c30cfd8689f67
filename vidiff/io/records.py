"""What the readers hand out: :class:`Frame` (one decoded picture) and :class:`MediaInfo`.

Images are numpy uint8 ``(h, w, 3)`` RGB, C-contiguous, in display orientation (rotation
metadata already applied); a reader asked for deep frames (``deep = True``) hands out uint16
(0..65535) for sources with more than 8 bits per component. Times are exact ``Fraction`` seconds on the source's own clock
(``pts * time_base``; a folder of frames uses ``index / input_fps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded frame."""

    image: np.ndarray  # uint8 (or uint16 when deep) (h, w, 3) RGB, display orientation
    time: Fraction  # presentation time in seconds, as in the source
    index: int  # 0-based index in presentation order


@dataclass(frozen=True)
class MediaInfo:
    """What is known about an input before decoding it all.

    ``width``/``height`` are the display size (after rotation). ``fps`` is the average or nominal
    rate (a folder: the given input fps). ``frame_count`` is exact when the container says so and
    otherwise estimated from duration * fps: use it for progress bars, not for logic.
    """

    path: Path
    is_folder: bool
    width: int
    height: int
    fps: Fraction | None
    duration: Fraction | None
    frame_count: int | None
    start_time: Fraction
    rotation: int  # degrees counter-clockwise that were applied: 0, 90, 180 or 270
    codec: str | None
    pix_fmt: str | None
    has_audio: bool
