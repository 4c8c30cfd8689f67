"""Carry a source's audio and subtitle streams into an output, in sync with the new video.

Packets are copied unchanged (``add_stream_from_template``) whenever the output container can
hold the codec; otherwise audio is decoded and re-encoded (AAC for mp4/mov/mkv/avi, Opus for
webm) and subtitles are dropped with a warning. GIF output holds neither.

Time: output video frame 0 shows source time ``time_origin``, so every carried timestamp becomes
``source_time - time_origin`` (exact Fractions, rounded once into the output stream's time base).
In mp4/mov (which record a start offset in an edit list) a copied packet that overlaps the origin,
or ends exactly there (AAC's encoder-priming packet), is kept with a negative timestamp; other
containers would shift every stream to make it non-negative, so there copied packets that start
before the origin are dropped (a gap shorter than one packet, sync kept). Re-encoded audio is cut
at the origin to the sample. Packets that start at or after the end of the video are dropped
(the last kept packet may overhang the end by less than its own duration). Container metadata and
each stream's language/title are copied.

A stretch cut from the middle of a source (``time_origin`` more than a couple of seconds in) is
reached by seeking the source to about a second before it; the packets before the origin are then
dropped as above, so the audio is cut to the stretch and starts at output time 0.

Memory stays bounded: the source is demuxed lazily while video frames are written, with at most
one packet held back until the video catches up with it. A stream that fails (demux or decode
error, muxer refusing it) is dropped with a ``warnings.warn``; the video is never lost for it.
"""

from __future__ import annotations

import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..timebase import to_fraction
from .formats import REENCODE_AUDIO

_SKIP_METADATA = {"encoder", "major_brand", "minor_version", "compatible_brands", "duration"}
_WARM_UP = Fraction(1, 2)  # seconds of audio decoded before the origin when re-encoding
_SEEK_MIN = Fraction(2)  # an origin later than this (seconds) is reached by seeking
_STREAM_METADATA = {"language", "title", "handler_name"}


def _warn(source: Path, message: str) -> None:
    warnings.warn(f"source {str(source)!r}: {message}", stacklevel=3)


class _Track:
    """One carried stream: source stream, output stream, and re-encoding state if any."""

    def __init__(self, src, out, encode: bool):
        self.src = src
        self.out = out
        self.encode = encode
        self.in_tb = to_fraction(src.time_base) or Fraction(1, 1)
        self.alive = True
        self.resampler = None
        self.next_pts: int | None = None


def _drop_leading(frame, count: int):
    """A copy of an audio frame without its first ``count`` samples."""
    data = frame.to_ndarray()
    step = 1 if frame.format.is_planar else len(frame.layout.channels)
    out = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(data[:, count * step :]),
        format=frame.format.name,
        layout=frame.layout.name,
    )
    out.sample_rate = frame.sample_rate
    return out


