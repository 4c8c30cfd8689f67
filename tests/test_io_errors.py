"""Bad inputs raise the right VidiffError with the path in a one-line message; damage in the
middle of a file is reported with the time where decoding failed, never skipped."""

from __future__ import annotations

import re
from fractions import Fraction

import av
import pytest
from media import (
    corrupt_middle,
    pattern_frame,
    truncate_file,
    write_audio_only,
    write_clip,
    write_image,
    write_random_bytes,
)

from vidiff.errors import CorruptInputError, InputError, OptionError
from vidiff.io import open_reader


@pytest.fixture(autouse=True)
def _quiet_ffmpeg():
    """FFmpeg logs concealment errors on stderr; the tests assert on exceptions instead."""
    level = av.logging.get_level()
    av.logging.set_level(None)
    yield
    av.logging.set_level(level)


def _read_all(path, **kw):
    with open_reader(path, **kw) as reader:
        return list(reader)


def _one_line_naming(exc: BaseException, path) -> None:
    message = str(exc)
    assert "\n" not in message and str(path) in message


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="does not exist") as info:
        open_reader(tmp_path / "nope.mp4")
    _one_line_naming(info.value, tmp_path / "nope.mp4")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="empty") as info:
        open_reader(path)
    _one_line_naming(info.value, path)


def test_random_bytes_are_not_a_video(tmp_path):
    path = write_random_bytes(tmp_path / "noise.mp4")
    with pytest.raises(InputError) as info:
        open_reader(path)
    assert not isinstance(info.value, CorruptInputError) or "damaged" in str(info.value)
    _one_line_naming(info.value, path)


def test_audio_only_has_no_video_stream(tmp_path):
    path = write_audio_only(tmp_path / "tone.m4a")
    with pytest.raises(InputError, match="no video stream") as info:
        open_reader(path)
    _one_line_naming(info.value, path)


def test_still_image_named_mp4_reads_as_one_frame(tmp_path):
    """A single image is a 1-frame input: the reader yields it; the pipeline decides."""
    path = tmp_path / "still.mp4"
    write_image(tmp_path / "still.png", pattern_frame(0)).rename(path)
    frames = _read_all(path)
    assert len(frames) == 1 and frames[0].image.shape == (48, 64, 3)


def test_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("no frames here")
    with pytest.raises(InputError, match="no frames"):
        open_reader(tmp_path, input_fps=Fraction(24))


def test_folder_needs_input_fps(tmp_path):
    write_image(tmp_path / "f1.png", pattern_frame(0))
    with pytest.raises(OptionError, match="fps"):
        open_reader(tmp_path)


def test_truncated_mp4_without_index_at_front(tmp_path):
    """write_clip's mp4 has its index (moov) at the end: cutting the file loses it."""
    path = truncate_file(write_clip(tmp_path / "a.mp4", 24), tmp_path / "cut.mp4", 0.5)
    with pytest.raises(InputError) as info:
        open_reader(path)
    _one_line_naming(info.value, path)


def test_truncated_matroska_is_reported(tmp_path):
    """Regression: a cut-off mkv decoded its first half silently; now the shortfall against the
    recorded duration is reported."""
    src = write_clip(tmp_path / "a.mkv", 48, codec="libx264", pix_fmt="yuv420p", size=(96, 64))
    path = truncate_file(src, tmp_path / "cut.mkv", 0.6)
    with pytest.raises(CorruptInputError, match="stopped early") as info:
        _read_all(path)
    _one_line_naming(info.value, path)


def _time_in_message(exc: BaseException) -> float:
    match = re.search(r"at (\d+\.\d+) s", str(exc))
    assert match, str(exc)
    return float(match.group(1))


def test_corrupt_middle_ffv1_raises_with_time(tmp_path):
    """FFV1 slice CRCs make FFmpeg raise on damaged data: reported at the damaged time."""
    src = write_clip(tmp_path / "a.mkv", 48, codec="ffv1", size=(96, 64))
    path = corrupt_middle(src, tmp_path / "bad.mkv", at=0.5, length=512)
    with pytest.raises(CorruptInputError) as info:
        _read_all(path)
    _one_line_naming(info.value, path)
    assert 0.5 < _time_in_message(info.value) < 1.5  # the middle of a 2 s clip


@pytest.mark.parametrize("codec,suffix", [("mpeg4", ".avi"), ("libx264rgb", ".mp4")])
def test_corrupt_middle_concealed_frame_is_reported(tmp_path, codec, suffix):
    """MPEG-4 and H.264 decoders conceal damage and only flag the frame corrupt: still reported."""
    src = write_clip(tmp_path / f"a{suffix}", 48, codec=codec, size=(96, 64))
    path = corrupt_middle(src, tmp_path / f"bad{suffix}", at=0.5, length=512)
    with pytest.raises(CorruptInputError, match="corrupt") as info:
        _read_all(path)
    _one_line_naming(info.value, path)
    assert 0.0 <= _time_in_message(info.value) < 2.0


def test_undamaged_clips_pass_the_damage_checks(tmp_path):
    for codec, suffix in [("mpeg4", ".avi"), ("ffv1", ".mkv"), ("libx264", ".mp4")]:
        frames = _read_all(write_clip(tmp_path / f"ok{suffix}", 24, codec=codec))
        assert len(frames) == 24
