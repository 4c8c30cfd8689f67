"""The backtest on a third seed (vidiff.motion.history): which factor it picks, and who gets it."""

import numpy as np
import pytest
import torch

from vidiff.model import build_cond
from vidiff.motion import FlowMotion, FlowMotionConfig, history
from vidiff.motion.history import FACTORS, TABLE, backtest_choice, grid_shape, history_gain
from vidiff.motion.warp import backward_warp


def texture(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.random((3, h // 8, w // 8)).astype(np.float32)
    x = torch.from_numpy(small)[None]
    return torch.nn.functional.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def shifted(image, dx):
    """``image`` moved ``dx`` pixels to the right (border samples repeated)."""
    flow = torch.zeros(1, 2, *image.shape[-2:])
    flow[:, 0] = -dx
    return backward_warp(image, flow, mode="bicubic")


def test_the_backtest_picks_the_flow_where_motion_goes_on_and_none_where_it_stopped():
    base = texture()
    frame0 = shifted(base, 3.0)  # the frame before is base itself, 3 px to the left
    flow_0b = torch.zeros(1, 2, 96, 128)
    flow_0b[:, 0] = -3.0  # frame0's pixels came from 3 px to their left in the frame before
    going_on = backtest_choice(frame0, shifted(base, 6.0), flow_0b)
    stopped = backtest_choice(frame0, frame0.clone(), flow_0b)
    assert going_on.shape == (1, 1, *grid_shape(96, 128))
    # away from the left edge (where the shift brings in border samples)
    assert (going_on[..., 1:] == FACTORS.index(1.0)).all()
    assert (stopped == FACTORS.index(0.0)).all()


def test_the_gain_follows_the_table_row_for_each_time_and_covers_the_frame():
    choice = torch.full((2, 1, *grid_shape(50, 70)), FACTORS.index(0.5), dtype=torch.long)
    for t, row in ((2.0, 0), (3.0, 1), (5.0, 3), (9.0, 3), (1.5, 0)):
        gain = history_gain(choice, t, 50, 70)
        assert gain.shape == (2, 1, 50, 70)
        assert torch.allclose(gain, torch.full_like(gain, TABLE[row][FACTORS.index(0.5)]))


def test_the_table_has_a_factor_for_every_time_and_backtest_result():
    assert len(TABLE) == 4 and all(len(row) == len(FACTORS) for row in TABLE)
    assert all(0.0 <= g <= max(FACTORS) for row in TABLE for g in row)


def test_the_gain_is_smooth_between_blocks():
    choice = torch.zeros(1, 1, 2, 2, dtype=torch.long)
    choice[..., 1] = FACTORS.index(1.0)
    table = ((0.0, 0, 0, 0, 1.0, 0),) * 4
    orig = history.TABLE
    try:
        history.TABLE = table
        n = 2 * history.BLOCK  # two blocks across
        gain = history_gain(choice, 2.0, n, n)[0, 0, n // 2]
    finally:
        history.TABLE = orig
    assert gain[0] == 0 and gain[-1] == 1
    steps = gain.diff()
    assert (steps >= 0).all() and steps.max() < 0.05  # a ramp, no edge at the block boundary


@pytest.fixture
def hold_table(monkeypatch):
    """A table that holds frame1 whatever the backtest says."""
    monkeypatch.setattr(history, "TABLE", ((0.0,) * len(FACTORS),) * 4)


def test_flow_motion_uses_the_frame_before_only_past_frame1_and_when_asked(hold_table):
    base = texture()
    before, frame0, frame1 = (shifted(base, d) for d in (0.0, 3.0, 6.0))
    motion = FlowMotion(FlowMotionConfig(second_flow="none"))
    plain = motion.estimate(frame0, frame1, [0.5, 2.0, 3.0])
    damped = motion.estimate(frame0, frame1, [0.5, 2.0, 3.0], before=before)
    assert torch.equal(damped[:, :, 0], plain[:, :, 0])  # in-between: untouched
    for i in (1, 2):  # past frame1: a zero gain holds frame1
        assert torch.allclose(damped[:, :, i], frame1, atol=1e-5)
        assert not torch.allclose(plain[:, :, i], frame1, atol=1e-2)
    off = FlowMotion(FlowMotionConfig(second_flow="none", backtest=False))
    assert torch.equal(off.estimate(frame0, frame1, [2.0], before=before), plain[:, :, 1:2])


class Recorder:
    """A motion estimator that records what it was given and returns frame1."""

    takes_before = True

    def __init__(self):
        self.calls = []

    def estimate(self, frame0, frame1, times, before=None):
        self.calls.append((list(times), before))
        return frame1[:, :, None].expand(-1, -1, len(times), -1, -1).clone()


def window(times, known):
    frames = torch.rand(1, 3, len(times), 8, 8)
    return frames, torch.tensor([known]), torch.tensor([times], dtype=torch.float32)


def test_build_cond_gives_the_frame_before_the_pair_only_when_one_lies_an_interval_before():
    cases = [
        ([-2.0, -1.0, 0.0, 1.0, 2.0], [True, True, True, False, False], 0),  # three seeds: frame 0
        ([-1.0, 0.0, 1.0, 2.0], [True, True, False, False], None),  # two seeds: nothing before
        ([-3.0, -1.0, 0.0, 1.0], [True, True, True, False], None),  # not one interval before
        ([-1.0, 0.0, 0.5, 1.0], [True, True, False, True], None),  # in-between: never
    ]
    for times, known, expect in cases:
        frames, mask, t = window(times, known)
        motion = Recorder()
        build_cond(frames, mask, t, motion)
        (_, before), = motion.calls
        if expect is None:
            assert before is None, times
        else:
            assert torch.equal(before, frames[:, :, expect]), times


def test_build_cond_does_not_give_it_to_an_estimator_that_does_not_take_it():
    class Plain:
        def estimate(self, frame0, frame1, times):
            return frame1[:, :, None].expand(-1, -1, len(times), -1, -1).clone()

    frames, mask, t = window([-2.0, -1.0, 0.0, 1.0], [True, True, True, False])
    cond = build_cond(frames, mask, t, Plain())
    assert torch.equal(cond.mu[:, :, 3], frames[:, :, 2])


def test_generate_with_three_seeds_backtests_and_with_two_does_not(hold_table):
    from vidiff.pipelines.generate import ClipGenerator, WindowConfig

    base = texture()
    seeds = [(shifted(base, d)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
             for d in (0.0, 3.0, 6.0)]
    gen = ClipGenerator(window=WindowConfig(known=3, unknown=2))
    held = list(gen.stream(seeds, 2))
    assert all(np.abs(f.astype(int) - seeds[-1]).max() <= 1 for f in held)
    moved = list(gen.stream(seeds[1:], 2))
    assert np.abs(moved[0].astype(int) - seeds[-1]).mean() > 5
