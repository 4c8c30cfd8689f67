"""The compare job: several videos or frame folders into one comparison video.

This is what ``vidiff compare`` runs. It opens one reader per input (for the chosen stretch),
holds each input's frames at the highest input frame rate (:func:`vidiff.pipelines.compare.held`),
composes each output frame (:func:`vidiff.pipelines.compare.compose`) and writes it with the
usual writer: exact times, atomic output, H.264 yuv420p with faststart for mp4. ``slow`` stretches
the output's timestamps (the rate is divided by it; every frame is kept). No audio is written.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import InputError, OptionError
from ..io import check_output_path, open_reader, open_writer
from ..pipelines.compare import LAYOUTS, Held, compose, held, wipe_sweep
from ..timebase import parse_rate
from ..timing import output_frame_count
from .options import check_start, encode_options, stretch_bounds
from .overlap import BackgroundWriter
from .progress import progress_reporter


@dataclass(frozen=True)
class CompareResult:
    """Where the comparison went and what it holds."""

    output: Path
    fps: Fraction  # the output's rate: the highest input rate divided by ``slow``
    frames: int
    size: tuple[int, int]
    seconds: float


def _labels(inputs: Sequence[Path], labels) -> list[str]:
    if labels is None:
        return [p.name or str(p) for p in inputs]
    if isinstance(labels, str):
        labels = labels.split(",")
    labels = [str(x).strip() for x in labels]
    if len(labels) != len(inputs):
        raise OptionError(
            f"--labels must give one label per input ({len(inputs)}), got {len(labels)}: "
            f"{','.join(labels)!r}"
        )
    return labels


def _slow(value) -> Fraction:
    try:
        slow = parse_rate(value, "--slow")
    except OptionError:
        raise OptionError(f"--slow must be a positive number such as 2 or 4, got {value}") from None
    if slow > 1000:
        raise OptionError(f"--slow must be at most 1000, got {value}")
    return slow


def compare_videos(
    inputs: Sequence,
    output,
    *,
    layout: str = "side",
    labels=None,
    diff: bool = False,
    diff_gain: float = 4.0,
    wipe: float | None = None,
    start=None,
    duration=None,
    slow=1,
    height: int | None = None,
    input_fps=None,
    overwrite: bool = False,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str | None = None,
    progress: bool | Callable[[int, int | None], None] = False,
) -> CompareResult:
    """Write ``inputs`` (two or more videos or frame folders) side by side (``layout="side"``),
    in a grid, or as a wipe between two (``wipe``: fixed position in [0, 1]; default: it sweeps
    across every 4 s), each labelled (``labels``: a list or ``"a,b,c"``; default: file names),
    at the highest input frame rate, with lower-rate inputs held. ``diff`` adds the first two
    inputs' difference times ``diff_gain``. ``start``/``duration`` pick a stretch (seconds or
    ``HH:MM:SS``), ``slow`` plays it that many times slower. Inputs are scaled to ``height``
    (default: the first input's). Returns a :class:`CompareResult`.
    """
    started = time.perf_counter()
    paths = [Path(p) for p in inputs]
    if len(paths) < 2:
        raise OptionError(f"compare needs at least two inputs, got {len(paths)}")
    for path in paths:
        if not path.exists():
            raise InputError(f"input not found: {path}")
    if layout not in LAYOUTS:
        raise OptionError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout == "wipe" and len(paths) != 2:
        raise OptionError(f"--layout wipe takes exactly two inputs, got {len(paths)}")
    if wipe is not None and not 0 <= wipe <= 1:
        raise OptionError(f"--wipe-at must be between 0 and 1, got {wipe}")
    if not diff_gain > 0:
        raise OptionError(f"--diff-gain must be positive, got {diff_gain}")
    if height is not None and (isinstance(height, bool) or int(height) != height or height < 2):
        raise OptionError(f"--height must be a whole number of at least 2, got {height}")
    names = _labels(paths, labels)
    slow = _slow(slow)
    first, stop = stretch_bounds(start, duration)
    in_fps = parse_rate(input_fps, "--input-fps") if input_fps is not None else None
    target = check_output_path(output, inputs=paths, overwrite=overwrite)
    options = encode_options(target, codec, crf, preset, pix_fmt)
    with contextlib.ExitStack() as stack:
        readers = [
            stack.enter_context(open_reader(p, input_fps=in_fps, start=first, end=stop))
            for p in paths
        ]
        for path, reader in zip(paths, readers):
            check_start(path, reader.info, first)
            if not reader.info.fps:
                raise InputError(f"input {str(path)!r} has no known frame rate to compare at")
        fps = max(r.info.fps for r in readers)
        streams = []
        for path, r in zip(paths, readers):
            try:
                streams.append(Held(r, r.info.start_time + (first or 0), lambda r=r: r.end_time))
            except ValueError:  # no frame at or after the start
                raise OptionError(
                    f"--start {float(first or 0):g} s is beyond the end of {str(path)!r}"
                ) from None
        length = stop - (first or 0) if stop is not None else None
        known = [r.info.duration - (first or 0) for r in readers if r.info.duration is not None]
        span = max(known) if known else None
        if length is not None:
            span = length if span is None else min(span, length)
        total = output_frame_count(span, fps) if span is not None else None
        report = progress_reporter(progress, total, target.name)

        def frame(i: int, images) -> object:
            position = wipe if wipe is not None else wipe_sweep(Fraction(i) / fps)
            return compose(
                images, names, layout=layout, height=height, diff=diff,
                diff_gain=diff_gain, wipe=position,
            )

        frames = held(streams, fps, length)
        head = frame(0, next(frames))
        size = (head.shape[1], head.shape[0])
        with open_writer(
            target, fps / slow, size, options=options, overwrite=overwrite
        ) as writer, BackgroundWriter(writer.write) as put:
            put(head)
            count = 1
            report(count)
            for images in frames:
                put(frame(count, images))
                count += 1
                report(count)
        report(None)
    return CompareResult(target, fps / slow, count, size, time.perf_counter() - started)
