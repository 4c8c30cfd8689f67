"""Synthetic media for tests: small clips whose every frame is known in closed form.

Conventions
- Images are numpy uint8 ``(h, w, 3)`` RGB, C-contiguous; sizes are ``(w, h)``.
- :func:`pattern_frame` draws a smooth texture translating at a constant ``velocity`` in pixels
  per frame; ``time`` is measured in frames (any real value, so the exact in-between frame at
  time 2.5 is ``pattern_frame(2.5)``). The texture is a sum of long-wavelength sinusoids, so it is
  smooth (optical flow can follow it) and has no flat areas.
- Clips are lossless by default (``libx264rgb`` with ``crf=0``, or ``ffv1``), so decoded frames
  equal :func:`pattern_frame` exactly. Media times are ``Fraction`` seconds.
- Everything is written with PyAV (never an ``ffmpeg`` binary) into a path the test gives,
  normally under pytest's ``tmp_path``. Helpers are fast: tiny sizes, few frames.
- :func:`require_codec` skips the calling test, naming the encoder, when it is missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

DEFAULT_SIZE = (64, 48)
DEFAULT_VELOCITY = (1.5, 0.75)

# (amplitude, wavelength_x, wavelength_y, phase) per channel: long wavelengths keep it smooth.
_WAVES = (
    ((52.0, 37.0, 53.0, 0.3), (30.0, -23.0, 41.0, 1.1), (18.0, 17.0, -29.0, 2.0)),
    ((48.0, -43.0, 31.0, 0.7), (32.0, 29.0, 47.0, 2.3), (16.0, 19.0, 23.0, 0.2)),
    ((50.0, 31.0, -37.0, 1.9), (28.0, 53.0, 19.0, 0.5), (20.0, -27.0, 33.0, 1.4)),
)


def encoder_available(name: str) -> bool:
    """True when PyAV's FFmpeg has the encoder ``name``."""
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


def require_codec(*names: str) -> None:
    """Skip the calling test when any of the encoders ``names`` is missing (named in the reason)."""
    for name in names:
        if not encoder_available(name):
            pytest.skip(f"encoder {name!r} is not available in this FFmpeg build")


def pattern_frame(
    time: float | Fraction = 0,
    size: tuple[int, int] = DEFAULT_SIZE,
    velocity: tuple[float, float] = DEFAULT_VELOCITY,
) -> np.ndarray:
    """The test pattern at ``time`` (in frames), moved by ``velocity * time`` pixels.

    Pixel (x, y) at time t shows the texture at (x - vx * t, y - vy * t). Returns uint8 (h, w, 3).
    """
    w, h = size
    t = float(time)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    xs -= velocity[0] * t
    ys -= velocity[1] * t
    out = np.empty((h, w, 3), dtype=np.float64)
    for c, waves in enumerate(_WAVES):
        acc = np.full((h, w), 128.0)
        for amp, lx, ly, phase in waves:
            acc += amp * np.sin(2 * math.pi * (xs / lx + ys / ly) + phase)
        out[..., c] = acc
    return np.ascontiguousarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


def pattern_frames(
    count: int,
    size: tuple[int, int] = DEFAULT_SIZE,
    velocity: tuple[float, float] = DEFAULT_VELOCITY,
) -> list[np.ndarray]:
    """Frames 0 .. count-1 of the pattern."""
    return [pattern_frame(i, size, velocity) for i in range(count)]


def _lossless_options(codec: str) -> dict[str, str]:
    if codec in ("libx264", "libx264rgb"):
        return {"crf": "0", "preset": "ultrafast"}
    if codec == "libx265":
        return {"x265-params": "lossless=1:log-level=none", "preset": "ultrafast"}
    if codec == "libvpx-vp9":
        return {"lossless": "1", "deadline": "realtime", "cpu-used": "8"}
    return {}


def _default_pix_fmt(codec: str) -> str:
    return {
        "libx264rgb": "rgb24",
        "ffv1": "bgr0",
        "png": "rgb24",
        "gif": "rgb8",
        "mpeg4": "yuv420p",
    }.get(codec, "yuv420p")


