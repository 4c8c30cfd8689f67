"""The model's shapes, padding, masks, graceful start and conditioning (CPU, tiny config)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vidiff.errors import OptionError
from vidiff.model import SAMPLERS, Cond, Denoiser, ModelConfig, build_cond, sample


class Blend:
    """Test double for vidiff.motion: linear blend, exact at t = 0 and 1, any real t."""

    def __init__(self):
        self.calls = []

    def estimate(self, frame0, frame1, times):
        self.calls.append(list(times))
        return torch.stack([(1 - t) * frame0 + t * frame1 for t in times], 2)


def window(b=1, t=3, h=29, w=37, seed=0):
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(b, 3, t, h, w, generator=g)
    mask = torch.zeros(b, t, dtype=torch.bool)
    k = min(2, t - 1)  # known frames first, then unknown ones
    mask[:, :k] = True
    times = torch.tensor([[0.0, 1.0][:k] + [(i + 1) / (t - k + 1) for i in range(t - k)]] * b)
    return frames, mask, times


def perturbed(config=None, seed=0):
    """A tiny denoiser whose output is not zero (head weights randomised)."""
    torch.manual_seed(seed)
    d = Denoiser(config or ModelConfig.tiny()).eval()
    torch.nn.init.normal_(d.net.head.weight, std=0.5)
    return d


@pytest.mark.parametrize("size", [(29, 37), (16, 16), (1, 5), (33, 64)])
@pytest.mark.parametrize("t", [2, 3, 5])
def test_any_frame_size_and_window_length(size, t):
    frames, mask, times = window(b=2, t=t, h=size[0], w=size[1])
    cond = build_cond(frames, mask, times, Blend())
    d = perturbed()
    x = torch.randn_like(frames)
    with torch.no_grad():
        out = d(x, 1.3, cond)
    assert out.shape == frames.shape
    assert torch.isfinite(out).all()
    k = int(mask[0].sum())
    assert torch.count_nonzero(out[:, :, k:]) > 0  # unknown frames get a residual
    assert torch.equal(out[:, :, :k], torch.zeros_like(out[:, :, :k]))  # known: none


def test_default_config_shapes_odd_size():
    frames, mask, times = window(b=1, t=3, h=37, w=45)
    cond = build_cond(frames, mask, times, Blend())
    with torch.no_grad():
        out = Denoiser(ModelConfig.default()).eval()(torch.randn_like(frames), 0.5, cond)
    assert out.shape == frames.shape


def test_untrained_model_returns_mu_exactly():
    frames, mask, times = window(b=2, t=4)
    cond = build_cond(frames, mask, times, Blend())
    d = Denoiser(ModelConfig.tiny()).eval()
    for name in SAMPLERS:
        out = sample(d, cond, steps=3, sampler=name, generator=torch.Generator().manual_seed(1))
        assert torch.equal(out, cond.mu), name


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_known_frames_bit_exact_every_sampler(name):
    frames, mask, times = window(b=2, t=4)
    # known frames listed in any position, not only first
    mask = torch.tensor([[True, False, True, False], [False, True, False, True]])
    times = torch.tensor([[0.0, 0.5, 1.0, 2.0], [-1.0, 0.0, 0.5, 1.0]])
    cond = build_cond(frames, mask, times, Blend())
    out = sample(
        perturbed(), cond, steps=3, sampler=name, generator=torch.Generator().manual_seed(0)
    )
    known = mask[:, None, :, None, None].expand_as(frames)
    assert torch.equal(out[known], frames[known])
    assert not torch.equal(out[~known], cond.mu[~known])  # the model did change unknown frames
    assert out.min() >= 0 and out.max() <= 1


def test_steps_zero_returns_mu():
    frames, mask, times = window()
    cond = build_cond(frames, mask, times, Blend())
    assert torch.equal(sample(perturbed(), cond, steps=0), cond.mu)


def test_sample_rejects_bad_arguments():
    frames, mask, times = window()
    cond = build_cond(frames, mask, times, Blend())
    with pytest.raises(OptionError, match="sampler"):
        sample(perturbed(), cond, steps=2, sampler="nope")
    with pytest.raises(OptionError, match="steps"):
        sample(perturbed(), cond, steps=-1)


def test_build_cond_neighbours_by_time():
    h, w = 4, 5
    # frame value = its time, so a linear blend reproduces the time exactly
    times = torch.tensor([[0.0, 1.0, 2.0, 0.25, 1.5, 3.0, -0.5]])
    frames = (times[:, None, :, None, None] / 4 + 0.2).expand(1, 3, 7, h, w).clone()
    mask = torch.tensor([[True, True, True, False, False, False, False]])
    motion = Blend()
    cond = build_cond(frames, mask, times, motion)
    mu = cond.mu[0, 0, :, 0, 0]
    assert torch.allclose(mu, frames[0, 0, :, 0, 0], atol=1e-6)  # interp, extrapolation both ways
    assert torch.equal(cond.frames[:, :, 3:], torch.zeros_like(cond.frames[:, :, 3:]))
    assert torch.equal(cond.mu[:, :, :3], frames[:, :, :3])
    # pair (0, 1): 0.25 between and -0.5 before the first; pair (1, 2): 0.5 between and 2.0 after
    # the last; one estimate call per pair
    assert sorted(sorted(c) for c in motion.calls) == [[-0.5, 0.25], [0.5, 2.0]]


def test_build_cond_holds_single_known_frame_and_batches_groups():
    frames = torch.rand(3, 3, 3, 6, 7)
    mask = torch.tensor([[True, False, False], [True, True, False], [True, True, False]])
    times = torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, 0.5], [0.0, 1.0, 0.5]])
    motion = Blend()
    cond = build_cond(frames, mask, times, motion)
    assert torch.equal(cond.mu[0, :, 1], frames[0, :, 0])
    assert torch.equal(cond.mu[0, :, 2], frames[0, :, 0])
    assert motion.calls == [[0.5]]  # windows 1 and 2 share one estimate call
    assert torch.allclose(cond.mu[1:, :, 2], (frames[1:, :, 0] + frames[1:, :, 1]) / 2)


def test_build_cond_and_cond_validate():
    frames, mask, times = window()
    with pytest.raises(OptionError, match="at least one known"):
        build_cond(frames, torch.zeros_like(mask), times, Blend())
    with pytest.raises(OptionError, match="mask"):
        build_cond(frames, mask.float(), times, Blend())
    with pytest.raises(OptionError, match="frames"):
        build_cond(frames[0], mask, times, Blend())
    with pytest.raises(OptionError, match="mu"):
        Cond(frames, mask, frames[..., :5], times)


def test_cond_zeroes_unknown_frames_and_cache_is_exact():
    """Guards against a training target left in Cond.frames leaking into the input, and against
    the per-run stem cache (cond.cache) changing results or going stale when weights change."""
    frames, mask, times = window(t=3)
    cond = Cond(frames, mask, frames.clone(), times)  # target left in at the unknown frame
    assert torch.equal(cond.frames[:, :, 2], torch.zeros_like(frames[:, :, 2]))
    fields = [f.name for f in dataclasses.fields(Cond)]
    assert fields == ["frames", "mask", "mu", "times"]  # the data only (train batches use this)
    d = perturbed()
    x = torch.randn_like(frames)
    with torch.no_grad():
        first = d(x, 0.7, cond)
        cached = d(x, 0.7, cond)
        assert cond.cache
        d.net.stem.weight.add_(0.1)
        moved = d(x, 0.7, cond)
        fresh = d(x, 0.7, Cond(frames, mask, frames.clone(), times))
    assert torch.equal(first, cached)
    assert torch.equal(moved, fresh) and not torch.equal(moved, first)
    with torch.enable_grad():
        assert torch.allclose(d(x, 0.7, cond), moved, atol=1e-6)


def test_time_only_differences_matter():
    frames, mask, times = window(t=3)
    d = perturbed()
    x = torch.randn_like(frames)
    with torch.no_grad():
        a = d(x, 0.7, build_cond(frames, mask, times, Blend()))
        b = d(x, 0.7, build_cond(frames, mask, times + 1000.0, Blend()))
        c = d(x, 0.7, build_cond(frames, mask, times * 2, Blend()))
    assert torch.allclose(a, b, atol=1e-4)
    assert not torch.allclose(a, c, atol=1e-4)


def test_config_round_trip_and_strict_keys():
    cfg = ModelConfig.default()
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_json(ModelConfig.tiny().to_json()) == ModelConfig.tiny()
    with pytest.raises(OptionError, match="'chanels'"):
        ModelConfig.from_dict({"chanels": [8]})
    with pytest.raises(OptionError, match="parametrization"):
        ModelConfig(parametrization="eps")


def test_default_size_budget():
    n = sum(p.numel() for p in Denoiser(ModelConfig.default()).parameters())
    assert n < 8_000_000


@pytest.mark.parametrize(
    "changes",
    [
        {"spatial_attention": True},
        {"temporal_attention_from": 0},
        {"channels": (8, 16), "blocks": (2, 0), "stem": 1},
        {"parametrization": "edm"},
    ],
)
def test_config_variants_run(changes):
    cfg = dataclasses.replace(ModelConfig.tiny(), **changes)
    frames, mask, times = window(b=2, t=4, h=13, w=11)
    cond = build_cond(frames, mask, times, Blend())
    d = perturbed(cfg)
    out = sample(d, cond, steps=2, generator=torch.Generator().manual_seed(0))
    assert out.shape == frames.shape and torch.isfinite(out).all()
    assert torch.equal(out[:, :, :2], frames[:, :, :2])
