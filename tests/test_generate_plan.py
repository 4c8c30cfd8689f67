"""Window plans for ``vidiff generate``: every new frame made once, from frames made before it."""

from __future__ import annotations

import pytest

from vidiff.errors import OptionError
from vidiff.pipelines.generate_plan import WindowConfig, plan_windows, window_times

CONFIGS = [
    WindowConfig(),
    WindowConfig(known=3, unknown=2),
    WindowConfig(known=1, unknown=1),
    WindowConfig(hierarchical=True),
    WindowConfig(known=3, unknown=2, hierarchical=True),
    WindowConfig(known=2, unknown=2, hierarchical=True, stride=5),
    WindowConfig(known=1, unknown=3, hierarchical=True, stride=2),
]


@pytest.mark.parametrize("config", CONFIGS, ids=repr)
@pytest.mark.parametrize("seeds,frames", [(1, 1), (2, 4), (2, 13), (3, 7), (1, 20)])
def test_every_frame_made_once_from_frames_already_made(config, seeds, frames):
    plans = plan_windows(seeds, frames, config)
    made = set(range(seeds))
    for plan in plans:
        assert set(plan.known) <= made, "a window may only see frames already made"
        assert not set(plan.unknown) & made, "a frame is made once"
        assert 1 <= len(plan.unknown) <= config.unknown
        assert len(plan.known) <= max(config.known, 2)
        assert list(plan.known) == sorted(plan.known)
        assert list(plan.unknown) == sorted(plan.unknown)
        assert min(plan.known) < plan.unknown[0], "a known frame precedes every window"
        made |= set(plan.unknown)
    assert made == set(range(seeds + frames))


def test_autoregressive_windows_continue_from_the_latest_frames():
    plans = plan_windows(2, 10, WindowConfig(known=2, unknown=4))
    assert [(p.known, p.unknown) for p in plans] == [
        ((0, 1), (2, 3, 4, 5)),
        ((4, 5), (6, 7, 8, 9)),
        ((8, 9), (10, 11)),
    ]
    assert window_times(plans[0]) == ([-1.0, 0.0], [1.0, 2.0, 3.0, 4.0])


def test_hierarchical_makes_keyframes_first_then_fills_between_them():
    plans = plan_windows(2, 9, WindowConfig(known=2, unknown=2, hierarchical=True))
    # keyframes every 3 frames after the last seed (4, 7) and the last frame (10)
    assert [p.unknown for p in plans[:2]] == [(4, 7), (10,)]
    assert [(p.known, p.unknown) for p in plans[2:]] == [
        ((1, 4), (2, 3)),
        ((4, 7), (5, 6)),
        ((7, 10), (8, 9)),
    ]
    # keyframe prediction continues at 1, 2 in units of the stride; infill spans 0..1
    assert window_times(plans[0]) == ([-1 / 3, 0.0], [1.0, 2.0])
    assert window_times(plans[2]) == ([0.0, 1.0], [1 / 3, 2 / 3])


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(known=0), "--window-known"),
        (dict(unknown=0), "--window-unknown"),
        (dict(unknown=2.5), "--window-unknown"),
        (dict(stride=1), "--stride"),
        (dict(known=True), "--window-known"),
    ],
)
def test_bad_window_options_are_named(kwargs, name):
    with pytest.raises(OptionError, match=name):
        WindowConfig(**kwargs)


def test_bad_frame_count():
    with pytest.raises(OptionError, match="--frames"):
        plan_windows(2, 0)
