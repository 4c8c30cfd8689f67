"""tools/bench_generate.py's report: means over frames and over clips, clips won."""

import sys
from argparse import Namespace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from bench_generate import ClipResult, Scores, report  # noqa: E402  (tools/ is not a package)


def clip(name, frames, repeat, model):
    """A clip whose every frame scores ``repeat`` and ``model`` (PSNR, SSIM); mu as repeat - 1."""
    r = ClipResult(name, "8x8", windows=1)
    for _ in range(frames):
        for scores, (p, s) in ((r.repeat, repeat), (r.mu, (repeat[0] - 1, repeat[1])),
                               (r.model, model)):
            scores.psnr.append(p)
            scores.ssim.append(s)
    return r


def test_the_clip_mean_weighs_each_clip_alike_and_the_frame_mean_each_frame():
    results = [clip("a", 2, (30.0, 0.9), (32.0, 0.8)), clip("b", 6, (20.0, 0.5), (19.0, 0.7))]
    args = Namespace(device="cpu", seeds=3, predict=2, windows=1, history=0)
    text = report(results, args, "test", 1.0)
    lines = text.splitlines()
    frames = next(line for line in lines if line.startswith("| **mean over frames**"))
    clips = next(line for line in lines if line.startswith("| **mean over clips**"))
    assert "22.50 / 0.6000" in frames  # repeat: (2 x 30 + 6 x 20) / 8, (2 x 0.9 + 6 x 0.5) / 8
    assert "25.00 / 0.700000" in clips  # repeat: (30 + 20) / 2, (0.9 + 0.5) / 2
    assert "25.50 / 0.750000" in clips  # vidiff: (32 + 19) / 2, (0.8 + 0.7) / 2
    assert "vidiff beats repeat on 1 of 2 clips" in text
    assert Scores().cell() == "n/a"
