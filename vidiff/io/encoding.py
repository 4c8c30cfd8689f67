"""Encoder settings: :class:`EncodeOptions` and how they map onto each FFmpeg encoder.

Defaults are chosen per container so browsers and players accept the result: H.264 (``libx264``)
in mp4/mov/mkv, VP9 in webm, MPEG-4 Part 2 in avi, GIF with the fixed ``rgb8`` palette in gif;
``yuv420p`` for all but GIF, and ``movflags=+faststart`` for mp4/mov (the index goes first so
playback starts before the download ends). ``crf`` and ``preset`` are translated per encoder:
x264/x265 take them as is, VP9 takes ``crf`` with ``b=0`` and maps the preset to ``cpu-used``,
SVT-AV1 maps the preset to its numeric scale, MPEG-4 maps ``crf`` to a fixed quantiser
(``qscale``), GIF takes neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import av

from ..errors import OptionError
from .formats import CONTAINERS

X264_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
_VP9_CPU_USED = dict(
    zip(X264_PRESETS, ("8", "7", "6", "5", "4", "3", "2", "1", "0", "0"), strict=True)
)
_SVT_PRESET = dict(
    zip(X264_PRESETS, ("12", "11", "10", "9", "8", "7", "5", "4", "2", "1"), strict=True)
)


@dataclass(frozen=True)
class EncodeOptions:
    """How to encode video output.

    ``codec``/``pix_fmt`` of None mean the container's default (libx264 + yuv420p for
    .mp4/.mov/.mkv, libvpx-vp9 for .webm, mpeg4 for .avi, gif + rgb8 for .gif). ``crf``: quality,
    lower is better (0 is lossless for x264/x265/VP9). ``preset``: x264 speed preset name.
    ``faststart``: move the mp4/mov index to the front. ``extra``: further encoder options as
    (name, value) pairs, passed to FFmpeg unchanged.
    """

    codec: str | None = None
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str | None = None
    faststart: bool = True
    extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 63:
            raise OptionError(f"crf must be between 0 and 63, got {self.crf}")
        if self.preset not in X264_PRESETS:
            raise OptionError(
                f"preset must be one of {', '.join(X264_PRESETS)}; got {self.preset!r}"
            )


@dataclass(frozen=True)
class EncoderSettings:
    """Resolved settings for one output: muxer, encoder, pixel format and their options."""

    muxer: str
    codec: str
    pix_fmt: str
    codec_options: dict[str, str]
    container_options: dict[str, str]
    qscale: int | None  # fixed quantiser for encoders without crf (mpeg4)


def resolve(suffix: str, options: EncodeOptions) -> EncoderSettings:
    """Settings for an output with ``suffix`` (e.g. ``.mp4``); OptionError when unusable."""
    muxer, default_codec, default_pix_fmt = CONTAINERS[suffix.lower()]
    codec = options.codec or default_codec
    try:
        av.codec.Codec(codec, "w")
    except Exception:
        raise OptionError(
            f"codec {codec!r} is not an encoder in this FFmpeg build: choose another --codec"
        ) from None
    if options.pix_fmt:
        pix_fmt = options.pix_fmt
    elif codec == default_codec:
        pix_fmt = default_pix_fmt
    else:
        pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
    try:
        av.VideoFormat(pix_fmt)
    except Exception:
        raise OptionError(f"pix_fmt {pix_fmt!r} is not a pixel format FFmpeg knows") from None
    crf, preset = str(options.crf), options.preset
    codec_options: dict[str, str] = {}
    qscale = None
    if codec in ("libx264", "libx264rgb", "libx265"):
        codec_options = {"crf": crf, "preset": preset}
        if codec == "libx265":
            codec_options["x265-params"] = "log-level=error"
    elif codec == "libvpx-vp9":
        codec_options = {"crf": crf, "b": "0", "cpu-used": _VP9_CPU_USED[preset], "row-mt": "1"}
        if options.crf == 0:
            codec_options["lossless"] = "1"
    elif codec == "libsvtav1":
        codec_options = {"crf": crf, "preset": _SVT_PRESET[preset]}
    elif codec == "mpeg4":
        qscale = max(1, min(31, round(2 + options.crf / 8)))
    codec_options.update(dict(options.extra))
    container_options = {}
    if muxer in ("mp4", "mov") and options.faststart:
        container_options["movflags"] = "+faststart"
    return EncoderSettings(muxer, codec, pix_fmt, codec_options, container_options, qscale)


def needs_even_size(pix_fmt: str) -> tuple[bool, bool]:
    """Whether (width, height) must be even for ``pix_fmt`` (chroma subsampled in x / in y)."""
    fmt = av.VideoFormat(pix_fmt, 64, 64)
    chroma = [c for c in fmt.components if not c.is_luma and not c.is_alpha and c.plane > 0]
    return any(c.width < 64 for c in chroma), any(c.height < 64 for c in chroma)
