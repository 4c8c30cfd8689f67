"""The generation pipeline on frames in memory: count, order, seeds, mu, samples, windows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from media import pattern_frame

from vidiff.errors import OptionError
from vidiff.metrics import psnr
from vidiff.model import Denoiser, ModelConfig
from vidiff.pipelines.generate import ClipGenerator, generate_frames
from vidiff.pipelines.generate_plan import WindowConfig
from vidiff.scenes import SceneDetector

SIZE = (48, 32)



def perturbed_denoiser(scale: float = 0.2, seed: int = 0) -> Denoiser:
    """The tiny model with every weight nudged at random: its output is not zero, so samples
    depend on their noise (the untrained model's zero head would return mu exactly)."""
    torch.manual_seed(seed)
    denoiser = Denoiser(ModelConfig.tiny())
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in denoiser.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
    return denoiser.eval()


def seeds(count: int = 2) -> list[np.ndarray]:
    return [pattern_frame(i, SIZE) for i in range(count)]


def model_generator(window: WindowConfig | None = None, seed: int = 0, **kwargs) -> ClipGenerator:
    return ClipGenerator(
        denoiser=perturbed_denoiser(), steps=2, seed=seed, device="cpu", window=window, **kwargs
    )


def test_seeds_first_then_the_new_frames():
    given = seeds(3)
    (clip,) = generate_frames(given, 5, steps=0, device="cpu")
    assert len(clip) == 3 + 5
    for a, b in zip(clip[:3], given, strict=True):
        assert a.dtype == np.uint8 and np.array_equal(a, b)
    assert all(f.shape == given[0].shape and f.dtype == np.uint8 for f in clip[3:])


def test_frames_come_in_time_order():
    """On a steadily translating pattern each new frame is closest to the true frame at its own
    time, so the output is in order (and extrapolation keeps the motion going)."""
    (clip,) = generate_frames(seeds(2), 4, steps=0, device="cpu")
    for i in range(2, 6):
        scores = [psnr(clip[i], pattern_frame(t, SIZE)) for t in range(6)]
        assert int(np.argmax(scores)) == i


def test_motion_extrapolation_beats_repeating_the_last_seed():
    (clip,) = generate_frames(seeds(2), 4, steps=0, device="cpu")
    last = pattern_frame(1, SIZE)
    for i in range(2, 6):
        truth = pattern_frame(i, SIZE)
        assert psnr(clip[i], truth) > psnr(last, truth) + 3


def test_one_seed_is_held():
    (clip,) = generate_frames(seeds(1), 3, steps=0, device="cpu")
    assert all(np.array_equal(f, clip[0]) for f in clip)


def test_untrained_model_returns_the_motion_estimate_exactly():
    zero = ClipGenerator(denoiser=Denoiser(ModelConfig.tiny()).eval(), steps=2, device="cpu")
    (with_model,) = generate_frames(seeds(), 5, generator=zero)
    (mu_only,) = generate_frames(seeds(), 5, steps=0, device="cpu")
    assert all(np.array_equal(a, b) for a, b in zip(with_model, mu_only, strict=True))


def test_same_seed_same_frames():
    a = generate_frames(seeds(), 5, samples=2, generator=model_generator(seed=3))
    b = generate_frames(seeds(), 5, samples=2, generator=model_generator(seed=3))
    for clip_a, clip_b in zip(a, b, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(clip_a, clip_b, strict=True))


def test_samples_differ_but_share_the_seeds_and_stay_near_mu():
    gen = model_generator(seed=1)
    clips = generate_frames(seeds(), 4, samples=3, generator=gen)
    (mu,) = generate_frames(seeds(), 4, steps=0, device="cpu")
    for clip in clips:
        assert all(np.array_equal(a, b) for a, b in zip(clip[:2], seeds(), strict=True))
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.array_equal(np.stack(clips[i][2:]), np.stack(clips[j][2:]))
    # a residual model: the samples scatter around mu, they do not replace it
    for clip in clips:
        assert np.mean([psnr(a, b) for a, b in zip(clip[2:], mu[2:], strict=True)]) > 15


def test_other_seed_other_frames():
    a = generate_frames(seeds(), 3, generator=model_generator(seed=1))[0]
    b = generate_frames(seeds(), 3, generator=model_generator(seed=2))[0]
    assert not np.array_equal(np.stack(a[2:]), np.stack(b[2:]))


def test_a_sample_does_not_depend_on_how_many_are_drawn():
    gen = model_generator(seed=5)
    two = generate_frames(seeds(), 3, samples=2, generator=gen)
    three = generate_frames(seeds(), 3, samples=3, generator=gen)
    assert all(np.array_equal(a, b) for a, b in zip(two[1], three[1], strict=True))


@pytest.mark.parametrize("hierarchical", [False, True], ids=["autoregressive", "hierarchical"])
def test_clip_longer_than_the_window(hierarchical):
    window = WindowConfig(known=2, unknown=2, hierarchical=hierarchical)
    gen = model_generator(window)
    assert len(gen.plan(2, 6)) == 3
    (clip,) = generate_frames(seeds(), 6, generator=gen)
    assert len(clip) == 8
    assert all(np.array_equal(a, b) for a, b in zip(clip[:2], seeds(), strict=True))
    (again,) = generate_frames(seeds(), 6, generator=model_generator(window))
    assert all(np.array_equal(a, b) for a, b in zip(clip, again, strict=True))
    # with mu alone, windowed extrapolation still follows the translation
    (mu,) = generate_frames(
        seeds(), 6, steps=0, device="cpu", known=2, unknown=2, hierarchical=hierarchical
    )
    for i in (3, 5, 7):
        truth = pattern_frame(i, SIZE)
        assert psnr(mu[i], truth) > psnr(seeds()[1], truth)


def test_identical_samples_without_a_model_are_announced():
    with pytest.warns(UserWarning, match="all samples are identical"):
        clips = generate_frames(seeds(), 2, samples=2, steps=0, device="cpu")
    assert all(np.array_equal(a, b) for a, b in zip(*clips, strict=True))


@pytest.mark.parametrize(
    "given,kwargs,match",
    [
        ([], {}, "no seed frames"),
        ([np.zeros((8, 8), np.uint8)], {}, "seed 0 must be a uint8"),
        ([np.zeros((8, 8, 3), np.float32)], {}, "seed 0 must be a uint8"),
        ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 6, 3), np.uint8)], {}, "seed 1 is 6x8"),
        (None, {"frames": 0}, "frames must be"),
        (None, {"samples": 0}, "samples must be"),
        (None, {"steps": -1}, "--steps"),
        (None, {"sampler": "nope"}, "--sampler"),
        (None, {"unknown": 0}, "--window-unknown"),
    ],
)
def test_bad_arguments(given, kwargs, match):
    kwargs = {"frames": 2, "steps": 0, "device": "cpu", **kwargs}
    with pytest.raises(OptionError, match=match):
        generate_frames(seeds() if given is None else given, **kwargs)


