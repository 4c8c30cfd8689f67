"""Decoding videos: exact frame counts and times (constant and variable rate), rotation, odd
sizes, 10-bit and 4:4:4 sources, animated GIFs, MediaInfo."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from media import gif_colour, pattern_frame, read_frames_pyav, write_clip, write_gif

from vidiff.io import Frame, MediaInfo, open_reader


def _read(path, **kw) -> tuple[list[Frame], object]:
    with open_reader(path, **kw) as reader:
        frames = list(reader)
    return frames, reader


def test_constant_rate_exact_frames_and_times(tmp_path):
    path = write_clip(tmp_path / "cfr.mp4", 12, fps=Fraction(30000, 1001))
    frames, reader = _read(path)
    assert [f.index for f in frames] == list(range(12))
    assert [f.time for f in frames] == [Fraction(1001 * i, 30000) for i in range(12)]
    for i, frame in enumerate(frames):
        assert frame.image.dtype == np.uint8 and frame.image.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(frame.image, pattern_frame(i))
    assert reader.end_time == Fraction(1001 * 12, 30000)


def test_media_info(tmp_path):
    path = write_clip(tmp_path / "a.mkv", 10, fps=24, audio=True, size=(80, 48))
    with open_reader(path) as reader:
        info = reader.info
    assert isinstance(info, MediaInfo)
    assert (info.width, info.height, info.fps) == (80, 48, Fraction(24))
    assert info.frame_count == 10 and info.start_time == 0 and info.rotation == 0
    assert info.has_audio and not info.is_folder and info.codec == "h264"
    assert abs(info.duration - Fraction(10, 24)) <= Fraction(1, 1000)  # Matroska counts ms


def test_variable_frame_rate_keeps_timestamps(tmp_path):
    times = [Fraction(0), Fraction(1, 24), Fraction(1, 8), Fraction(1, 3), Fraction(7, 20)]
    path = write_clip(tmp_path / "vfr.mp4", 5, times=times)
    frames, reader = _read(path)
    assert [f.time for f in frames] == times
    for frame, t in zip(frames, times, strict=True):
        np.testing.assert_array_equal(frame.image, pattern_frame(t * 24))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_display_matrix_rotation_applied(tmp_path, suffix, degrees):
    path = write_clip(tmp_path / f"r{suffix}", 3, rotation=degrees, size=(64, 48))
    frames, reader = _read(path)
    assert reader.info.rotation == degrees
    expected = (48, 64) if degrees in (90, 270) else (64, 48)
    assert (reader.info.width, reader.info.height) == expected
    for i, frame in enumerate(frames):
        np.testing.assert_array_equal(frame.image, np.rot90(pattern_frame(i), degrees // 90))


def test_legacy_rotate_tag_is_clockwise(tmp_path):
    path = write_clip(tmp_path / "tag.mkv", 2, rotate_tag=90)
    frames, reader = _read(path)
    assert reader.info.rotation == 270
    np.testing.assert_array_equal(frames[0].image, np.rot90(pattern_frame(0), -1))


@pytest.mark.parametrize("size", [(65, 49), (63, 48), (64, 47)])
def test_odd_sizes_decode_exactly(tmp_path, size):
    path = write_clip(tmp_path / "odd.mkv", 3, codec="ffv1", size=size)
    frames, reader = _read(path)
    assert (reader.info.width, reader.info.height) == size
    np.testing.assert_array_equal(frames[2].image, pattern_frame(2, size))


@pytest.mark.parametrize(
    "codec,pix_fmt",
    [
        ("ffv1", "yuv420p10le"),
        ("ffv1", "yuv444p"),
        ("libx265", "yuv420p10le"),
        ("libx264", "yuv444p"),
    ],
)
def test_high_bit_depth_and_444(tmp_path, codec, pix_fmt):
    path = write_clip(tmp_path / "hd.mkv", 4, codec=codec, pix_fmt=pix_fmt)
    frames, reader = _read(path)
    assert len(frames) == 4 and reader.info.pix_fmt == pix_fmt
    reference = read_frames_pyav(path)
    for i, frame in enumerate(frames):
        assert frame.image.dtype == np.uint8 and frame.image.shape == (48, 64, 3)
        np.testing.assert_array_equal(frame.image, reference[i])
        # RGB -> YUV -> RGB is close, not bit-exact; 4:2:0 also halves the chroma resolution
        diff = np.abs(frame.image.astype(int) - pattern_frame(i).astype(int))
        assert diff.mean() < (2.0 if "444" in pix_fmt else 6.0)


def test_gif_per_frame_durations(tmp_path):
    path = write_gif(tmp_path / "a.gif", 4, durations_ms=[100, 200, 50, 300])
    frames, reader = _read(path)
    assert [f.time for f in frames] == [
        Fraction(0),
        Fraction(1, 10),
        Fraction(3, 10),
        Fraction(7, 20),
    ]
    for i, frame in enumerate(frames):
        assert tuple(frame.image[0, 0]) == gif_colour(i)
        assert (frame.image == frame.image[0, 0]).all()
    assert reader.end_time > frames[-1].time
