"""Deep video (10 bits and more) keeps its depth: decoded as uint16, interpolated in float, encoded
10-bit (or 16-bit PNG); what an output cannot store is said in one warning line."""

import av
import numpy as np
import pytest
from media import require_codec, write_clip

import vidiff
from vidiff.cli import main
from vidiff.io import open_reader

W, H = 96, 64


def deep_frame(t: float) -> np.ndarray:
    """A horizontal grey ramp with 10-bit steps (many more levels than 8 bits hold), moving
    right 2 px per frame, with a vertical wave for the optical flow to lock on to."""
    xs = np.arange(W)[None, :] - 2.0 * t
    ys = np.arange(H)[:, None]
    level = 0.3 + 0.4 * (xs % W) / W + 0.05 * np.sin(2 * np.pi * (xs / 24 + ys / 32))
    codes = np.round(level * 1023).astype(np.uint16)  # 10-bit codes
    grey = codes * 64 + codes // 16  # to 16 bits, as FFmpeg scales 10 -> 16
    return np.repeat(grey[..., None], 3, axis=2)


def deep_clip(path, n=4):
    require_codec("libx265")
    return write_clip(path, [deep_frame(i) for i in range(n)], fps=24, codec="libx265",
                      pix_fmt="yuv444p10le")


def levels(image: np.ndarray) -> int:
    return len(np.unique(image[..., 1]))


def read_deep(path):
    with open_reader(path, input_fps=24 if path.is_dir() else None) as reader:
        reader.deep = True
        return reader.info, [f.image for f in reader]


def test_reader_gives_uint16_only_when_asked(tmp_path):
    clip = deep_clip(tmp_path / "deep.mkv")
    with open_reader(clip) as reader:
        assert reader.info.pix_fmt == "yuv444p10le"
        assert next(iter(reader)).image.dtype == np.uint8
    info, frames = read_deep(clip)
    assert frames[0].dtype == np.uint16
    assert levels(frames[0]) > 300  # an 8-bit frame has at most 256


def test_ten_bit_444_stays_ten_bit_444(tmp_path):
    clip = deep_clip(tmp_path / "deep.mkv")
    out = tmp_path / "out.mkv"
    vidiff.interpolate_video(clip, out, multi=2, steps=0, refine=False, codec="ffv1")
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv444p10le"
    _, src = read_deep(clip)
    _, frames = read_deep(out)
    assert all(f.dtype == np.uint16 for f in frames)
    # a copied frame comes back as it went in (lossless 10-bit; Matroska's millisecond clock
    # makes 1/24 s 42 ms, so only frame 3, at 125 ms, is exactly on the output grid)
    assert np.array_equal(frames[6], src[3])
    # in-between frames are deep too, and land where the motion puts them
    assert levels(frames[1]) > 300
    truth = deep_frame(0.5).astype(float)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(frames[1][inner].astype(float) - truth[inner]).mean() < 0.01 * 65535


def test_png_folder_output_is_16_bit(tmp_path):
    clip = deep_clip(tmp_path / "deep.mkv", n=3)
    out = tmp_path / "frames"
    vidiff.interpolate_video(clip, out, multi=2, steps=0, refine=False)
    first = sorted(out.iterdir())[0]
    with av.open(str(first)) as c:
        assert next(c.decode(video=0)).format.name.startswith("rgb48")
    info, frames = read_deep(out)
    assert info.pix_fmt == "rgb48le" and frames[1].dtype == np.uint16 and levels(frames[1]) > 300


def test_explicit_pix_fmt_wins(tmp_path):
    clip = deep_clip(tmp_path / "deep.mkv", n=3)
    out = tmp_path / "out.mkv"
    vidiff.interpolate_video(clip, out, multi=2, steps=0, refine=False, pix_fmt="yuv420p")
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_output_that_cannot_hold_it_says_so_in_one_line(tmp_path):
    clip = deep_clip(tmp_path / "deep.mkv", n=3)
    out = tmp_path / "out.avi"
    with pytest.warns(UserWarning) as record:
        assert main(["interpolate", str(clip), "-o", str(out), "--multi", "2", "--steps", "0",
                     "--no-refine", "-q"]) == 0
    lines = [str(w.message) for w in record]
    assert len(lines) == 1 and "written as 8-bit" in lines[0] and "\n" not in lines[0]
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_eight_bit_input_keeps_the_browser_default(tmp_path):
    clip = write_clip(tmp_path / "in.mp4", 3, codec="libx264", pix_fmt="yuv444p")
    out = tmp_path / "out.mp4"
    vidiff.interpolate_video(clip, out, multi=2, steps=0, refine=False)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"


@pytest.mark.parametrize("codec,source,expected", [
    ("libx264", "yuv420p10le", "yuv420p10le"),
    ("libx264", "yuv420p12le", "yuv420p10le"),
    ("libx265", "yuv420p12le", "yuv420p12le"),
    ("libx264", "gbrp10le", "yuv444p10le"),
])
def test_deep_default_per_encoder(codec, source, expected):
    from vidiff.io.encoding import EncodeOptions, resolve

    settings = resolve(".mkv", EncodeOptions(codec=codec), source)
    assert settings.pix_fmt == expected
    assert (settings.note is None) == (source != "yuv420p12le" or codec == "libx265")
