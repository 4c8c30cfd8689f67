"""Every frame size a decoder produces works: tiny frames get a correct output, not a traceback."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from media import pattern_frame, read_frames_pyav, write_clip

from vidiff.cli import main
from vidiff.model import RefinedMotion, Refiner, RefinerConfig
from vidiff.motion import FlowMotion


@pytest.mark.parametrize("size", [(2, 2), (8, 8), (5, 40), (11, 13), (40, 6)])
def test_motion_estimate_on_tiny_frames(size):
    f0, f1 = torch.rand(1, 3, *size), torch.rand(1, 3, *size)
    for motion in (FlowMotion(), RefinedMotion(Refiner(RefinerConfig.tiny()))):
        out = motion.estimate(f0, f1, [0.25, 0.5, 1.5])
        assert out.shape == (1, 3, 3, *size) and torch.isfinite(out).all()
        assert out.min() >= 0 and out.max() <= 1


def test_static_tiny_frames_give_the_same_frame():
    f = torch.rand(1, 3, 8, 8)
    out = FlowMotion().estimate(f, f, [0.5])
    assert (out[:, :, 0] - f).abs().max() < 1e-3


def test_tiny_h264_clip_end_to_end(tmp_path):
    frames = [pattern_frame(i, (8, 8), (0.5, 0.25)) for i in range(6)]
    clip = write_clip(tmp_path / "tiny.mp4", frames, fps=Fraction(24), codec="libx264",
                      size=(8, 8))
    out = tmp_path / "tiny60.mp4"
    assert main(["interpolate", str(clip), "--fps", "60", "-o", str(out), "-q"]) == 0
    result = read_frames_pyav(out)
    assert len(result) == 15 and result[0].shape == (8, 8, 3)
    assert all(np.isfinite(f).all() for f in result)