def _common_time_base(fps: Fraction, times: Sequence[Fraction] | None) -> Fraction:
    den = fps.numerator
    if times is not None:
        for t in times:
            den = math.lcm(den, Fraction(t).denominator)
    return Fraction(1, den)


def _add_audio_stream(container, suffix: str, codec: str | None, rate: int):
    if codec is None:
        codec = {".webm": "libopus", ".avi": "pcm_s16le", ".mkv": "flac"}.get(suffix, "aac")
    require_codec(codec)
    if codec == "libopus":
        rate = 48000
    stream = container.add_stream(codec, rate=rate)
    stream.layout = "mono"
    return stream


def _sine_frames(stream, duration: Fraction, rate: int, hz: float = 440.0):
    """Yield audio frames of a sine tone covering ``duration`` seconds in the encoder's format."""
    total = int(duration * rate)
    chunk = stream.codec_context.frame_size or 1024
    fmt = stream.codec_context.format.name
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        t = (np.arange(start, start + n) / rate).astype(np.float64)
        tone = 0.3 * np.sin(2 * math.pi * hz * t)
        if fmt.startswith("flt"):
            data = tone.astype(np.float32)[None]
        elif fmt.startswith("s32"):
            data = np.rint(tone * 2**31 * 0.99).astype(np.int32)[None]
        else:
            data = np.rint(tone * 32767).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        yield frame


