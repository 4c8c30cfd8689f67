"""Open a media file with PyAV and describe its video stream (:class:`MediaInfo`).

Every PyAV rational goes through :func:`vidiff.timebase.to_fraction` (PyAV 19 returns its own
rational type and a falsy zero for "unset"). Errors FFmpeg raises while opening are turned into
one-line :class:`InputError` messages naming the path. Rotation comes from the display-matrix side
data FFmpeg attaches to decoded frames (``VideoFrame.rotation``, counter-clockwise degrees) or, for
older files, the ``rotate`` stream tag (clockwise degrees); it is applied with ``numpy.rot90``.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError
from ..timebase import to_fraction
from .records import MediaInfo

_ATTACHED_PIC = 1 << 10  # AV_DISPOSITION_ATTACHED_PIC: cover art, not a video


def check_input_file(path: Path) -> None:
    """Raise InputError for a path that is missing, not a file or empty."""
    if not path.exists():
        raise InputError(f"input {str(path)!r} does not exist: check the path")
    if not path.is_file():
        raise InputError(f"input {str(path)!r} is not a file or folder of frames")
    if path.stat().st_size == 0:
        raise InputError(f"input {str(path)!r} is empty (0 bytes): re-download or re-export it")


def open_input(path: Path):
    """``av.open`` for reading, with FFmpeg's errors turned into InputError."""
    try:
        return av.open(str(path), "r")
    except av.error.FFmpegError as exc:
        raise InputError(
            f"input {str(path)!r} is not a video FFmpeg can read ({_reason(exc)}): "
            "it may be truncated, damaged or not a video file"
        ) from None


def video_stream(container, path: Path):
    """The first real video stream (cover art is skipped), or InputError."""
    for stream in container.streams.video:
        if not int(stream.disposition) & _ATTACHED_PIC:
            return stream
    kinds = sorted({s.type for s in container.streams}) or ["no streams"]
    raise InputError(
        f"input {str(path)!r} has no video stream (it has: {', '.join(kinds)}): give a video file"
    )


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip().rstrip(".")


def tag_rotation(stream) -> int:
    """Counter-clockwise degrees from a legacy ``rotate`` tag (which is clockwise), else 0."""
    for key, value in stream.metadata.items():
        if key.lower() == "rotate":
            try:
                return (-int(float(value))) % 360
            except ValueError:
                return 0
    return 0


def frame_rotation(frame, stream) -> int:
    """Rotation of a decoded frame in counter-clockwise degrees, a multiple of 90 in [0, 360)."""
    degrees = int(round(getattr(frame, "rotation", 0) or 0)) % 360
    if degrees == 0:
        degrees = tag_rotation(stream)
    return int(round(degrees / 90)) % 4 * 90


def rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a counter-clockwise rotation (multiple of 90) and return a C-contiguous array."""
    if rotation:
        image = np.rot90(image, k=rotation // 90)
    return np.ascontiguousarray(image)


def stream_duration(stream, container) -> Fraction | None:
    """The video stream's duration in seconds, from the stream, its tags or a video-only file."""
    time_base = to_fraction(stream.time_base)
    if stream.duration and time_base:
        return stream.duration * time_base
    for key, value in stream.metadata.items():  # Matroska: DURATION=00:00:02.000000000
        if key.lower() == "duration":
            match = re.fullmatch(r"(\d+):(\d+):(\d+)(?:\.(\d+))?", value.strip())
            if match:
                h, m, s, frac = match.groups()
                seconds = Fraction(int(h) * 3600 + int(m) * 60 + int(s))
                if frac:
                    seconds += Fraction(int(frac), 10 ** len(frac))
                return seconds
    if container.duration and len(container.streams) == 1:
        return Fraction(container.duration, av.time_base)
    return None


def stream_rate(stream) -> Fraction | None:
    """Average frame rate, else FFmpeg's guess, else None."""
    return to_fraction(stream.average_rate) or to_fraction(getattr(stream, "guessed_rate", None))


def first_frame(container, stream, path: Path):
    """Decode the first frame (to learn size, rotation and start time) or raise InputError."""
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise InputError(
            f"input {str(path)!r}: the first video frame cannot be decoded ({_reason(exc)}): "
            "the file is damaged or truncated"
        ) from None
    raise InputError(
        f"input {str(path)!r} has a video stream but no decodable frames: "
        "it is truncated or damaged"
    )


def probe_file(path: Path) -> MediaInfo:
    """Describe a video file (decodes its first frame)."""
    check_input_file(path)
    with open_input(path) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"
        frame = first_frame(container, stream, path)
        rotation = frame_rotation(frame, stream)
        width, height = frame.width, frame.height
        if rotation in (90, 270):
            width, height = height, width
        time_base = to_fraction(stream.time_base) or Fraction(1, 1)
        pts = frame.pts if frame.pts is not None else frame.dts
        start = pts * time_base if pts is not None else Fraction(0)
        fps = stream_rate(stream)
        duration = stream_duration(stream, container)
        if stream.frames:
            frame_count = int(stream.frames)
        elif duration is not None and fps is not None:
            frame_count = max(1, round(duration * fps))
        else:
            frame_count = None
        return MediaInfo(
            path=path,
            is_folder=False,
            width=width,
            height=height,
            fps=fps,
            duration=duration,
            frame_count=frame_count,
            start_time=start,
            rotation=rotation,
            codec=stream.codec_context.name,
            pix_fmt=stream.codec_context.pix_fmt or frame.format.name,
            has_audio=bool(container.streams.audio),
        )
