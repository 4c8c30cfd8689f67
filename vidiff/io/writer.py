"""Write frames as a video at an exact rate, or as a folder of PNG frames, atomically.

Video: the stream's time base is ``1/fps`` and frame ``i`` gets ``pts = i``, so the output rate is
exactly ``fps`` (60000/1001 stays 60000/1001); the encoder is flushed before the container closes.
Pixel formats with subsampled chroma (``yuv420p``) need even sizes: an odd width or height is
padded by one pixel that repeats the last column/row (edge replication), never cropped or scaled.
Audio and subtitles of ``source`` are carried over by :mod:`vidiff.io.remux`.
Folder: ``frame_000000.png``, ``frame_000001.png`` ... at the given size (no padding).

Both write into a hidden temporary beside the output and rename it into place only when the
``with`` block ends without an exception (see :mod:`vidiff.io.atomic`).
"""

from __future__ import annotations

import abc
import contextlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import OptionError, OutputError
from ..timebase import parse_rate
from .atomic import (
    check_output_path,
    commit_dir,
    commit_file,
    discard,
    temp_dir_beside,
    temp_file_beside,
)
from .encoding import EncodeOptions, needs_even_size, resolve
from .folder import encode_png
from .formats import FRAME_NAME, is_folder_output
from .probe import open_input
from .remux import Remuxer


def _check_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    if image.dtype not in (np.uint8, np.uint16) or image.shape != (h, w, 3):
        raise ValueError(
            f"frame must be uint8 or uint16 with shape ({h}, {w}, 3), got {image.dtype} "
            f"{image.shape}"
        )
    return np.ascontiguousarray(image)


class _AtomicWriter(abc.ABC):
    """Shared context-manager logic: temp target, commit on success, discard on failure."""

    def __init__(self, path: Path, fps: Fraction, size: tuple[int, int]):
        self.path = path
        self.fps = fps
        self.size = size
        self.frames_written = 0
        self._temp: Path | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        try:
            self._open()
        except BaseException:
            self._stack.close()
            discard(self._temp)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            with contextlib.suppress(Exception):
                self._stack.close()
            discard(self._temp)
            self._temp = None
            return
        try:
            if self.frames_written == 0:
                raise OutputError(
                    f"output {str(self.path)!r}: no frames were written, nothing saved"
                )
            self._close()
            self._stack.close()
            self._commit()
        except BaseException:
            with contextlib.suppress(Exception):
                self._stack.close()
            discard(self._temp)
            raise
        finally:
            self._temp = None

    @property
    def end_time(self) -> Fraction:
        """Output time at which the last written frame stops showing."""
        return self.frames_written / self.fps

    def write(self, image: np.ndarray) -> None:
        """Append one uint8 (or uint16: 16 bits per component) (h, w, 3) RGB frame of the
        writer's size."""
        if self._temp is None:
            raise RuntimeError("use the writer in a `with` block before writing")
        self._write(_check_image(image, self.size))
        self.frames_written += 1

    @abc.abstractmethod
    def _open(self) -> None:
        """Subclass hook."""

    @abc.abstractmethod
    def _write(self, image: np.ndarray) -> None:
        """Subclass hook."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Finish writing before the temporary is committed."""

    @abc.abstractmethod
    def _commit(self) -> None:
        """Subclass hook."""


class FolderWriter(_AtomicWriter):
    """PNG frames ``frame_000000.png`` ... in a folder."""

    def _open(self) -> None:
        self._temp = temp_dir_beside(self.path)

    def _write(self, image: np.ndarray) -> None:
        (self._temp / FRAME_NAME.format(self.frames_written)).write_bytes(encode_png(image))

    def _close(self) -> None:
        """Each PNG is complete once written: nothing to flush."""

    def _commit(self) -> None:
        commit_dir(self._temp, self.path)


