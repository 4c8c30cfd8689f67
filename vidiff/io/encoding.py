"""Encoder settings: :class:`EncodeOptions` and how they map onto each FFmpeg encoder.

Defaults are chosen per container so browsers and players accept the result: H.264 (``libx264``)
in mp4/mov/mkv, VP9 in webm, MPEG-4 Part 2 in avi, GIF with the fixed ``rgb8`` palette in gif;
``yuv420p`` for all but GIF, and ``movflags=+faststart`` for mp4/mov (the index goes first so
playback starts before the download ends). ``crf`` and ``preset`` are translated per encoder:
x264/x265 take them as is, VP9 takes ``crf`` with ``b=0`` and maps the preset to ``cpu-used``,
SVT-AV1 maps the preset to its numeric scale, MPEG-4 maps ``crf`` to a fixed quantiser
(``qscale``), GIF takes neither.

Deep input (more than 8 bits per component) keeps its depth by default where the encoder can
store it, and its chroma layout where the encoder allows (:func:`deep_pix_fmt`): a 10-bit 4:4:4
HEVC becomes 10-bit 4:4:4 H.264. What must be reduced (an 8-bit-only encoder, 12 bits into
x264's 10) is said in a note the job prints as one warning line. An explicit ``pix_fmt`` wins.
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


def pixel_bits(pix_fmt: str | None) -> int:
    """Bits per component of a pixel format (8 when unknown)."""
    if not pix_fmt:
        return 8
    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except Exception:
        return 8


def chroma_layout(pix_fmt: str) -> str:
    """``"420"``, ``"422"`` or ``"444"`` (RGB and gray formats count as 4:4:4)."""
    even_w, even_h = needs_even_size(pix_fmt)
    return "420" if even_h else "422" if even_w else "444"


def deep_pix_fmt(codec: str, source_pix_fmt: str) -> tuple[str | None, str | None]:
    """The pixel format keeping as much of a deep source as ``codec`` can store, and a note
    saying what was reduced (``None`` when nothing was); ``(None, note)`` when the encoder has
    no format over 8 bits."""
    bits = pixel_bits(source_pix_fmt)
    chroma = chroma_layout(source_pix_fmt)
    formats = {f.name for f in (av.codec.Codec(codec, "w").video_formats or [])}
    for depth in dict.fromkeys((bits, 12, 10)):  # each depth once
        if depth > bits:
            continue
        for layout in dict.fromkeys((chroma, "422", "420")):
            if layout == "422" and chroma == "420":
                continue
            name = f"yuv{layout}p{depth}le"
            if name in formats:
                lost = []
                if depth < bits:
                    lost.append(f"{bits}-bit as {depth}-bit")
                if layout != chroma:
                    lost.append(f"4:{chroma[1]}:{chroma[2]} chroma as 4:{layout[1]}:{layout[2]}")
                note = (f"{codec} cannot store this input exactly: it is written "
                        f"{' and '.join(lost)}") if lost else None
                return name, note
    return None, (f"{codec} stores at most 8 bits per component: the {bits}-bit input is "
                  "written as 8-bit (choose --codec libx264 or libx265 to keep it)")


@dataclass(frozen=True)
class EncoderSettings:
    """Resolved settings for one output: muxer, encoder, pixel format and their options."""

    muxer: str
    codec: str
    pix_fmt: str
    codec_options: dict[str, str]
    container_options: dict[str, str]
    qscale: int | None  # fixed quantiser for encoders without crf (mpeg4)
    note: str | None = None  # what of a deep source this output cannot keep


def resolve(suffix: str, options: EncodeOptions, source_pix_fmt: str | None = None) -> EncoderSettings:
    """Settings for an output with ``suffix`` (e.g. ``.mp4``); OptionError when unusable.

    ``source_pix_fmt``: the input's pixel format; a deep one (over 8 bits) picks a deep default
    (:func:`deep_pix_fmt`) unless ``options.pix_fmt`` is given."""
    muxer, default_codec, default_pix_fmt = CONTAINERS[suffix.lower()]
    codec = options.codec or default_codec
    try:
        av.codec.Codec(codec, "w")
    except Exception:
        raise OptionError(
            f"codec {codec!r} is not an encoder in this FFmpeg build: choose another --codec"
        ) from None
    note = None
    deep = None
    if not options.pix_fmt and pixel_bits(source_pix_fmt) > 8 and codec != "gif":
        deep, note = deep_pix_fmt(codec, source_pix_fmt)
    if options.pix_fmt:
        pix_fmt = options.pix_fmt
    elif deep is not None:
        pix_fmt = deep
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
    return EncoderSettings(muxer, codec, pix_fmt, codec_options, container_options, qscale, note)


def needs_even_size(pix_fmt: str) -> tuple[bool, bool]:
    """Whether (width, height) must be even for ``pix_fmt`` (chroma subsampled in x / in y)."""
    fmt = av.VideoFormat(pix_fmt, 64, 64)
    chroma = [c for c in fmt.components if not c.is_luma and not c.is_alpha and c.plane > 0]
    return any(c.width < 64 for c in chroma), any(c.height < 64 for c in chroma)
