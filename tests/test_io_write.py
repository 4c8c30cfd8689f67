"""Encoding: exact rates and pts, per-container defaults, odd sizes, and atomic output."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from media import pattern_frames, require_codec, write_clip

from vidiff.errors import OptionError, OutputError
from vidiff.io import EncodeOptions, check_output_path, open_reader, open_writer
from vidiff.timebase import to_fraction


def _write(path, frames, fps=Fraction(24), **kw):
    h, w = frames[0].shape[:2]
    with open_writer(path, fps, (w, h), **kw) as writer:
        for image in frames:
            writer.write(image)
    return path


def test_ntsc_rate_is_exact(tmp_path):
    rate = Fraction(60000, 1001)
    path = _write(tmp_path / "out.mp4", pattern_frames(8), fps=rate)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert to_fraction(stream.average_rate) == rate  # PyAV 19: AVRational
        assert stream.codec_context.pix_fmt == "yuv420p"
        pts = sorted(p.pts for p in container.demux(stream) if p.size)
        assert [p * to_fraction(stream.time_base) for p in pts] == [i / rate for i in range(8)]
    with open_reader(path) as reader:
        assert [f.time for f in reader] == [i / rate for i in range(8)]
        assert reader.end_time == 8 / rate


def test_mp4_has_index_at_front(tmp_path):
    """faststart: the moov box precedes mdat so browsers start playing at once."""
    data = _write(tmp_path / "out.mp4", pattern_frames(3)).read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize(
    "suffix,codec",
    [
        (".mp4", "h264"),
        (".mov", "h264"),
        (".mkv", "h264"),
        (".webm", "vp9"),
        (".avi", "mpeg4"),
        (".gif", "gif"),
    ],
)
def test_default_codec_per_container(tmp_path, suffix, codec):
    require_codec({"vp9": "libvpx-vp9", "h264": "libx264"}.get(codec, codec))
    frames = pattern_frames(4)
    path = _write(tmp_path / f"out{suffix}", frames)
    with open_reader(path) as reader:
        got = list(reader)
        assert reader.info.codec == codec and len(got) == 4
    if suffix != ".gif":  # GIF's fixed palette is coarse
        assert np.abs(got[1].image.astype(int) - frames[1]).mean() < 8


def test_odd_size_is_padded_by_replicating_the_edge(tmp_path):
    frames = pattern_frames(3, size=(63, 47))
    path = _write(tmp_path / "odd.mp4", frames, options=EncodeOptions(crf=0, pix_fmt="yuv444p"))
    with open_reader(path) as reader:
        assert (reader.info.width, reader.info.height) == (63, 47)  # 4:4:4 needs no padding
    path = _write(tmp_path / "odd420.mkv", frames, options=EncodeOptions(crf=0))
    with open_reader(path) as reader:
        got = list(reader)
    assert got[0].image.shape == (48, 64, 3)
    # the added column/row repeat the last one (up to chroma rounding)
    img = got[0].image.astype(int)
    assert np.abs(img[:, 63] - img[:, 62]).mean() < 4 and np.abs(img[47] - img[46]).mean() < 4


def test_lossless_round_trip(tmp_path):
    frames = pattern_frames(3)
    path = _write(
        tmp_path / "x.mkv",
        frames,
        options=EncodeOptions(codec="libx264rgb", crf=0, pix_fmt="rgb24"),
    )
    with open_reader(path) as reader:
        for frame, image in zip(reader, frames, strict=True):
            np.testing.assert_array_equal(frame.image, image)


def test_bad_options():
    with pytest.raises(OptionError, match="crf"):
        EncodeOptions(crf=99)
    with pytest.raises(OptionError, match="preset"):
        EncodeOptions(preset="warp")


def test_unknown_codec_and_suffix(tmp_path):
    with pytest.raises(OptionError, match="no-such-codec"):
        open_writer(tmp_path / "a.mp4", 24, (64, 48), options=EncodeOptions(codec="no-such-codec"))
    with pytest.raises(OptionError, match=".xyz"):
        open_writer(tmp_path / "a.xyz", 24, (64, 48))


def test_existing_output_refused_without_overwrite(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"old")
    with pytest.raises(OutputError, match="already exists"):
        open_writer(path, 24, (64, 48))


def test_overwrite_keeps_old_file_until_complete(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with open_writer(path, 24, (64, 48), overwrite=True) as writer:
            writer.write(pattern_frames(1)[0])
            assert path.read_bytes() == b"old"
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old"
    _write(path, pattern_frames(2), overwrite=True)
    with open_reader(path) as reader:
        assert len(list(reader)) == 2


def test_output_equal_to_input_refused(tmp_path):
    src = write_clip(tmp_path / "in.mp4", 3)
    with pytest.raises(OutputError, match="same as the input"):
        open_writer(tmp_path / "." / "in.mp4", 24, (64, 48), source=src, overwrite=True)
    with pytest.raises(OutputError, match="same as the input"):
        check_output_path(src, [src], overwrite=True)
    (tmp_path / "link.mp4").symlink_to(src)
    with pytest.raises(OutputError, match="same as the input"):
        check_output_path(tmp_path / "link.mp4", [src], overwrite=True)


def test_missing_or_unwritable_parent(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        open_writer(tmp_path / "nope" / "a.mp4", 24, (64, 48))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        import os

        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(OutputError, match="not writable"):
            open_writer(locked / "a.mp4", 24, (64, 48))
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("name", ["out.mp4", "frames"])
def test_exception_inside_with_leaves_nothing(tmp_path, error, name):
    with pytest.raises(error):
        with open_writer(tmp_path / name, 24, (64, 48)) as writer:
            writer.write(pattern_frames(1)[0])
            assert len(list(tmp_path.iterdir())) == 1  # the hidden temporary
            assert next(tmp_path.iterdir()).name.startswith(".")
            raise error()
    assert list(tmp_path.iterdir()) == []


def test_no_frames_written_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(OutputError, match="no frames"):
        with open_writer(tmp_path / "out.mkv", 24, (64, 48)):
            pass
    assert list(tmp_path.iterdir()) == []


def test_wrong_frame_shape(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        with open_writer(tmp_path / "out.mkv", 24, (64, 48)) as writer:
            writer.write(np.zeros((10, 10, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
