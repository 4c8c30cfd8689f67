"""Folders of still frames: read png/jpg/jpeg/webp in natural order, write PNG frames.

Reading: files with an image suffix (case-insensitive; others and hidden files are ignored) in
natural sort order (``f2.png`` before ``f10.png``). The rate is not in the files, so an exact
``input_fps`` is required; frame ``i`` has time ``i / input_fps``. Every frame must have the size
of the first. Images are decoded with PyAV (FFmpeg's image decoders), one at a time.
With ``start``/``end`` only the frames in that stretch are read (times stay ``i / input_fps``).
Writing: ``frame_000000.png``, ``frame_000001.png`` ... encoded with FFmpeg's PNG encoder: 8-bit
(rgb24) for uint8 frames, 16-bit (rgb48be) for uint16 frames. A reader with ``deep = True`` reads
16-bit images as uint16.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError, OptionError
from .formats import IMAGE_SUFFIXES, natural_key
from .probe import _reason, frame_rotation, rotate
from .records import Frame, MediaInfo


def list_frames(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, naturally sorted; InputError when there are none."""
    files = [
        p
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    if not files:
        raise InputError(
            f"input folder {str(folder)!r} has no frames "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}): give a folder of images or a video"
        )
    return sorted(files, key=lambda p: natural_key(p.name))


def read_image(path: Path, deep: bool = False) -> np.ndarray:
    """Decode one still image to uint8 (h, w, 3) RGB, display orientation; with ``deep``, an
    image of more than 8 bits per component comes as uint16."""
    try:
        with av.open(str(path), "r") as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                deep_frame = deep and max(c.bits for c in frame.format.components) > 8
                image = frame.to_ndarray(format="rgb48le" if deep_frame else "rgb24")
                return rotate(image, frame_rotation(frame, stream))
    except (av.error.FFmpegError, IndexError) as exc:
        raise InputError(
            f"frame {str(path)!r} cannot be read ({_reason(exc)}): replace or remove it"
        ) from None
    raise InputError(f"frame {str(path)!r} has no image in it: replace or remove it")


def encode_png(image: np.ndarray) -> bytes:
    """PNG file bytes for a uint8 (8-bit PNG) or uint16 (16-bit PNG) (h, w, 3) RGB image."""
    h, w = image.shape[:2]
    deep = image.dtype == np.uint16
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height = w, h
    codec.pix_fmt = "rgb48be" if deep else "rgb24"
    codec.time_base = Fraction(1, 1)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image),
                                       format="rgb48le" if deep else "rgb24")
    if deep:
        frame = frame.reformat(format="rgb48be")
    frame.pts = 0
    packets = list(codec.encode(frame)) + list(codec.encode(None))
    return b"".join(bytes(p) for p in packets)


class FolderReader:
    """Frames of a folder of images at ``input_fps``; use as a context manager, iterate once."""

    def __init__(
        self,
        folder: Path,
        input_fps: Fraction | None,
        start: Fraction | None = None,
        end: Fraction | None = None,
    ):
        if input_fps is None:
            raise OptionError(
                f"input {str(folder)!r} is a folder of frames, which has no frame rate: "
                "give the input fps (e.g. --input-fps 24)"
            )
        if input_fps <= 0:
            raise OptionError(f"input fps must be positive, got {input_fps}")
        self.path = folder
        self.fps = Fraction(input_fps)
        self.files = list_frames(folder)
        first = read_image(self.files[0], deep=True)
        h, w = first.shape[:2]
        n = len(self.files)
        self.info = MediaInfo(
            path=folder,
            is_folder=True,
            width=w,
            height=h,
            fps=self.fps,
            duration=n / self.fps,
            frame_count=n,
            start_time=Fraction(0),
            rotation=0,
            codec=None,
            pix_fmt="rgb48le" if first.dtype == np.uint16 else "rgb24",
            has_audio=False,
        )
        self.start = start
        self.end = end
        self.end_time: Fraction | None = None
        self.deep = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __iter__(self):
        size = (self.info.height, self.info.width)
        self.end_time = None
        first = 0 if self.start is None else math.ceil(self.start * self.fps)
        stop = len(self.files)
        if self.end is not None:
            stop = min(stop, max(first, math.ceil(self.end * self.fps)))
        for index in range(first, stop):  # files before the stretch are not even read
            path = self.files[index]
            image = read_image(path, self.deep)
            if image.shape[:2] != size:
                raise InputError(
                    f"frame {str(path)!r} is {image.shape[1]}x{image.shape[0]} but the first "
                    f"frame is {size[1]}x{size[0]}: all frames in a folder must be the same size"
                )
            yield Frame(image, index / self.fps, index - first)
        self.end_time = len(self.files) / self.fps
        if self.end is not None:
            self.end_time = min(self.end_time, self.end)
