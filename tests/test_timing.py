"""Output frame timing: counts, exact times and the in-between positions, for any rate ratio."""

from fractions import Fraction

import pytest

from vidiff.errors import OptionError
from vidiff.timebase import parse_rate
from vidiff.timing import collapse_duplicates, plan_segments, resolve_output_rate


def plan(times, fps, end=None):
    segs = list(plan_segments(times, lambda t: t, Fraction(fps), lambda: end))
    out = []
    for s in segs:
        for i, p in zip(s.indices, s.positions):
            out.append((i, s.a, s.b, p))
    return out


def check_times(rows, times, fps):
    """Every output frame i lies at first + i/fps, between its keys at the stated position."""
    origin = times[0]
    assert [r[0] for r in rows] == list(range(len(rows)))
    for i, a, b, p in rows:
        t = origin + Fraction(i) / fps
        if b is None:
            assert p == 0 and t >= a
        else:
            assert a <= t < b
            assert p == (t - a) / (b - a)


@pytest.mark.parametrize(
    "in_fps, out_fps, n_in, n_out",
    [
        (Fraction(24), Fraction(60), 48, 120),
        (Fraction(25), Fraction(60), 50, 120),
        (Fraction(30000, 1001), Fraction(60), 30, 61),  # 30 * 1001/30000 s * 60 = 60.06 -> 61
        (Fraction(21, 2), Fraction(30), 21, 60),  # 10.5 -> 30
        (Fraction(24000, 1001), Fraction(60000, 1001), 24, 60),
    ],
)
def test_constant_rate_counts_and_times(in_fps, out_fps, n_in, n_out):
    times = [Fraction(i) / in_fps for i in range(n_in)]
    rows = plan(times, out_fps, end=Fraction(n_in) / in_fps)
    assert len(rows) == n_out
    check_times(rows, times, out_fps)


def test_24_to_60_positions_repeat_every_two_inputs():
    times = [Fraction(i, 24) for i in range(4)]
    rows = plan(times, 60, end=Fraction(4, 24))
    # 5 output frames per 2 inputs: 0, 0.4, 0.8 | 0.2, 0.6 | 0 ...
    assert [r[3] for r in rows[:5]] == [0, Fraction(2, 5), Fraction(4, 5), Fraction(1, 5), Fraction(3, 5)]
    assert rows[5][1] == Fraction(2, 24) and rows[5][3] == 0


def test_coinciding_times_copy_inputs():
    times = [Fraction(i, 30) for i in range(10)]
    rows = plan(times, 60, end=Fraction(10, 30))
    assert len(rows) == 20
    for i, a, _b, p in rows[:-1]:
        assert (p == 0) == (i % 2 == 0)
        if p == 0:
            assert a == Fraction(i, 60)
    assert rows[-1][2] is None  # 19/60 s is after the last input (18/60 s): it holds it


def test_vfr_uses_timestamps_not_counts():
    times = [Fraction(0), Fraction(1, 10), Fraction(3, 10), Fraction(35, 100), Fraction(7, 10)]
    rows = plan(times, 20, end=Fraction(8, 10))
    assert len(rows) == 16
    check_times(rows, times, Fraction(20))
    # output 5 at 0.25 s lies halfway between the frames at 0.1 and 0.3... at 3/4
    i, a, b, p = rows[5]
    assert (a, b, p) == (Fraction(1, 10), Fraction(3, 10), Fraction(3, 4))


def test_start_offset_is_origin():
    times = [Fraction(1, 2) + Fraction(i, 24) for i in range(24)]
    rows = plan(times, 48, end=Fraction(3, 2))
    assert len(rows) == 48
    check_times(rows, times, Fraction(48))


def test_end_defaults_to_one_mean_interval():
    times = [Fraction(i, 10) for i in range(5)]
    assert len(plan(times, 20)) == 10


def test_single_frame_plans_its_hold():
    rows = plan([Fraction(0)], 60, end=Fraction(1, 24))
    assert len(rows) == 3 and all(r[2] is None for r in rows)


def test_decreasing_keys_rejected():
    with pytest.raises(ValueError):
        plan([Fraction(0), Fraction(0)], 60)


def test_resolve_output_rate():
    assert resolve_output_rate(None, 2, Fraction(30000, 1001)) == Fraction(60000, 1001)
    assert resolve_output_rate(Fraction(60), None, None) == 60
    for fps, multi in [(None, None), (Fraction(60), 2), (None, 0), (None, -2)]:
        with pytest.raises(OptionError):
            resolve_output_rate(fps, multi, Fraction(24))
    with pytest.raises(OptionError, match="unknown"):
        resolve_output_rate(None, 2, None)


@pytest.mark.parametrize(
    "text, rate",
    [("60", Fraction(60)), ("59.94", Fraction(60000, 1001)), ("60000/1001", Fraction(60000, 1001)),
     ("10.5", Fraction(21, 2)), ("23.976", Fraction(24000, 1001)), (25, Fraction(25))],
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["0", "-24", "abc", "", "1/0", "nan", "inf", "60/-1"])
def test_parse_rate_rejects(text):
    with pytest.raises(OptionError, match="--fps"):
        parse_rate(text)


def dedup(seq, max_run):
    return list(collapse_duplicates(seq, lambda a, b: a[0] == b[0], max_run))


def test_animation_on_twos_collapses_to_first_of_each_run():
    seq = [("A", 0), ("A", 1), ("B", 2), ("B", 3), ("C", 4), ("C", 5)]
    assert dedup(seq, 3) == [("A", 0), ("B", 2), ("C", 4)]


def test_long_hold_keeps_first_and_last():
    seq = [("A", 0)] + [("B", i) for i in range(1, 7)] + [("C", 7)]
    assert dedup(seq, 3) == [("A", 0), ("B", 1), ("B", 6), ("C", 7)]


def test_dedup_off_keeps_all():
    seq = [("A", 0), ("A", 1), ("B", 2)]
    assert dedup(seq, 1) == seq
