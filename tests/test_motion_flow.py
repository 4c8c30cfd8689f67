"""FlowMotion on synthetic motion with closed-form truth: interpolation, extrapolation, occlusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.media import pattern_frame
from vidiff.errors import OptionError
from vidiff.metrics import psnr
from vidiff.motion import FlowMotion, FlowMotionConfig, MotionEstimator

SIZE = (96, 72)  # (w, h)
VELOCITY = (3.0, 1.5)  # pixels per frame interval


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def to_image(frame: torch.Tensor) -> np.ndarray:
    return (frame.permute(1, 2, 0).clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()


def inner(image: np.ndarray, margin: int = 8) -> np.ndarray:
    """Crop the border, where content enters the frame and no input holds the truth."""
    return np.ascontiguousarray(image[margin:-margin, margin:-margin])


def translating(time: float) -> np.ndarray:
    return pattern_frame(time, SIZE, VELOCITY)


def test_flowmotion_is_a_motion_estimator():
    assert isinstance(FlowMotion(), MotionEstimator)


@pytest.mark.parametrize("t", [0.25, 0.5, 0.75])
def test_translation_interpolates_close_to_truth_and_beats_blend(t):
    a, b = translating(0), translating(1)
    out = FlowMotion().estimate(to_tensor(a), to_tensor(b), [t])
    got = to_image(out[0, :, 0])
    truth = translating(t)
    blend = np.rint((1 - t) * a.astype(np.float64) + t * b.astype(np.float64)).astype(np.uint8)
    motion_psnr = psnr(inner(got), inner(truth))
    assert motion_psnr > 45.0
    assert motion_psnr > psnr(inner(blend), inner(truth)) + 8.0


def test_in_between_frames_warp_bicubically_and_predictions_bilinearly():
    a, b = to_tensor(translating(0)), to_tensor(translating(1))
    default, bilinear = FlowMotion(), FlowMotion(FlowMotionConfig(warp="bilinear"))
    truth = translating(0.5)
    sharp, soft = (to_image(m.estimate(a, b, [0.5])[0, :, 0]) for m in (default, bilinear))
    assert psnr(inner(sharp), inner(truth)) > psnr(inner(soft), inner(truth)) + 1.0
    ahead = [2.0, -1.0]  # past the pair the flow is a guess: the softer sampling
    assert torch.equal(default.estimate(a, b, ahead), bilinear.estimate(a, b, ahead))


def test_endpoints_return_the_frames_exactly():
    a = to_tensor(translating(0))
    b = to_tensor(translating(1))
    out = FlowMotion().estimate(a, b, [0.0, 1.0, 0.5])
    assert torch.equal(out[:, :, 0], a)
    assert torch.equal(out[:, :, 1], b)


@pytest.mark.parametrize("t", [2.0, -1.0])
def test_extrapolation_of_linear_motion(t):
    a, b = translating(0), translating(1)
    out = FlowMotion().estimate(to_tensor(a), to_tensor(b), [t])
    got = to_image(out[0, :, 0])
    truth = translating(t)
    nearest = b if t > 1 else a
    assert psnr(inner(got, 12), inner(truth, 12)) > 45.0
    assert psnr(inner(got, 12), inner(truth, 12)) > psnr(inner(nearest, 12), inner(truth, 12)) + 8


def occlusion_scene(time: float) -> np.ndarray:
    """A textured square moving right over a static textured background (truth at any time)."""
    out = pattern_frame(0, SIZE, VELOCITY)
    square = pattern_frame(0, SIZE, VELOCITY)[::-1, ::-1][:32, :32] // 2 + 64  # other texture
    x0 = 20 + round(8 * time)  # whole pixels at t = 0, 0.5, 1
    out[20:52, x0 : x0 + 32] = square
    return out


def test_occlusion_beats_blend():
    a, b = occlusion_scene(0), occlusion_scene(1)
    out = FlowMotion().estimate(to_tensor(a), to_tensor(b), [0.5])
    got = to_image(out[0, :, 0])
    truth = occlusion_scene(0.5)
    blend = np.rint((a.astype(np.float64) + b) / 2).astype(np.uint8)
    assert psnr(got, truth) > psnr(blend, truth) + 3.0


def test_shapes_dtype_batch_and_odd_sizes():
    frames = [pattern_frame(i, (37, 29), (1.0, 0.5)) for i in range(2)]
    one = FlowMotion().estimate(to_tensor(frames[0]), to_tensor(frames[1]), [0.5, 1.5])
    assert one.shape == (1, 3, 2, 29, 37) and one.dtype == torch.float32
    a = torch.cat([to_tensor(frames[0]), to_tensor(frames[1])])
    b = torch.cat([to_tensor(frames[1]), to_tensor(frames[0])])
    both = FlowMotion().estimate(a, b, [0.5, 1.5])
    assert both.shape == (2, 3, 2, 29, 37)
    assert torch.allclose(both[:1], one, atol=1e-5)
    half = FlowMotion().estimate(a.double(), b.double(), [0.25])
    assert half.dtype == torch.float64 and half.device == a.device
    assert 0.0 <= float(half.min()) and float(half.max()) <= 1.0


def test_large_frames_use_reduced_flow_resolution():
    big = (160, 120)
    a, b = (pattern_frame(i, big, (4.0, 2.0)) for i in range(2))
    motion = FlowMotion(FlowMotionConfig(max_flow_pixels=80 * 60))
    flow01, _ = motion.flow_pair(to_tensor(a), to_tensor(b))
    assert flow01.shape[-2:] == (60, 80)
    out = motion.estimate(to_tensor(a), to_tensor(b), [0.5])
    truth = pattern_frame(0.5, big, (4.0, 2.0))
    assert psnr(inner(to_image(out[0, :, 0]), 12), inner(truth, 12)) > 33.0


@pytest.mark.parametrize(
    "config", [FlowMotionConfig(flow_to_time="splat"), FlowMotionConfig(use_visibility=True)]
)
def test_alternative_settings_interpolate(config):
    a, b = translating(0), translating(1)
    out = FlowMotion(config).estimate(to_tensor(a), to_tensor(b), [0.5, 2.0])
    assert psnr(inner(to_image(out[0, :, 0])), inner(translating(0.5))) > 36.0
    assert psnr(inner(to_image(out[0, :, 1]), 12), inner(translating(2.0), 12)) > 30.0


def test_bad_arguments_raise_option_errors():
    a = to_tensor(translating(0))
    with pytest.raises(OptionError, match="frame1"):
        FlowMotion().estimate(a, a[:, :2], [0.5])
    with pytest.raises(OptionError, match="same shape"):
        FlowMotion().estimate(a, a[..., :-1], [0.5])
    with pytest.raises(OptionError, match="times"):
        FlowMotion().estimate(a, a, [])
    with pytest.raises(OptionError, match="preset"):
        FlowMotionConfig(preset="slow")


def test_estimates_one_at_a_time_are_the_estimate_from_one_flow(monkeypatch):
    from vidiff.motion import estimates

    motion = FlowMotion()
    a, b = to_tensor(translating(0.0)), to_tensor(translating(1.0))
    times = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5]
    whole = motion.estimate(a, b, times)
    calls = []
    flow_pair = motion.flow_pair
    monkeypatch.setattr(motion, "flow_pair", lambda *x: calls.append(1) or flow_pair(*x))
    one_by_one = list(estimates(motion, a, b, times))
    assert len(calls) == 1  # the flows once, however many times
    assert len(one_by_one) == len(times)
    for i, frame in enumerate(one_by_one):
        assert frame.shape == (1, 3, SIZE[1], SIZE[0])
        assert torch.equal(frame, whole[:, :, i])


def test_estimates_falls_back_to_slices_of_estimate():
    from vidiff.motion import estimates

    class Blend:  # an estimator with estimate() only
        def estimate(self, f0, f1, times):
            return torch.stack([torch.lerp(f0, f1, t) for t in times], dim=2)

    a, b = to_tensor(translating(0.0)), to_tensor(translating(1.0))
    out = list(estimates(Blend(), a, b, [0.25, 0.75]))
    assert len(out) == 2 and torch.allclose(out[1], torch.lerp(a, b, 0.75))
