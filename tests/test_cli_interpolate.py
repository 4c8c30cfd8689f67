"""``vidiff interpolate`` end to end: exact output rate, count and timestamps, audio kept,
folders in and out, default names, and every bad input -> one line, exit 1, nothing left."""

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from media import (
    pattern_frame,
    read_frames_pyav,
    truncate_file,
    write_audio_only,
    write_clip,
    write_png_folder,
    write_random_bytes,
)

from vidiff.cli import main
from vidiff.metrics import psnr

SIZE = (64, 48)


def run_cli(*args, cwd=None):
    """The CLI in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "vidiff", *map(str, args)], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "VIDIFF_WEIGHTS": "none", "PYTHONWARNINGS": "ignore"},
    )


def video_stream_facts(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = [p.pts for p in c.demux(s) if p.pts is not None]
        return s.average_rate, s.time_base, sorted(pts), len(c.streams.audio)


def listing(folder: Path):
    return sorted(p.name for p in folder.iterdir())


def test_24_to_60_mp4_exact_rate_count_and_timestamps(tmp_path):
    src = write_clip(tmp_path / "in.mp4", 12, fps=24, size=SIZE, audio=True)
    out = tmp_path / "out.mp4"
    assert main([
        "interpolate", str(src), "-o", str(out), "--fps", "60", "--steps", "0", "-q",
        "--crf", "0", "--pix-fmt", "yuv444p",
    ]) == 0
    rate, tb, pts, n_audio = video_stream_facts(out)
    assert rate == 60
    assert len(pts) == 30  # 12 frames / 24 fps = 0.5 s -> 30 frames at 60 fps
    assert [Fraction(p) * Fraction(tb) for p in pts] == [Fraction(i, 60) for i in range(30)]
    assert n_audio == 1
    frames = read_frames_pyav(out)
    # output 5 shows time 5/60 s = input frame 2 exactly; output 1 is at input time 0.4
    assert psnr(frames[5], pattern_frame(2, SIZE)) > 40
    assert psnr(frames[1], pattern_frame(0.4, SIZE)) > 30


def test_ntsc_input_to_60(tmp_path):
    src = write_clip(tmp_path / "in.mp4", 15, fps=Fraction(30000, 1001), size=SIZE)
    out = tmp_path / "out.mp4"
    assert main(["interpolate", str(src), "-o", str(out), "--fps", "60", "--steps", "0", "-q"]) == 0
    _, _, pts, _ = video_stream_facts(out)
    assert len(pts) == 31  # 15 * 1001/30000 s = 0.5005 s -> ceil(30.03) frames


def test_vfr_input_uses_timestamps(tmp_path):
    times = [Fraction(0), Fraction(1, 10), Fraction(2, 10), Fraction(5, 10), Fraction(6, 10)]
    src = write_clip(tmp_path / "vfr.mkv", 5, fps=10, times=times, size=SIZE, codec="ffv1")
    out = tmp_path / "frames"
    assert main(["interpolate", str(src), "-o", str(out), "--fps", "20", "--steps", "0", "-q"]) == 0
    names = listing(out)
    assert len(names) == 14  # the last frame shows until 0.7 s
    import cv2

    img = cv2.cvtColor(cv2.imread(str(out / names[7])), cv2.COLOR_BGR2RGB)  # 0.35 s
    # between the frames at 0.2 s (pattern time 2) and 0.5 s (pattern time 5): pattern time 3.5
    assert psnr(img, pattern_frame(3.5, SIZE)) > 28


def test_folder_in_folder_out_and_odd_size(tmp_path):
    size = (63, 47)
    folder = write_png_folder(tmp_path / "shots", [pattern_frame(i, size) for i in range(5)])
    assert main(["interpolate", str(folder), "--input-fps", "12", "--multi", "2", "--steps", "0", "-q"]) == 0
    out = tmp_path / "shots_24fps"
    names = listing(out)
    assert len(names) == 10
    import cv2

    first = cv2.cvtColor(cv2.imread(str(out / names[0])), cv2.COLOR_BGR2RGB)
    assert first.shape == (47, 63, 3)
    assert np.array_equal(first, pattern_frame(0, size))


def test_default_output_name_and_audio_packets_identical(tmp_path):
    src = write_clip(tmp_path / "talk.mp4", 12, fps=24, size=SIZE, audio=True)
    result = run_cli("interpolate", src, "--multi", "2", "--steps", "0")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "talk.48fps.mp4"
    assert out.exists() and "wrote" in result.stderr

    def audio_payloads(path):
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]

    assert audio_payloads(out) == audio_payloads(src)


def test_input_is_never_touched_and_existing_output_refused(tmp_path):
    src = write_clip(tmp_path / "in.mp4", 6, fps=24, size=SIZE)
    before = src.read_bytes()
    same = run_cli("interpolate", src, "-o", src, "--fps", "48", "--overwrite", "--steps", "0")
    assert same.returncode == 1 and "Traceback" not in same.stderr
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    again = run_cli("interpolate", src, "-o", out, "--fps", "48", "--steps", "0")
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert out.read_bytes() == b"keep me"
    assert src.read_bytes() == before
    assert run_cli("interpolate", src, "-o", out, "--fps", "48", "--steps", "0", "--overwrite").returncode == 0
    assert len(read_frames_pyav(out)) == 12


def bad_inputs(tmp_path):
    good = write_clip(tmp_path / "good.mp4", 8, fps=24, size=SIZE)
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "zero.mp4").write_bytes(b"")
    return {
        "missing": (["interpolate", tmp_path / "nope.mp4", "--fps", "60"], "not found"),
        "empty folder": (["interpolate", empty, "--fps", "60", "--input-fps", "24"], "no"),
        "zero bytes": (["interpolate", tmp_path / "zero.mp4", "--fps", "60"], "empty"),
        "random bytes": (["interpolate", write_random_bytes(tmp_path / "noise.mp4"), "--fps", "60"], ""),
        "truncated": (["interpolate", truncate_file(good, tmp_path / "cut.mp4", 0.4), "--fps", "60"], ""),
        "audio only": (["interpolate", write_audio_only(tmp_path / "a.m4a"), "--fps", "60"], "video"),
        "zero fps": (["interpolate", good, "--fps", "0"], "--fps must be positive"),
        "negative fps": (["interpolate", good, "--fps", "-24"], "--fps must be positive"),
        "text fps": (["interpolate", good, "--fps", "fast"], "--fps must be a number"),
        "folder without rate": (["interpolate", empty, "--fps", "60"], ""),
        "unwritable output": (["interpolate", good, "-o", tmp_path / "no" / "such" / "o.mp4", "--fps", "60"], ""),
        "bad multi": (["interpolate", good, "--multi", "0"], "--multi"),
    }


@pytest.mark.parametrize("case", [
    "missing", "empty folder", "zero bytes", "random bytes", "truncated", "audio only",
    "zero fps", "negative fps", "text fps", "folder without rate", "unwritable output", "bad multi",
])
def test_bad_input_one_line_exit_1_nothing_left(tmp_path, case):
    args, expect = bad_inputs(tmp_path)[case]
    before = set(tmp_path.rglob("*"))
    result = run_cli(*args, "--steps", "0")
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("vidiff: error:"), result.stderr
    assert "Traceback" not in result.stderr
    assert expect.lower() in lines[0].lower()
    assert set(tmp_path.rglob("*")) == before  # no output, no temp file


def test_one_frame_video_is_held_for_its_duration(tmp_path):
    """A still asked for at 60 fps: the frame, held for the input's duration (1/24 s -> 3 frames
    at 60 fps, the last starting at 2/60 s < 1/24 s)."""
    frame = pattern_frame(0, SIZE, (1.0, 0.5))
    src = write_clip(tmp_path / "one.mp4", [frame], fps=24, size=SIZE)
    result = run_cli("interpolate", src, "--fps", "60", "--steps", "0", "-o", tmp_path / "o.mp4")
    assert result.returncode == 0, result.stderr
    out = read_frames_pyav(tmp_path / "o.mp4")
    assert len(out) == 3 and all(psnr(f, frame) > 30 for f in out)  # x264 yuv420p of the still
    assert all(np.array_equal(f, out[0]) for f in out)


def test_usage_error_exit_2_one_line(tmp_path):
    result = run_cli("interpolate", "x.mp4")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--fps" in result.stderr


def test_interrupt_midway_leaves_nothing_and_stops_threads(tmp_path):
    """Ctrl-C while the decode and encode threads are busy: no output, no temp, no thread left."""
    import threading

    import vidiff

    src = write_clip(tmp_path / "in.mp4", 24, fps=24, size=SIZE)

    def interrupt(done, total):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vidiff.interpolate_video(src, tmp_path / "out.mp4", fps=60, steps=0, progress=interrupt)
    assert listing(tmp_path) == ["in.mp4"]
    names = {t.name for t in threading.enumerate()}
    assert not any(n.startswith(("vidiff-decode", "vidiff-encode")) for n in names), names


def test_prefetch_and_background_writer_pass_errors_on():
    from vidiff.jobs.overlap import BackgroundWriter, prefetch

    def broken():
        yield 1
        raise ValueError("decode failed")

    with pytest.raises(ValueError, match="decode failed"):
        list(prefetch(broken()))
    written = []

    def write(x):
        if x == 3:
            raise OSError("disk full")
        written.append(x)

    with pytest.raises(OSError, match="disk full"):
        with BackgroundWriter(write, depth=2) as put:
            for i in range(10):
                put(i)
    assert written == [0, 1, 2]
    assert list(prefetch(range(100), depth=3)) == list(range(100))
