"""``vidiff compare``: panel layout (sizes, which input's pixels are where), labels, timing (a
24 fps input held next to a 60 fps one, exact frame counts, --slow), and bad options."""

import os
import subprocess
import sys
from fractions import Fraction
from types import SimpleNamespace

import av
import numpy as np
import pytest
from media import pattern_frame, write_clip, write_png_folder

from vidiff.cli import main
from vidiff.pipelines.compare import (
    Held,
    compose,
    difference,
    draw_label,
    held,
    strip_height,
    wipe_image,
)
from vidiff.timebase import to_fraction

SIZE = (64, 48)
LOSSLESS = ["--codec", "libx264rgb", "--pix-fmt", "rgb24", "--crf", "0"]


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "vidiff", *map(str, args)], capture_output=True, text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def frames_and_times(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tb = to_fraction(s.time_base)
        frames = list(c.decode(s))
        return [f.to_ndarray(format="rgb24") for f in frames], [f.pts * tb for f in frames], s


def images(n=3, size=SIZE):
    return [pattern_frame(7 * k, size, velocity=(3.0, 2.0)) for k in range(n)]


# -- composition (no video) ------------------------------------------------------------------


def test_side_by_side_panels_carry_their_inputs():
    a, b = images(2)
    out = compose([a, b], ["a", "b"])
    assert out.shape == (48, 128, 3)
    rows = strip_height(48)
    assert np.array_equal(out[rows:, :64], a[rows:]) and np.array_equal(out[rows:, 64:], b[rows:])


def test_label_strip_is_drawn_into_the_frame():
    a = images(1)[0]
    out = draw_label(a, "original")
    rows = strip_height(48)
    assert out.shape == a.shape and np.array_equal(out[rows:], a[rows:])
    strip = out[:rows].astype(int)
    assert np.abs(strip - a[:rows]).mean() > 20  # darkened
    assert strip.max() >= 200 and (strip < 110).mean() > 0.5  # white text on a dark strip
    assert not np.array_equal(draw_label(a, "x"), draw_label(a, "original"))


def test_inputs_of_other_sizes_are_scaled_to_the_first_height():
    a = images(1)[0]
    big = pattern_frame(0, (160, 96))
    out = compose([a, big], ["a", "big"])
    assert out.shape == (48, 64 + 80, 3)
    out = compose([a, big], ["a", "big"], height=96)
    assert out.shape == (96, 128 + 160, 3)


def test_grid_places_panels_in_rows_and_pads_with_black():
    a, b, c = images(3)
    out = compose([a, b, c], ["a", "b", "c"], layout="grid")
    assert out.shape == (96, 128, 3)
    rows = strip_height(48)
    assert np.array_equal(out[48 + rows :, :64], c[rows:])
    assert np.array_equal(out[rows:48, 64:], b[rows:])
    assert not out[48:, 64:].any()


def test_difference_panel_is_the_amplified_difference_of_the_first_two():
    a, b = images(2)
    out = compose([a, b], ["a", "b"], diff=True, diff_gain=4)
    assert out.shape == (48, 192, 3)
    rows = strip_height(48)
    expected = np.clip(np.abs(a.astype(int) - b.astype(int)) * 4, 0, 255)
    assert np.array_equal(out[rows:, 128:], expected[rows:])
    assert not difference(a, a).any()


def test_wipe_splits_two_inputs_at_the_line():
    a, b = images(2)
    out = wipe_image(a, b, 0.25)
    assert np.array_equal(out[:, :16], a[:, :16]) and np.array_equal(out[:, 17:], b[:, 17:])
    assert (out[:, 16] == 255).all()
    framed = compose([a, b], ["a", "b"], layout="wipe", wipe=0.5)
    assert framed.shape == a.shape
    with pytest.raises(ValueError, match="exactly two"):
        compose(images(3), ["a", "b", "c"], layout="wipe")


def clip(fps, count):
    return [SimpleNamespace(image=np.full((2, 2, 3), i, np.uint8), time=Fraction(i) / fps)
            for i in range(count)]


def test_lower_rate_input_is_held_at_the_highest_rate():
    slow, fast = clip(24, 24), clip(60, 60)
    out = list(held([Held(slow, 0), Held(fast, 0)], Fraction(60)))
    assert len(out) == 60
    for i, (s, f) in enumerate(out):
        assert s[0, 0, 0] == (i * 24) // 60  # the latest 24 fps frame at or before i/60 s
        assert f[0, 0, 0] == i


def test_stretch_has_the_exact_frame_count():
    out = list(held([Held(clip(24, 24), 0), Held(clip(60, 60), 0)], Fraction(60), Fraction(1, 2)))
    assert len(out) == 30
    late = Held(clip(24, 24)[6:], Fraction(1, 4))  # a stretch from 0.25 s: frames 6.. of 24 fps
    assert [late.at(Fraction(i, 60))[0, 0, 0] for i in range(6)] == [6, 6, 6, 7, 7, 8]


# -- command line ----------------------------------------------------------------------------


def test_cli_24_next_to_60_is_60_fps_with_held_frames(tmp_path):
    a = write_clip(tmp_path / "orig.mp4", 24, fps=24, size=SIZE)
    b = write_clip(tmp_path / "smooth.mp4", 60, fps=60, size=SIZE, velocity=(0.6, 0.3))
    out = tmp_path / "cmp.mp4"
    result = run_cli("compare", a, b, "-o", out, *LOSSLESS)
    assert result.returncode == 0, result.stderr
    frames, times, stream = frames_and_times(out)
    assert to_fraction(stream.average_rate) == 60 and len(frames) == 60
    assert times == [Fraction(i, 60) for i in range(60)]
    rows = strip_height(48)
    for i in (0, 1, 2, 3, 31, 59):
        assert np.array_equal(frames[i][rows:, :64], pattern_frame(i * 24 // 60, SIZE)[rows:])
        right = pattern_frame(i, SIZE, (0.6, 0.3))
        assert np.array_equal(frames[i][rows:, 64:], right[rows:])


def test_cli_stretch_slow_diff_and_browser_output(tmp_path):
    a = write_clip(tmp_path / "a.mp4", 24, fps=24, size=SIZE)
    b = write_clip(tmp_path / "b.mp4", 24, fps=24, size=(50, 38))
    out = tmp_path / "cmp.mp4"
    result = run_cli("compare", a, b, "-o", out, "--start", "0.25", "--duration", "0.5",
                     "--slow", "2", "--diff", "--labels", "one,two")
    assert result.returncode == 0, result.stderr
    frames, times, stream = frames_and_times(out)
    assert len(frames) == 12 and to_fraction(stream.average_rate) == 12  # 24 fps / 2
    assert times[-1] == Fraction(11, 12)  # 0.5 s of input lasting 1 s
    assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
    assert stream.width % 2 == 0 and stream.height == 48  # 64 + 63 + 64 = 191 -> padded to 192
    assert stream.width == 192


def test_cli_frame_folder_input_and_grid(tmp_path):
    folder = write_png_folder(tmp_path / "frames", 6, size=SIZE)
    a = write_clip(tmp_path / "a.mp4", 6, fps=24, size=SIZE)
    out = tmp_path / "grid.mp4"
    result = run_cli("compare", folder, a, a, "--input-fps", "12", "--layout", "grid", "-o", out)
    assert result.returncode == 0, result.stderr
    frames, times, stream = frames_and_times(out)
    assert (stream.width, stream.height) == (128, 96)
    assert len(frames) == 12  # the 12 fps folder lasts 0.5 s: 12 frames at 24 fps


@pytest.mark.parametrize("args, expect", [
    (["--labels", "x"], "one label per input"),
    (["--layout", "wipe", "EXTRA"], "exactly two inputs"),
    (["--start", "9"], "beyond the end"),
    (["--slow", "0"], "--slow"),
    (["--diff-gain", "-1"], "--diff-gain"),
])
def test_cli_bad_options_one_line(tmp_path, capsys, args, expect):
    a = write_clip(tmp_path / "a.mp4", 6, fps=24, size=SIZE)
    extra = [str(a)] if "EXTRA" in args else []  # a third input
    args = [x for x in args if x != "EXTRA"]
    code = main(["compare", str(a), str(a), *extra, "-o", str(tmp_path / "o.mp4"), *args])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert code == 1 and len(lines) == 1, lines
    assert expect in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]  # no output, no temp file
