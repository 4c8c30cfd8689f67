"""The file job of ``vidiff generate``: read seed frames, generate a continuation, write it.

Seeds are image files in order, or one video (or GIF, or folder of frames) whose last
``seed_frames`` frames are the seeds (decoded one at a time, only those kept; the frames before
them, up to :data:`vidiff.pipelines.cadence.LOOKBACK` in all, show the generator whether the
video holds its pictures in a cadence, as animation on twos does). Each output (a
video file, GIF or folder of PNG frames) holds the seeds first, then the new frames; with
``samples > 1`` the outputs are ``name_0.mp4``, ``name_1.mp4`` ... (``name_0/`` ... for folders).
Every option, path and the weights are checked before any frame is decoded; all outputs are
written under temporary names and renamed into place together at the end, so an error or Ctrl-C
leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError, OptionError
from ..io import (
    IMAGE_SUFFIXES,
    EncodeOptions,
    check_output_path,
    open_reader,
    open_writer,
)
from ..io.folder import read_image
from ..io.formats import is_folder_output
from ..pipelines.cadence import LOOKBACK
from ..pipelines.generate import check_count, make_generator, warn_identical_samples
from ..pipelines.generate_plan import WindowConfig
from ..timebase import parse_rate
from .options import scene_detector
from .progress import progress_reporter

DEFAULT_FPS = Fraction(24)
DEFAULT_VIDEO_SEEDS = 3  # two for the motion, one before them to backtest it (motion.history)


@dataclass(frozen=True)
class GenerateResult:
    """What was written."""

    outputs: tuple[Path, ...]
    fps: Fraction
    seeds: int  # seed frames at the start of each output
    frames: int  # generated frames after them
    steps: int  # sampler steps used (0: the motion estimate alone)
    seconds: float


def sample_outputs(output, samples: int) -> list[str]:
    """``out.mp4`` -> ``[out.mp4]`` for one sample, ``[out_0.mp4, out_1.mp4, ...]`` for more;
    a folder ``out/`` -> ``out_0/``, ``out_1/`` ... (folders keep a trailing slash)."""
    text = os.fspath(output)
    if samples == 1:
        return [text]
    folder = is_folder_output(text)
    path = Path(text.rstrip("/" + os.sep) if folder else text)
    if folder:
        return [os.path.join(str(path.with_name(f"{path.name}_{i}")), "") for i in range(samples)]
    return [str(path.with_name(f"{path.stem}_{i}{path.suffix}")) for i in range(samples)]


def seed_paths(seeds) -> list[Path]:
    """The seed paths, each checked to exist; one video (or folder) or image files only."""
    items = [seeds] if isinstance(seeds, (str, os.PathLike)) else list(seeds)
    if not items:
        raise OptionError("no seeds given: pass image files in order, or one video")
    paths = [Path(p).expanduser() for p in items]
    for p in paths:
        if not p.exists():
            raise InputError(f"seed {str(p)!r} does not exist: check the path")
    if len(paths) > 1:
        for p in paths:
            if p.is_dir() or p.suffix.lower() not in IMAGE_SUFFIXES:
                raise OptionError(
                    f"seed {str(p)!r} is not an image ({', '.join(sorted(IMAGE_SUFFIXES))}): "
                    "give image files in order, or a single video"
                )
    return paths


def is_video_seed(paths: list[Path]) -> bool:
    p = paths[0]
    return len(paths) == 1 and (p.is_dir() or p.suffix.lower() not in IMAGE_SUFFIXES)


def read_seeds(
    paths: list[Path], seed_frames: int | None, folder_fps: Fraction
) -> tuple[list[np.ndarray], Fraction | None, list[np.ndarray]]:
    """Seed images (uint8 ``h w 3``), the video's frame rate (``None`` for image files) and
    the frames before the seeds that show a cadence (module docstring; none for image files).

    A video keeps its last ``seed_frames`` frames (default 3); image files are all seeds, or
    their last ``seed_frames`` when given.
    """
    if is_video_seed(paths):
        keep = seed_frames if seed_frames is not None else DEFAULT_VIDEO_SEEDS
        with open_reader(paths[0], input_fps=folder_fps) as reader:
            last = list(deque((frame.image for frame in reader), maxlen=max(keep, LOOKBACK)))
            rate = reader.info.fps
        if not last:
            raise InputError(f"seed video {str(paths[0])!r} has no frames")
        return last[-keep:], rate, last[:-keep]
    if seed_frames is not None:
        paths = paths[-seed_frames:]
    images = []
    for p in paths:
        if not p.is_file():
            raise InputError(f"seed {str(p)!r} is not a file")
        if p.stat().st_size == 0:
            raise InputError(f"seed {str(p)!r} is empty (0 bytes): give a real image")
        try:
            image = read_image(p)
        except InputError:
            raise InputError(
                f"seed {str(p)!r} cannot be read as an image: it may be damaged or not an image"
            ) from None
        if images and image.shape != images[0].shape:
            (h0, w0), (h, w) = images[0].shape[:2], image.shape[:2]
            raise InputError(
                f"seed {str(p)!r} is {w}x{h}, unlike {str(paths[0])!r} ({w0}x{h0}): "
                "all seed images must have the same size"
            )
        images.append(image)
    return images, None, []


def generate_video(
    seeds,
    output,
    *,
    frames: int,
    fps=None,
    seed_frames: int | None = None,
    samples: int = 1,
    steps: int | None = None,
    sampler: str | None = None,
    device: str = "auto",
    weights=None,
    seed: int = 0,
    refine: bool | None = None,
    max_memory: int | None = None,
    ensemble=None,
    known: int = 3,
    unknown: int = 4,
    hierarchical: bool = False,
    stride: int | None = None,
    cadence: bool = True,
    scene_threshold: float | None = 0.15,
    overwrite: bool = False,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str | None = None,
    progress: bool | Callable[[int, int | None], None] = False,
) -> GenerateResult:
    """Write ``samples`` clips that continue ``seeds`` with ``frames`` new frames each.

    ``seeds``: image paths in order, or one video / GIF / frame folder (its last ``seed_frames``
    frames, default 3, are the seeds). ``output``: a video file, GIF or folder (PNG frames); for
    several samples ``_0``, ``_1`` ... are added to its name. ``fps``: the output rate (default:
    the seed video's, else 24). Model and window options as in
    :func:`vidiff.generate_frames`; ``cadence``: a video that holds its pictures in a cadence
    (on twos, say) is continued in it (:mod:`vidiff.pipelines.cadence`). Seeds that cross a
    scene cut continue the last shot only (``scene_threshold`` as in
    :func:`vidiff.interpolate_video`; ``None``: no cuts).
    ``progress`` is ``True`` for a tqdm bar or a callable ``(done, total)`` counting generated
    frames per clip. Returns a :class:`GenerateResult`.
    """
    import time

    started = time.perf_counter()
    frames = check_count("--frames", frames)
    samples = check_count("--samples", samples)
    if seed_frames is not None:
        seed_frames = check_count("--seed-frames", seed_frames)
    rate = parse_rate(fps, "--fps") if fps is not None else None
    if crf is not None and (
        isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 63
    ):
        raise OptionError(f"--crf must be a whole number between 0 and 63, got {crf!r}")
    options = EncodeOptions(
        **{
            k: v
            for k, v in {"codec": codec, "crf": crf, "preset": preset, "pix_fmt": pix_fmt}.items()
            if v is not None
        }
    )
    window = WindowConfig(known=known, unknown=unknown, hierarchical=hierarchical, stride=stride)
    detector = scene_detector(scene_threshold)
    paths = seed_paths(seeds)
    targets = sample_outputs(output, samples)
    for target in targets:
        check_output_path(target, inputs=paths, overwrite=overwrite)
    generator = make_generator(
        steps=steps, weights=weights, device=device, seed=seed, sampler=sampler, window=window,
        refine=refine, max_memory=max_memory, ensemble=ensemble, detector=detector,
        cadence=cadence,
    )
    warn_identical_samples(generator, samples)

    images, video_rate, before = read_seeds(paths, seed_frames, rate or DEFAULT_FPS)
    rate = rate or video_rate or DEFAULT_FPS
    h, w = images[0].shape[:2]
    report = progress_reporter(progress, frames, Path(targets[0]).name or "generate")
    with contextlib.ExitStack() as stack:
        stack.callback(report, None)
        writers = [
            stack.enter_context(open_writer(t, rate, (w, h), options=options, overwrite=overwrite))
            for t in targets
        ]
        for writer in writers:
            for image in images:
                writer.write(image)
        if generator.stochastic:
            streams = [generator.stream(images, frames, sample=m, before=before)
                       for m in range(samples)]
            for done in range(1, frames + 1):
                for writer, stream in zip(writers, streams, strict=True):
                    writer.write(next(stream))
                report(done)
        else:
            for done, image in enumerate(generator.stream(images, frames, before=before), start=1):
                for writer in writers:
                    writer.write(image)
                report(done)
        outputs = tuple(writer.path for writer in writers)
    return GenerateResult(
        outputs, rate, len(images), frames, generator.steps, time.perf_counter() - started
    )
