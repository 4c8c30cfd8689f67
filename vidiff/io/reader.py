"""Decode a video file into :class:`Frame` s, one at a time, with exact presentation times.

Conventions: frames are uint8 ``(h, w, 3)`` RGB in display orientation; ``Frame.time`` is
``pts * time_base`` in Fraction seconds on the source's clock (variable frame rate is kept: times,
not counts). Decoding is threaded (``thread_type = "AUTO"``) and streams packet by packet, so
memory stays bounded. The container is opened in a ``with`` block inside the frame generator and
closed when iteration ends or the reader is closed.

Timestamps: a frame without ``pts`` takes the packet's ``dts``; failing that (or when a
timestamp does not increase) its time is guessed as the previous time plus the previous frame's
duration (or 1/fps), with a warning. A frame whose size changes mid-stream is scaled to the first
frame's size.

A stretch (``start``/``end``, see :func:`open_reader`): frames before ``start`` are decoded but not
converted or checked for damage; when ``start`` is more than a couple of seconds in, the container
is first seeked to the keyframe before it (decoding from the beginning instead when the seek fails
or lands past it), so trying five seconds of a film does not decode the hour before them.
Decoding stops at the first frame at or after ``end``. Frame indices count from the stretch.

Damage detection (raised as :class:`CorruptInputError` naming the time, never skipped):
- FFmpeg errors while demuxing or decoding (``av.error.FFmpegError``: e.g. FFV1 slice CRC
  mismatches, broken Matroska/AVI structures);
- frames the decoder marks corrupt (``VideoFrame.is_corrupt``: ``decode_error_flags`` or
  ``AV_FRAME_FLAG_CORRUPT``, which H.264/MPEG-4 set when they conceal damaged macroblocks);
- packets the demuxer flags corrupt (``Packet.is_corrupt``);
- truncation: decoding ends more than max(1/4 s, 3 frames) before the duration the container
  records for the video stream.
This is strict on purpose: even a stream cut mid-GOP, whose first frames miss their references, is
reported rather than decoded with guessed pictures. Gaps between timestamps are not errors: variable
frame rate is legitimate. What is not detected: damage the codec cannot see (bytes that still
decode, H.264 concealment that sets no flag), or a truncated file whose container records no
duration.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import av

from ..errors import CorruptInputError
from ..timebase import parse_rate, to_fraction
from .encoding import pixel_bits
from .folder import FolderReader
from .probe import (
    _reason,
    open_input,
    probe_file,
    rotate,
    stream_duration,
    video_stream,
)
from .records import Frame, MediaInfo

_SEEK_MIN = Fraction(2)  # seconds: a nearer start is reached by decoding from the beginning


def _fmt(t: Fraction | None) -> str:
    return "an unknown time" if t is None else f"{float(t):.3f} s"


class VideoReader:
    """Frames of a video file; use as a context manager and iterate once.

    ``deep``: set before iterating to get uint16 frames from a source with more than 8 bits per
    component (10-bit HEVC, ProRes, ...); 8-bit sources stay uint8 either way."""

    def __init__(self, path: Path, start: Fraction | None = None, end: Fraction | None = None):
        self.path = path
        self.info: MediaInfo = probe_file(path)
        origin = self.info.start_time  # start/end are given from the first frame: make absolute
        self.start = None if start is None else origin + start
        self.end = None if end is None else origin + end
        self.end_time: Fraction | None = None
        self.deep = False
        self._gen = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop decoding and close the container."""
        if self._gen is not None:
            self._gen.close()
            self._gen = None

    def __iter__(self):
        self.close()
        self._gen = self._stretch()
        return self._gen

    def _stretch(self):
        """The frames in [start, end), indexed from 0; ``end_time`` clipped to ``end``."""
        self.end_time = None
        end = self.end
        frames = self._from_start(self.start)
        index = 0
        try:
            for frame in frames:
                if end is not None and frame.time >= end:
                    self.end_time = end
                    return
                yield Frame(frame.image, frame.time, index)
                index += 1
        finally:
            frames.close()
        if end is not None and self.end_time is not None:
            self.end_time = min(self.end_time, end)

    def _from_start(self, start: Fraction | None):
        """Frames at or after ``start``, seeking to the keyframe before it when that is far in
        and decoding from the beginning when the seek fails or lands past it."""
        if start is not None and start - self.info.start_time > _SEEK_MIN:
            frames = self._frames(start, start)
            first = next(frames, None)
            if first is not None and self._first_time <= start:
                yield first
                yield from frames
                return
            frames.close()
        yield from self._frames(None, start)

    def _corrupt(self, what: str, time: Fraction | None, index: int) -> CorruptInputError:
        return CorruptInputError(
            f"input {str(self.path)!r} is damaged: {what} at {_fmt(time)} (frame {index}): "
            "re-download or re-encode it, or trim it before that point"
        )

    def _frames(self, seek: Fraction | None, skip_before: Fraction | None):
        """Decode (from the keyframe before ``seek`` when given); frames before ``skip_before``
        are decoded but neither converted, checked for damage nor yielded."""
        self._first_time = None
        info = self.info
        path = self.path
        rgb = "rgb48le" if self.deep and pixel_bits(info.pix_fmt) > 8 else "rgb24"
        with open_input(path) as container:
            stream = video_stream(container, path)
            stream.thread_type = "AUTO"
            time_base = to_fraction(stream.time_base) or Fraction(1, 1)
            if seek is not None:
                try:
                    container.seek(int(seek / time_base), stream=stream, backward=True)
                except av.error.FFmpegError:
                    seek = None  # not seekable: decode from the beginning
            default_step = 1 / info.fps if info.fps else None
            index = 0
            prev_time: Fraction | None = None
            prev_step: Fraction | None = None
            last_step: Fraction | None = None
            warned_guess = False
            size = None
            packet_time: Fraction | None = None
            try:
                for packet in container.demux(stream):
                    if packet.pts is not None:
                        packet_time = packet.pts * time_base
                    if packet.size and packet.is_corrupt:
                        raise self._corrupt(
                            "a packet flagged corrupt by the demuxer", packet_time, index
                        )
                    for frame in packet.decode():
                        pts = frame.pts if frame.pts is not None else frame.dts
                        time = pts * time_base if pts is not None else None
                        if time is None or (prev_time is not None and time <= prev_time):
                            if prev_time is None:
                                time = info.start_time
                            else:
                                time = prev_time + (prev_step or default_step or Fraction(1, 25))
                            if not warned_guess:
                                warnings.warn(
                                    f"input {str(path)!r}: frame {index} has a missing or "
                                    f"non-increasing timestamp; guessed {_fmt(time)}",
                                    stacklevel=2,
                                )
                                warned_guess = True
                        if self._first_time is None:
                            self._first_time = time
                        duration = frame.duration * time_base if frame.duration else None
                        if prev_time is not None:
                            prev_step = time - prev_time
                        last_step = duration or prev_step or default_step
                        prev_time = time
                        if size is None:
                            size = (frame.width, frame.height)
                        if skip_before is not None and time < skip_before:
                            index += 1
                            continue
                        if getattr(frame, "is_corrupt", False):
                            raise self._corrupt("the decoder reported a corrupt frame", time, index)
                        if (frame.width, frame.height) != size:
                            image = frame.to_ndarray(width=size[0], height=size[1], format=rgb)
                        else:
                            image = frame.to_ndarray(format=rgb)
                        yield Frame(rotate(image, info.rotation), time, index)
                        index += 1
            except av.error.FFmpegError as exc:
                where = prev_time if prev_time is not None else packet_time
                raise self._corrupt(f"decoding failed ({_reason(exc)})", where, index) from None
            if index == 0:
                raise self._corrupt("no frame could be decoded", info.start_time, 0)
            self.end_time = prev_time + (last_step or Fraction(1, 25))
            expected = stream_duration(stream, container)
            if expected is not None:
                start = to_fraction(stream.start_time) or Fraction(0)
                expected_end = start * time_base + expected
                tolerance = max(Fraction(1, 4), 3 * (default_step or Fraction(1, 25)))
                if self.end_time < expected_end - tolerance:
                    raise self._corrupt(
                        f"decoding stopped early, the file says the video lasts until "
                        f"{_fmt(expected_end)} (truncated?)",
                        self.end_time,
                        index,
                    )


def open_reader(
    path: str | Path,
    input_fps: Fraction | None = None,
    *,
    start: Fraction | None = None,
    end: Fraction | None = None,
) -> VideoReader | FolderReader:
    """A reader for a video file, animated GIF, or folder of frames (which needs ``input_fps``).

    ``start``/``end``: only the frames in that stretch, in seconds from the input's first frame
    (``info.start_time``); ``end_time`` is clipped to it. Frame times stay on the source's clock.

    The reader is a context manager with ``.info`` (:class:`MediaInfo`); iterating it yields
    :class:`Frame` s one at a time; afterwards ``.end_time`` is when the last frame stops showing.
    Raises InputError (missing, empty, not a video, no video stream), CorruptInputError (damage
    found while decoding), OptionError (folder without ``input_fps``).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        rate = parse_rate(input_fps, "input fps") if input_fps is not None else None
        return FolderReader(path, rate, start=start, end=end)
    return VideoReader(path, start=start, end=end)
