"""The file job: read a video or frame folder, interpolate, write a video or frame folder.

This is what ``vidiff interpolate`` and :func:`vidiff.interpolate_video` run. It joins the
I/O layer to the pipeline, checks every option before any work starts, and reports progress.
The output is written under a temporary name and renamed into place only when complete.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import InputError, OptionError
from ..io import VIDEO_SUFFIXES, EncodeOptions, check_output_path, open_reader, open_writer
from ..io.encoding import pixel_bits, resolve
from ..io.formats import is_folder_output
from ..pipelines.frames import make_interpolator
from ..pipelines.interpolate import InterpolationStats
from ..timebase import format_rate, parse_rate
from ..timing import output_frame_count, resolve_output_rate
from .options import check_start, encode_options, scene_detector, stretch_bounds
from .overlap import BackgroundWriter, prefetch
from .progress import progress_reporter


@dataclass(frozen=True)
class JobResult:
    """Where the output went and what was done."""

    output: Path
    fps: Fraction
    stats: InterpolationStats
    seconds: float
    steps: int = 0  # diffusion sampler steps used (0: no diffusion)
    refined: bool = False  # the refiner (learned mean) corrected the motion estimate


def default_output_path(source: Path, fps: Fraction) -> Path:
    """``clip.mp4`` -> ``clip.60fps.mp4``; a frame folder ``shots/`` -> ``shots_60fps/``.

    GIF input gets an mp4 output: GIF timing is in 1/100 s and cannot hold most rates exactly.
    """
    tag = f"{format_rate(fps).replace('/', '_')}fps"
    if source.is_dir():
        return source.with_name(f"{source.name}_{tag}")
    suffix = source.suffix.lower()
    if suffix == ".gif" or suffix not in VIDEO_SUFFIXES:
        suffix = ".mp4"
    return source.with_name(f"{source.stem}.{tag}{suffix}")


def interpolate_video(
    input,
    output=None,
    *,
    fps=None,
    multi: int | None = None,
    input_fps=None,
    steps: int | None = None,
    sampler: str | None = None,
    device: str = "auto",
    weights=None,
    seed: int = 0,
    refine: bool | None = None,
    max_memory: int | None = None,
    ensemble=None,
    overwrite: bool = False,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str | None = None,
    scene_threshold: float | None = 0.15,
    dedup: int = 3,
    audio: bool = True,
    start=None,
    duration=None,
    progress: bool | Callable[[int, int | None], None] = False,
) -> JobResult:
    """Write ``input`` (a video file or a folder of frames) at a new frame rate.

    Give exactly one of ``fps`` (e.g. ``60``, ``"59.94"``, ``"60000/1001"``) or ``multi``
    (a whole multiple of the input rate). The motion estimate is corrected by the refiner when
    the weights hold one (``refine=False``: not; ``ensemble``: averaged over those symmetries of
    each pair, e.g. ``("mirror",)``; ``None``: the default) and refined by the diffusion model
    for ``steps`` sampler steps (``None``: 4 when the weights hold a diffusion model, else 0);
    ``max_memory`` (bytes; ``None``: a share of the device's free memory) bounds the model's memory, big frames
    being run in overlapping tiles. ``scene_threshold=None`` turns off scene-cut
    detection; ``dedup`` is the longest run of identical frames treated as an animation hold
    (1 turns it off). ``start``/``duration`` (seconds, ``2.5`` or ``"00:01:02.5"``) convert just
    that stretch, from the first frame at or after ``start``; the output starts at time 0 and
    its audio is cut to match. ``progress`` is ``True`` for a tqdm bar or a callable
    ``(done, total)``. Returns a :class:`JobResult`.
    """
    import time

    source = Path(input)
    if not source.exists():
        raise InputError(f"input not found: {source}")
    out_fps = parse_rate(fps, "--fps") if fps is not None else None
    in_fps = parse_rate(input_fps, "--input-fps") if input_fps is not None else None
    detector = scene_detector(scene_threshold)
    if isinstance(dedup, bool) or not isinstance(dedup, int) or dedup < 1:
        raise OptionError(f"--dedup must be a whole number >= 1, got {dedup!r}")
    if crf is not None and not 0 <= crf <= 63:
        raise OptionError(f"--crf must be between 0 and 63, got {crf}")
    first, stop = stretch_bounds(start, duration)

    started = time.perf_counter()
    with open_reader(source, input_fps=in_fps, start=first, end=stop) as reader:
        info = reader.info
        check_start(source, info, first)
        rate = resolve_output_rate(out_fps, multi, info.fps)
        target = Path(output) if output is not None else default_output_path(source, rate)
        target = check_output_path(target, inputs=[source], overwrite=overwrite)
        interp = make_interpolator(
            steps=steps, weights=weights, device=device, seed=seed, sampler=sampler,
            refine=refine, max_memory=max_memory, ensemble=ensemble, detector=detector,
            max_dup_run=dedup,
        )
        options = encode_options(target, codec, crf, preset, pix_fmt)
        total = None
        if info.duration is not None:
            length = info.duration - (first or 0)
            if stop is not None:
                length = min(length, stop - (first or 0))
            total = output_frame_count(length, rate)
        report = progress_reporter(progress, total, target.name)
        reader.deep = keeps_depth(target, options, info.pix_fmt)
        fetched = prefetch(reader)
        try:
            head = next(fetched, None)  # the stretch's first frame: the audio's time origin
            if head is None:
                raise OptionError(
                    f"--start {float(first):g} s is beyond the end of {str(source)!r}"
                )
            frames = itertools.chain([head], fetched)
            with open_writer(
                target, rate, (info.width, info.height), options=options,
                source=source if (audio and not info.is_folder) else None,
                time_origin=head.time if first else info.start_time, overwrite=overwrite,
                source_pix_fmt=info.pix_fmt,
            ) as writer, BackgroundWriter(writer.write) as put:
                done = 0
                for image in interp.run(frames, rate, lambda: reader.end_time):
                    put(image)
                    done += 1
                    report(done)
                if interp.stats.input_frames < 1:
                    raise InputError(f"{source} has no frames to interpolate")
        finally:
            fetched.close()  # stops the decode thread before the reader closes
        report(None)
    refined = getattr(interp.motion, "refiner", None) is not None
    return JobResult(
        target, rate, interp.stats, time.perf_counter() - started, interp.steps, refined
    )


def keeps_depth(target: Path, options: EncodeOptions, source_pix_fmt: str | None) -> bool:
    """Whether frames should be decoded deep (uint16) for output ``target``: the source has more
    than 8 bits per component and the output stores more than 8 (a PNG folder stores 16). Warns,
    in one line, when the output must reduce the source."""
    if pixel_bits(source_pix_fmt) <= 8:
        return False
    if is_folder_output(target):  # 16-bit PNG
        return True
    settings = resolve(target.suffix, options, source_pix_fmt)
    if settings.note:
        warnings.warn(settings.note, stacklevel=2)
    return pixel_bits(settings.pix_fmt) > 8
