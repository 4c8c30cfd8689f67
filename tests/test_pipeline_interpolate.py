"""The interpolation pipeline on frames in memory: exact copies, accurate in-betweens,
scene cuts held, animation holds re-timed, and the diffusion path wired to the model."""

from fractions import Fraction

import numpy as np
import pytest
from media import pattern_frame

import vidiff
from vidiff.errors import OptionError
from vidiff.metrics import psnr

SIZE = (96, 64)
VEL = (1.5, 0.75)


def frames(n, velocity=VEL, start=0.0):
    return [pattern_frame(start + i, SIZE, velocity) for i in range(n)]


def test_multi_2_copies_inputs_and_makes_true_middles():
    src = frames(6)
    out = list(vidiff.interpolate_frames(src, multi=2, steps=0, device="cpu"))
    assert len(out) == 12
    for k in range(6):
        assert np.array_equal(out[2 * k], src[k])
    for k in range(5):
        truth = pattern_frame(k + 0.5, SIZE, VEL)
        assert psnr(out[2 * k + 1], truth) > 32
    assert np.array_equal(out[11], src[5])  # after the last frame: held


def test_24_to_60_in_betweens_match_their_fractional_times():
    src = frames(4)
    out = list(vidiff.interpolate_frames(src, input_fps=24, fps=60, steps=0, device="cpu"))
    assert len(out) == 10
    for i in range(8):  # the last two lie after the last input frame (held)
        t = Fraction(i, 60) * 24
        truth = pattern_frame(float(t), SIZE, VEL)
        blend = pattern_frame(int(t), SIZE, VEL)
        assert psnr(out[i], truth) > 32
        if t.denominator != 1:
            assert psnr(out[i], truth) > psnr(blend, truth) + 3


def test_scene_cut_is_held_not_blended():
    a = frames(3)
    b = [np.ascontiguousarray(f // 4 + 180) for f in frames(3, velocity=(-1.0, 0.5), start=9)]
    src = a + b
    out = list(vidiff.interpolate_frames(src, multi=4, steps=0, device="cpu"))
    # outputs 8..11 lie between the last frame of shot A (index 2) and the first of shot B
    assert np.array_equal(out[9], a[2]) and np.array_equal(out[10], b[0])
    assert np.array_equal(out[11], b[0])


def test_animation_on_twos_moves_evenly():
    drawings = frames(4, velocity=(3.0, 1.5))
    src = [d for d in drawings for _ in range(2)]  # each drawing held for two frames
    out = list(vidiff.interpolate_frames(src, multi=1, steps=0, device="cpu"))
    # frame 1 (a repeat of drawing 0) becomes the half-way frame between drawings 0 and 1
    truth = pattern_frame(0.5, SIZE, (3.0, 1.5))
    assert psnr(out[1], truth) > 30
    assert not np.array_equal(out[1], out[0])
    assert np.array_equal(out[2], drawings[1])
    held = list(vidiff.interpolate_frames(src, multi=1, steps=0, device="cpu"))
    assert len(held) == len(src)


def test_interpolate_pair_times_and_validation():
    a, b = pattern_frame(0, SIZE, VEL), pattern_frame(1, SIZE, VEL)
    mids = vidiff.interpolate_pair(a, b, times=(0.25, 0.75), steps=0, device="cpu")
    assert [m.shape for m in mids] == [a.shape, a.shape]
    assert psnr(mids[0], pattern_frame(0.25, SIZE, VEL)) > 32
    with pytest.raises(OptionError, match="between 0 and 1"):
        vidiff.interpolate_pair(a, b, times=(1.5,), steps=0)
    with pytest.raises(OptionError, match="differ in size"):
        vidiff.interpolate_pair(a, b[:-2], steps=0)
    with pytest.raises(OptionError, match="uint8"):
        vidiff.interpolate_pair(a.astype(np.float32), b, steps=0)


def test_steps_without_weights_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDIFF_WEIGHTS", str(tmp_path / "missing.safetensors"))
    a, b = pattern_frame(0, SIZE, VEL), pattern_frame(1, SIZE, VEL)
    with pytest.warns(UserWarning, match="motion estimate"):
        with pytest.raises(OptionError, match="--steps 4 needs a diffusion model"):
            vidiff.interpolate_pair(a, b, steps=4, device="cpu")

def test_zero_initialised_model_returns_the_motion_estimate(tmp_path):
    """The diffusion path sees the window and returns mu exactly when the model is untrained."""
    model = pytest.importorskip("vidiff.model")
    from vidiff.pipelines.interpolate import Interpolator

    denoiser = model.Denoiser(model.ModelConfig.tiny())
    src = frames(4)
    refined = Interpolator(denoiser=denoiser, steps=2, device="cpu")
    plain = Interpolator(steps=0, device="cpu")

    class F:
        def __init__(self, image, time):
            self.image, self.time = image, time

    seq = [F(f, Fraction(i, 24)) for i, f in enumerate(src)]
    a = list(refined.run(seq, Fraction(48)))
    b = list(plain.run(seq, Fraction(48)))
    assert len(a) == len(b) == 8
    for x, y in zip(a, b):
        assert np.abs(x.astype(int) - y.astype(int)).max() <= 1


def test_worker_threads_do_not_change_the_output():
    """Segments made on several threads come out in order and bit-identical to one thread."""
    from vidiff.pipelines.interpolate import Interpolator

    class F:
        def __init__(self, image, time):
            self.image, self.time = image, time

    seq = [F(f, Fraction(i, 24)) for i, f in enumerate(frames(8))]
    one = list(Interpolator(workers=1).run(seq, Fraction(60)))
    three = list(Interpolator(workers=3).run(seq, Fraction(60)))
    assert len(one) == len(three) == 20
    assert all(np.array_equal(x, y) for x, y in zip(one, three))


def test_a_long_gap_holds_one_float_estimate_at_a_time():
    """Many in-between frames of one gap are converted as they are made, not held in float."""
    import gc
    import weakref

    import torch

    from vidiff.motion import FlowMotion
    from vidiff.pipelines.interpolate import Interpolator

    alive = []

    class Watched(FlowMotion):
        def estimate(self, *args):  # the pipeline must not ask for all of them at once
            raise AssertionError("estimate() holds every time in float")

        def estimates(self, frame0, frame1, times):
            for frame in super().estimates(frame0, frame1, times):
                gc.collect()
                alive.append(sum(ref() is not None for ref in refs))
                out = frame.clone()
                refs.append(weakref.ref(out))
                yield out

    refs: list = []
    a, b = frames(2)
    times = [i / 15 for i in range(1, 15)]
    out = Interpolator(motion=Watched()).between(a, b, times)
    assert len(out) == 14 and all(o.dtype == np.uint8 for o in out)
    # at most the last float estimate (the consumer's loop variable) is alive when the next is
    # made: 14 at once would be ~150 MiB at 720p
    assert len(alive) == 14 and max(alive) <= 1
    assert isinstance(out[0], np.ndarray) and not isinstance(out[0], torch.Tensor)