def write_clip(
    path: str | Path,
    frames_or_count: int | Iterable[np.ndarray] = 10,
    fps: Fraction | int = Fraction(24),
    codec: str = "libx264rgb",
    times: Sequence[Fraction] | None = None,
    audio: bool | str = False,
    size: tuple[int, int] = DEFAULT_SIZE,
    velocity: tuple[float, float] = DEFAULT_VELOCITY,
    pix_fmt: str | None = None,
    rotation: int | None = None,
    rotate_tag: int | None = None,
    audio_rate: int = 44100,
    audio_duration: Fraction | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a clip and return its path.

    ``frames_or_count``: frames (uint8 h w 3, or uint16 for deep formats) or a count of pattern frames. With a count, frame i
    is ``pattern_frame(i)`` for constant rate, or ``pattern_frame(times[i] * fps)`` when ``times``
    (exact seconds, one per frame: variable frame rate) is given. ``audio``: True for a 440 Hz
    tone in a codec the container holds (aac for mp4/mov, flac for mkv, opus for webm, pcm for
    avi), or a codec name; it lasts the video's duration unless ``audio_duration`` is given.
    ``rotation``: display-matrix rotation, counter-clockwise degrees (as ``VideoFrame.rotation``
    reads back). ``rotate_tag``: the legacy ``rotate`` stream tag instead (clockwise degrees).
    """
    path = Path(path)
    fps = Fraction(fps)
    require_codec(codec)
    if isinstance(frames_or_count, int):
        if times is not None:
            frames = [pattern_frame(Fraction(t) * fps, size, velocity) for t in times]
        else:
            frames = pattern_frames(frames_or_count, size, velocity)
    else:
        frames = list(frames_or_count)
    if times is not None and len(times) != len(frames):
        raise ValueError(f"times has {len(times)} entries for {len(frames)} frames")
    h, w = frames[0].shape[:2]
    time_base = _common_time_base(fps, times)
    with av.open(str(path), "w") as container:
        if metadata:
            container.metadata.update(metadata)
        stream = container.add_stream(codec, rate=fps, options=_lossless_options(codec))
        stream.width, stream.height = w, h
        stream.pix_fmt = pix_fmt or _default_pix_fmt(codec)
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        if rotate_tag is not None:
            stream.metadata["rotate"] = str(rotate_tag)
        audio_stream = None
        if audio:
            audio_stream = _add_audio_stream(
                container,
                path.suffix.lower(),
                audio if isinstance(audio, str) else None,
                audio_rate,
            )
        for i, image in enumerate(frames):
            rgb = "rgb48le" if image.dtype == np.uint16 else "rgb24"
            frame = av.VideoFrame.from_ndarray(image, format=rgb)
            frame.pts = int((Fraction(times[i]) if times is not None else i / fps) / time_base)
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio_stream is not None:
            if audio_duration is None:
                audio_duration = (Fraction(times[-1]) + 1 / fps) if times else len(frames) / fps
            rate = audio_stream.codec_context.sample_rate
            for frame in _sine_frames(audio_stream, audio_duration, rate):
                container.mux(audio_stream.encode(frame))
            container.mux(audio_stream.encode())
    return path


def write_audio_only(
    path: str | Path, duration: Fraction = Fraction(1), codec: str | None = None
) -> Path:
    """An audio-only file (no video stream): a one-second tone by default."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = _add_audio_stream(container, path.suffix.lower(), codec, 44100)
        for frame in _sine_frames(stream, duration, stream.codec_context.sample_rate):
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_png_folder(
    folder: str | Path,
    frames_or_count: int | Iterable[np.ndarray] = 5,
    names: Sequence[str] | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    velocity: tuple[float, float] = DEFAULT_VELOCITY,
) -> Path:
    """A folder of PNG frames named ``names`` (default ``f1.png, f2.png, ...``: natural order)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(frames_or_count, int):
        frames = pattern_frames(frames_or_count, size, velocity)
    else:
        frames = list(frames_or_count)
    names = names or [f"f{i + 1}.png" for i in range(len(frames))]
    for name, image in zip(names, frames, strict=True):
        write_image(folder / name, image)
    return folder


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """One still image; the format follows the suffix (png, jpg, webp)."""
    path = Path(path)
    av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").to_image().save(path)
    return path


def write_gif(
    path: str | Path,
    count: int = 4,
    durations_ms: Sequence[int] | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
) -> Path:
    """An animated GIF of flat-colour frames (exact through the palette) with per-frame durations.

    Frame i is filled with :func:`gif_colour` ``(i)``. Durations default to 100 ms each.
    """
    path = Path(path)
    durations_ms = list(durations_ms or [100] * count)
    w, h = size
    time_base = Fraction(1, 100)  # GIF delays are in centiseconds
    with av.open(str(path), "w") as container:
        stream = container.add_stream("gif", rate=10)
        stream.width, stream.height = w, h
        stream.pix_fmt = "rgb8"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        pts = 0
        for i, ms in enumerate(durations_ms):
            image = np.empty((h, w, 3), np.uint8)
            image[:] = gif_colour(i)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="rgb8")
            frame.pts = pts
            frame.time_base = time_base
            pts += ms // 10
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def gif_colour(i: int) -> tuple[int, int, int]:
    """Flat colour of GIF frame i: values exact in the rgb8 (3-3-2) palette (R, G in steps of 36,
    B in steps of 85)."""
    palette = [(252, 0, 0), (0, 252, 0), (0, 0, 255), (252, 252, 0), (0, 252, 255), (252, 0, 170)]
    return palette[i % len(palette)]


def truncate_file(src: str | Path, dst: str | Path, keep: float = 0.5) -> Path:
    """Copy the first ``keep`` fraction of ``src``'s bytes to ``dst`` (a cut-off download)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * keep)])
    return Path(dst)


def corrupt_middle(
    src: str | Path, dst: str | Path, at: float = 0.5, length: int = 2048, seed: int = 0
) -> Path:
    """Copy ``src`` to ``dst`` with ``length`` random bytes overwritten at fraction ``at``."""
    data = bytearray(Path(src).read_bytes())
    start = int(len(data) * at)
    noise = np.random.default_rng(seed).integers(0, 256, size=length, dtype=np.uint8).tobytes()
    data[start : start + length] = noise[: len(data) - start]
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def write_random_bytes(path: str | Path, size: int = 4096, seed: int = 0) -> Path:
    """A file of random bytes (not any media format)."""
    rng = np.random.default_rng(seed)
    Path(path).write_bytes(rng.integers(0, 256, size=size, dtype=np.uint8).tobytes())
    return Path(path)


def read_frames_pyav(path: str | Path) -> list[np.ndarray]:
    """Decode every video frame with plain PyAV (reference reader, no vidiff code), as rgb24."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
