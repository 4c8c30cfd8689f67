"""Converting a stretch (``--start`` / ``--duration``): exact times, output from time 0, audio cut
to the stretch and in sync, seeking far into a file, and bad times -> one line, exit 1."""

import math
import os
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest
from media import pattern_frame, require_codec, write_clip, write_png_folder

import vidiff
from vidiff.cli import main
from vidiff.errors import OptionError
from vidiff.io import open_reader
from vidiff.timebase import parse_time, to_fraction

SIZE = (64, 48)
LOSSLESS = dict(codec="libx264rgb", pix_fmt="rgb24", crf=0, steps=0, refine=False, device="cpu")


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "vidiff", *map(str, args)], capture_output=True, text=True,
        env={**os.environ, "VIDIFF_WEIGHTS": "none", "PYTHONWARNINGS": "ignore"},
    )


def video_times(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        tb = to_fraction(s.time_base)
        return sorted(f.pts * tb for f in c.decode(s))


def audio_packets(path):
    """(start, duration) in seconds of each audio packet."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        tb = to_fraction(s.time_base)
        return [(p.pts * tb, p.duration * tb) for p in c.demux(s) if p.size]


@pytest.mark.parametrize(
    "text, seconds",
    [("5", 5), ("2.5", Fraction(5, 2)), ("00:01:02.5", Fraction(125, 2)), ("1:30", 90),
     ("01:00:00", 3600), (Fraction(1, 3), Fraction(1, 3)), (7, 7)],
)
def test_parse_time(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["-1", "abc", "1:60", "1::2", "1:2:3:4", "", "1:-5"])
def test_parse_time_rejects(text):
    with pytest.raises(OptionError, match="--start"):
        parse_time(text, "--start")


def test_reader_stretch_exact_times_and_pixels(tmp_path):
    src = write_clip(tmp_path / "in.mp4", 48, fps=24, size=SIZE)
    with open_reader(src, start=Fraction(1, 2), end=Fraction(1)) as reader:
        frames = list(reader)
        assert reader.end_time == 1
    assert [f.time for f in frames] == [Fraction(i, 24) for i in range(12, 24)]
    assert [f.index for f in frames] == list(range(12))
    for f, i in zip(frames, range(12, 24)):
        assert np.array_equal(f.image, pattern_frame(i, SIZE))


def test_reader_seeks_far_in_and_matches_decoding_from_the_start(tmp_path):
    """A start past 2 s seeks (every FFV1 frame is a keyframe); frames are the same as without."""
    require_codec("ffv1")
    src = write_clip(tmp_path / "in.mkv", 96, fps=24, codec="ffv1", size=SIZE)
    with open_reader(src) as reader:
        every = [f for f in reader if 3 <= f.time < Fraction(7, 2)]
    with open_reader(src, start=Fraction(3), end=Fraction(7, 2)) as reader:
        frames = list(reader)
        assert reader._first_time > 2  # decoding began near the start, not at 0
    assert len(frames) == 12 and [f.time for f in frames] == [f.time for f in every]
    assert all(np.array_equal(f.image, pattern_frame(i, SIZE)) for f, i in zip(frames, range(72, 84)))


def test_folder_stretch_reads_only_its_frames(tmp_path):
    folder = write_png_folder(tmp_path / "frames", 10, size=SIZE)
    with open_reader(folder, input_fps=Fraction(10), start=Fraction(3, 10), end=Fraction(6, 10)) as r:
        frames = list(r)
        assert r.end_time == Fraction(6, 10)
    assert [f.time for f in frames] == [Fraction(i, 10) for i in (3, 4, 5)]
    assert np.array_equal(frames[0].image, pattern_frame(3, SIZE))


def test_interpolate_stretch_exact_frames_from_time_zero(tmp_path):
    src = write_clip(tmp_path / "in.mp4", 72, fps=24, size=SIZE)
    out = tmp_path / "out.mp4"
    result = vidiff.interpolate_video(src, out, fps=48, start="2.5", duration=0.5, **LOSSLESS)
    assert result.stats.output_frames == 24
    assert video_times(out) == [Fraction(i, 48) for i in range(24)]
    with av.open(str(out)) as c:
        images = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    for k in range(0, 24, 2):  # output times on input frames are those frames, unchanged
        assert np.array_equal(images[k], pattern_frame(60 + k // 2, SIZE))


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_stretch_audio_is_cut_and_starts_at_zero(tmp_path, suffix):
    src = write_clip(tmp_path / f"in{suffix}", 96, fps=24, size=SIZE, audio=True)
    out = tmp_path / f"out{suffix}"
    vidiff.interpolate_video(src, out, fps=48, start="00:00:02.5", duration="1", **LOSSLESS)
    packets = audio_packets(out)
    first = packets[0][0]
    longest = max(d for _, d in packets)
    assert -longest <= first <= longest  # the packet at the cut (mp4 keeps it, edit list)
    end = packets[-1][0] + packets[-1][1]
    assert abs(end - 1) <= longest and abs(end - first - 1) <= 2 * longest
    assert abs(video_times(out)[-1] - Fraction(47, 48)) <= Fraction(1, 1000)  # mkv: ms clock


def test_stretch_audio_in_sync_to_the_sample(tmp_path):
    """PCM audio in mov (exact clocks) cut at 61/24 s: every output sample at output time t is the
    source tone at t + 61/24 s, so sound and picture stay in sync (440 Hz * 61/24 s is not a
    whole number of cycles, so a shift by anything but the stretch's start would show)."""
    require_codec("pcm_s16le")
    src = write_clip(tmp_path / "in.mov", 96, fps=24, size=SIZE, audio="pcm_s16le")
    out = tmp_path / "out.mov"
    vidiff.interpolate_video(src, out, fps=48, start=Fraction(61, 24), duration=1, **LOSSLESS)
    times, samples = [], []
    with av.open(str(out)) as c:
        for frame in c.decode(c.streams.audio[0]):
            start = float(frame.pts * to_fraction(frame.time_base))
            times.append(start + np.arange(frame.samples) / frame.sample_rate)
            samples.append(frame.to_ndarray().reshape(-1) / 32767)
    t, data = np.concatenate(times), np.concatenate(samples)
    assert abs(t[0]) < 0.03 and abs(t[-1] - 1) < 0.03  # the stretch's second of audio
    keep = t >= 0
    expected = 0.3 * np.sin(2 * math.pi * 440 * (t[keep] + 61 / 24))
    assert np.abs(data[keep] - expected).max() < 0.03  # one sample of rounding at most


def test_cli_stretch_and_start_beyond_end(tmp_path, capsys):
    src = write_clip(tmp_path / "in.mp4", 24, fps=24, size=SIZE)
    ok = run_cli("interpolate", src, "--fps", "48", "--steps", "0", "--start", "00:00:00.5",
                 "--duration", "0.25", "-o", tmp_path / "o.mp4")
    assert ok.returncode == 0, ok.stderr
    assert len(video_times(tmp_path / "o.mp4")) == 12
    before = sorted(tmp_path.iterdir())
    for args, expect in [(("--start", "5"), "beyond the end"), (("--start", "x"), "--start"),
                         (("--duration", "0"), "--duration must be positive")]:
        capsys.readouterr()
        code = main(["interpolate", str(src), "--fps", "48", "--steps", "0", *args,
                     "-o", str(tmp_path / "bad.mp4")])
        lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert code == 1 and len(lines) == 1, lines
        assert expect in lines[0]
    assert sorted(tmp_path.iterdir()) == before
