"""Audio/subtitle carry-over: packets copied byte for byte, shifted by time_origin, trimmed at the
video end, re-encoded only when the container cannot hold the codec; a broken stream only warns."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest
from media import pattern_frames, require_codec, write_clip

from vidiff.io import open_reader, open_writer
from vidiff.timebase import to_fraction


def _audio_packets(path):
    """(pts in seconds, duration in seconds, bytes) of every audio packet."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        tb = to_fraction(stream.time_base)  # PyAV 19 returns AVRational
        return [(p.pts * tb, p.duration * tb, bytes(p)) for p in container.demux(stream) if p.size]


def _write(path, count, fps, **kw):
    with open_writer(path, fps, (64, 48), **kw) as writer:
        for image in pattern_frames(count):
            writer.write(image)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_audio_copied_byte_identical(tmp_path, suffix):
    src = write_clip(tmp_path / "src.mp4", 24, fps=24, audio=True)  # aac, 1 s
    out = _write(tmp_path / f"out{suffix}", 24, Fraction(24), source=src)
    before, after = _audio_packets(src), _audio_packets(out)
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
    # mp4/mov keep AAC's priming packet (negative time, edit list); Matroska drops it
    skip = 0 if suffix in (".mp4", ".mov") else sum(1 for t, _, _ in before if t < 0)
    assert skip <= 1
    assert [b for _, _, b in after] == [b for _, _, b in before][skip : skip + len(after)]
    assert len(after) >= len(before) - skip - 1
    tolerance = Fraction(1, 1000) if suffix == ".mkv" else 0  # Matroska stores milliseconds
    for (t0, _, _), (t1, _, _) in zip(before[skip:], after, strict=False):
        assert abs(t1 - t0) <= tolerance


def test_time_origin_shifts_and_end_trims(tmp_path):
    src = write_clip(tmp_path / "src.mp4", 24, fps=24, audio=True)
    origin = Fraction(6, 24)
    out = _write(tmp_path / "out.mp4", 12, Fraction(24), source=src, time_origin=origin)
    before = {b: t for t, _, b in _audio_packets(src)}
    after = _audio_packets(out)
    end = Fraction(12, 24)
    assert after, "audio was dropped"
    for t, duration, data in after:
        assert data in before
        assert t == before[data] - origin  # exactly shifted (same time base)
        assert t + duration >= 0 and t < end
    assert after[-1][0] + after[-1][1] >= end - Fraction(1, 20)  # audio reaches the video end
    with open_reader(out) as reader:
        assert [f.time for f in reader][:2] == [0, Fraction(1, 24)]


def test_reencode_when_container_cannot_hold_codec(tmp_path):
    require_codec("libopus", "libvpx-vp9")
    src = write_clip(tmp_path / "src.mp4", 12, fps=24, audio=True)  # aac cannot go in webm
    out = _write(tmp_path / "out.webm", 12, Fraction(24), source=src)
    with av.open(str(out)) as container:
        assert [s.codec_context.name for s in container.streams] == ["vp9", "opus"]
        audio = container.streams.audio[0]
        assert container.streams.video[0].start_time == 0
        total = sum(p.duration for p in container.demux(audio) if p.size) * to_fraction(
            audio.time_base
        )
    assert abs(total - Fraction(1, 2)) < Fraction(1, 20)


def test_container_metadata_copied(tmp_path):
    src = write_clip(tmp_path / "src.mkv", 6, audio=True, metadata={"title": "Holiday"})
    out = _write(tmp_path / "out.mkv", 6, Fraction(24), source=src)
    with av.open(str(out)) as container:
        assert container.metadata.get("title") == "Holiday"


def test_source_without_audio(tmp_path):
    src = write_clip(tmp_path / "src.mkv", 4)
    out = _write(tmp_path / "out.mp4", 4, Fraction(24), source=src)
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video"]


def test_broken_audio_stream_warns_and_keeps_video(tmp_path, monkeypatch):
    """A source whose audio fails mid-way (demuxer error) loses the audio, not the video."""
    src = write_clip(tmp_path / "src.mkv", 24, audio=True)
    from vidiff.io import remux

    real_init = remux.Remuxer.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        packets = self._packets

        def failing():
            for i, packet in enumerate(packets):
                if i == 5:
                    raise av.error.InvalidDataError(1094995529, "Invalid data found")
                yield packet

        self._packets = failing()

    monkeypatch.setattr(remux.Remuxer, "__init__", init)
    with pytest.warns(UserWarning, match="dropped"):
        out = _write(tmp_path / "out.mkv", 24, Fraction(24), source=src)
    with open_reader(out) as reader:
        assert len(list(reader)) == 24


def test_gif_output_drops_audio_with_warning(tmp_path):
    src = write_clip(tmp_path / "src.mp4", 4, audio=True)
    with pytest.warns(UserWarning, match="GIF"):
        out = _write(tmp_path / "out.gif", 4, Fraction(10), source=src)
    assert out.exists()