class VideoWriter(_AtomicWriter):
    """An encoded video at exactly ``fps``, with the source's audio and subtitles carried over."""

    def __init__(self, path, fps, size, options: EncodeOptions, source, time_origin,
                 source_pix_fmt=None):
        super().__init__(path, fps, size)
        self.settings = resolve(path.suffix, options, source_pix_fmt)
        self.source = source
        self.time_origin = Fraction(time_origin)
        even_w, even_h = needs_even_size(self.settings.pix_fmt)
        w, h = size
        self.pad = (int(even_w and w % 2), int(even_h and h % 2))  # (right, bottom) pixels
        self.coded_size = (w + self.pad[0], h + self.pad[1])
        self._container = None
        self._stream = None
        self._remux: Remuxer | None = None

    def _open(self) -> None:
        s = self.settings
        self._temp = temp_file_beside(self.path)
        self._container = self._stack.enter_context(
            av.open(str(self._temp), "w", format=s.muxer, options=s.container_options)
        )
        stream = self._container.add_stream(s.codec, rate=self.fps, options=s.codec_options)
        stream.width, stream.height = self.coded_size
        stream.pix_fmt = s.pix_fmt
        stream.time_base = 1 / self.fps
        stream.codec_context.time_base = 1 / self.fps
        if s.qscale is not None:
            stream.codec_context.qscale = True
            stream.codec_context.global_quality = s.qscale * 118  # FF_QP2LAMBDA
        self._stream = stream
        if self.source is not None:
            source = self._stack.enter_context(open_input(self.source))
            self._remux = Remuxer(self.source, source, self._container, s.muxer, self.time_origin)
        try:
            self._container.start_encoding()
        except av.error.FFmpegError as exc:
            raise OutputError(
                f"output {str(self.path)!r} cannot be started with codec {s.codec!r} and pix_fmt "
                f"{s.pix_fmt!r} ({exc}): choose other encoding options"
            ) from None

    def _write(self, image: np.ndarray) -> None:
        i = self.frames_written
        if self._remux is not None:
            self._remux.feed_until((i + 1) / self.fps)
        if self.pad != (0, 0):
            image = np.pad(image, ((0, self.pad[1]), (0, self.pad[0]), (0, 0)), mode="edge")
        rgb = "rgb48le" if image.dtype == np.uint16 else "rgb24"
        frame = av.VideoFrame.from_ndarray(image, format=rgb)
        frame.pts = i
        frame.time_base = self._stream.codec_context.time_base
        self._container.mux(self._stream.encode(frame))

    def _close(self) -> None:
        self._container.mux(self._stream.encode(None))
        if self._remux is not None:
            self._remux.finish(self.end_time)

    def _commit(self) -> None:
        commit_file(self._temp, self.path)


def open_writer(
    path: str | Path,
    fps: Fraction,
    size: tuple[int, int],
    *,
    options: EncodeOptions | None = None,
    source: str | Path | None = None,
    time_origin: Fraction = Fraction(0),
    overwrite: bool = False,
    source_pix_fmt: str | None = None,
) -> VideoWriter | FolderWriter:
    """A writer for ``path``: a video (by suffix) or, for a folder path, PNG frames.

    ``fps``: exact output rate; ``size``: (w, h) of the frames to be written. ``source``: a file
    whose audio and subtitles are carried over, shifted so that output frame 0 lines up with
    source time ``time_origin``. ``source_pix_fmt``: the input's pixel format; a deep one keeps
    its depth by default (``writer.settings.note`` says what had to be reduced). The path is
    validated now (:func:`check_output_path`: OutputError), the output appears only when the ``with`` block ends normally. Odd sizes are
    padded to even for subsampled pixel formats by repeating the edge pixel.
    """
    fps = parse_rate(fps, "fps")
    if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
        raise OptionError(f"size must be (width, height) positive integers, got {size!r}")
    size = (int(size[0]), int(size[1]))
    folder = is_folder_output(path)
    source_path = Path(source) if source is not None else None
    target = check_output_path(path, [source_path], overwrite)
    if folder:
        return FolderWriter(target, fps, size)
    options = options if options is not None else EncodeOptions()
    return VideoWriter(target, fps, size, options, source_path, time_origin, source_pix_fmt)