class Remuxer:
    """Adds the carried streams to ``output`` (call before the header is written), then feeds
    packets with :meth:`feed_until` as video is written and :meth:`finish` at the end."""

    def __init__(self, source_path: Path, source, output, muxer: str, time_origin: Fraction):
        self.path = source_path
        self.src = source
        self.out = output
        self.origin = Fraction(time_origin)
        self.negative_ok = muxer in ("mp4", "mov")
        self.tracks: dict[int, _Track] = {}
        self._pending = None
        self._packets = None
        if muxer == "gif":
            if source.streams.audio or source.streams.subtitles:
                _warn(source_path, "GIF output cannot hold audio or subtitles; they are dropped")
            return
        supported = output.supported_codecs
        for stream in list(source.streams.audio) + list(source.streams.subtitles):
            track = self._add(stream, supported, muxer)
            if track is not None:
                for key, value in stream.metadata.items():
                    if key.lower() in _STREAM_METADATA:
                        track.out.metadata[key] = value
                self.tracks[stream.index] = track
        for key, value in source.metadata.items():
            if key.lower() not in _SKIP_METADATA:
                output.metadata[key] = value
        if self.tracks:
            if self.origin > _SEEK_MIN:  # a stretch far in: start demuxing a little before it
                try:
                    source.seek(int((self.origin - _SEEK_MIN / 2) * av.time_base), backward=True)
                except av.error.FFmpegError:
                    pass  # not seekable: demux from the beginning, dropping what comes before
            self._packets = source.demux(*[t.src for t in self.tracks.values()])

    def _add(self, stream, supported, muxer: str) -> _Track | None:
        name = stream.codec_context.name if stream.codec_context else None
        kind = stream.type
        try:
            if name in supported:
                return _Track(stream, self.out.add_stream_from_template(stream), encode=False)
            if kind != "audio":
                _warn(
                    self.path,
                    f"{kind} stream #{stream.index} ({name}) cannot be stored in "
                    f"{muxer} output; it is dropped",
                )
                return None
            target = REENCODE_AUDIO[muxer]
            codec = av.codec.Codec(target, "w")
            src_rate = stream.codec_context.sample_rate
            rates = codec.audio_rates
            rate = src_rate if not rates or src_rate in rates else 48000
            out = self.out.add_stream(target, rate=rate)
            layout = stream.codec_context.layout.name
            out.layout = (
                "stereo" if target == "libopus" and stream.codec_context.channels > 2 else layout
            )
            out.format = codec.audio_formats[0].name if codec.audio_formats else "fltp"
            out.time_base = Fraction(1, rate)
            out.codec_context.time_base = Fraction(1, rate)
            track = _Track(stream, out, encode=True)
            track.resampler = av.AudioResampler(
                format=out.format.name, layout=out.layout.name, rate=rate
            )
            return track
        except Exception as exc:  # noqa: BLE001 - any failure here only costs this stream
            _warn(
                self.path,
                f"{kind} stream #{stream.index} ({name}) cannot be carried over "
                f"({exc}); it is dropped",
            )
            return None

    def feed_until(self, limit: Fraction, end: Fraction | None = None) -> None:
        """Mux every carried packet starting before ``limit`` (output time, seconds); with
        ``end``, drop packets that start at or after it."""
        while self._packets is not None:
            packet = self._pending
            self._pending = None
            if packet is None:
                try:
                    packet = next(self._packets)
                except StopIteration:
                    self._packets = None
                    return
                except av.error.FFmpegError as exc:
                    _warn(self.path, f"reading audio/subtitles failed ({exc}); the rest is dropped")
                    self._packets = None
                    return
            track = self.tracks.get(packet.stream.index)
            if track is None or not track.alive:
                continue
            ts = packet.pts if packet.pts is not None else packet.dts
            if packet.size == 0 or ts is None:  # flush packet, or nothing to place it by
                continue
            start = ts * track.in_tb - self.origin
            length = (packet.duration or 0) * track.in_tb
            if start < 0:
                if track.encode:  # decode a little before the origin to warm the decoder up
                    keep = start + length > -_WARM_UP
                else:
                    keep = self.negative_ok and start + length >= 0
                if not keep:
                    continue
            if end is not None and start >= end:
                continue
            if start >= limit:
                self._pending = packet
                return
            try:
                if track.encode:
                    self._reencode(track, packet, end)
                else:
                    self._copy(track, packet)
            except Exception as exc:  # noqa: BLE001 - a broken stream must not kill the video
                track.alive = False
                _warn(
                    self.path,
                    f"{track.src.type} stream #{track.src.index} failed at "
                    f"{float(start):.3f} s ({exc}); the rest of it is dropped",
                )

    def _copy(self, track: _Track, packet) -> None:
        out_tb = to_fraction(track.out.time_base)
        shift = self.origin / out_tb

        def move(value):
            return None if value is None else round(value * track.in_tb / out_tb - shift)

        packet.pts, packet.dts = move(packet.pts), move(packet.dts)
        if packet.duration:
            packet.duration = round(packet.duration * track.in_tb / out_tb)
        packet.time_base = out_tb
        packet.stream = track.out
        self.out.mux(packet)

    def _reencode(self, track: _Track, packet, end: Fraction | None) -> None:
        for frame in track.src.decode(packet):
            if frame.pts is None:
                continue
            start = frame.pts * (to_fraction(frame.time_base) or track.in_tb) - self.origin
            if start + Fraction(frame.samples, frame.sample_rate) <= 0:
                continue
            if end is not None and start >= end:
                continue
            self._encode(track, track.resampler.resample(frame), start)

    def _encode(self, track: _Track, frames, start: Fraction | None) -> None:
        rate = track.out.codec_context.sample_rate
        for out_frame in frames:
            if track.next_pts is None:
                first = round((start or 0) * rate)
                if first < 0:  # cut at the origin, to the sample
                    if out_frame.samples <= -first:
                        continue
                    out_frame = _drop_leading(out_frame, -first)
                    first = 0
                track.next_pts = first
            out_frame.pts = track.next_pts
            out_frame.time_base = Fraction(1, rate)
            track.next_pts += out_frame.samples
            self.out.mux(track.out.encode(out_frame))

    def finish(self, end: Fraction) -> None:
        """Mux what remains before ``end`` (the video's end, output time) and flush encoders."""
        self.feed_until(end, end)
        self._packets = None
        for track in self.tracks.values():
            if track.encode and track.alive:
                try:
                    self._encode(track, track.resampler.resample(None), None)
                    self.out.mux(track.out.encode(None))
                except Exception as exc:  # noqa: BLE001
                    _warn(self.path, f"finishing audio stream #{track.src.index} failed ({exc})")