def test_steps_without_weights_is_an_error(monkeypatch):
    monkeypatch.setattr("vidiff.pipelines.weights.default_weights_path", lambda: None)
    with pytest.raises(OptionError, match="needs a diffusion model"):
        generate_frames(seeds(), 2, steps=2, device="cpu")


def test_prediction_uses_dis_alone_while_interpolation_also_tries_farneback():
    from vidiff.model.refined_motion import RefinedMotion
    from vidiff.motion import FlowMotion
    from vidiff.pipelines.generate import make_generator
    from vidiff.pipelines.interpolate import Interpolator

    assert ClipGenerator().motion.config.second_flow == "none"
    plain = make_generator(refine=False, device="cpu").motion
    assert isinstance(plain, FlowMotion) and plain.config.second_flow == "none"
    refined = make_generator(device="cpu").motion  # the default weights' predictor, if any
    base = refined.motion if isinstance(refined, RefinedMotion) else refined
    assert base.config.second_flow == "none"
    assert FlowMotion().config.second_flow == "farneback"
    assert Interpolator().motion.config.second_flow == "farneback"


def other_shot(count: int) -> list[np.ndarray]:
    """``count`` frames of a second shot: the pattern brightened and moving the other way."""
    return [
        np.ascontiguousarray(pattern_frame(9 + i, SIZE, (-1.0, 0.5)) // 4 + 180)
        for i in range(count)
    ]


def test_seeds_across_a_scene_cut_continue_the_last_shot():
    """A flow between two shots is no motion: with one seed after the cut the new frames hold
    it, and with two they extrapolate shot B alone, as if shot A had not been given."""
    given = seeds(2) + other_shot(1)
    with pytest.warns(UserWarning, match="scene cut lies between seed 1 and seed 2"):
        (clip,) = generate_frames(given, 3, steps=0, device="cpu")
    assert all(np.array_equal(clip[i], given[2]) for i in range(3, 6))
    shot_b = other_shot(2)
    with pytest.warns(UserWarning, match="the 2 seed"):
        (clip,) = generate_frames(seeds(3) + shot_b, 3, steps=0, device="cpu")
    (alone,) = generate_frames(shot_b, 3, steps=0, device="cpu")
    assert all(np.array_equal(a, b) for a, b in zip(clip[5:], alone[2:], strict=True))


def test_scene_detection_can_be_turned_off_for_the_seeds():
    given = seeds(2) + other_shot(1)
    blind = ClipGenerator(detector=SceneDetector(cut_threshold=None))
    (clip,) = generate_frames(given, 2, generator=blind)
    assert not np.array_equal(clip[3], given[2])  # the flow across the cut moved it


def test_seeds_of_one_shot_are_all_used():
    """Steady motion is no cut: all seeds stay (no warning) and the motion continues."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (clip,) = generate_frames(seeds(3), 2, steps=0, device="cpu")
    assert psnr(clip[3], pattern_frame(3, SIZE)) > psnr(clip[2], pattern_frame(3, SIZE)) + 3
