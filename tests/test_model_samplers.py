"""Samplers against a toy Gaussian whose ideal denoiser is known, and seeded determinism.

Toy problem: data ~ N(m, s^2) per element. The ideal denoiser is
``D(x, sigma) = (s^2 x + sigma^2 m) / (s^2 + sigma^2)`` and the probability-flow ODE has the exact
solution ``x(sigma) = m + (x_T - m) sqrt(s^2 + sigma^2) / sqrt(s^2 + sigma_T^2)``.
"""

from __future__ import annotations

import math

import pytest
import torch

from vidiff.model import DEFAULT_SAMPLER, SAMPLERS, Denoiser, ModelConfig, build_cond, karras_sigmas
from vidiff.model import sample as sample_frames

M, S, SIGMA_MAX = 0.7, 0.3, 20.0


def ideal(x, sigma):
    return (S**2 * x + sigma**2 * M) / (S**2 + sigma**2)


def start(n=20000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return M + math.sqrt(S**2 + SIGMA_MAX**2) * torch.randn(n, generator=g, dtype=torch.float64)


def exact_end(x_t):
    return M + (x_t - M) * S / math.sqrt(S**2 + SIGMA_MAX**2)


def test_karras_schedule():
    s = karras_sigmas(5, 0.002, 10.0)
    assert s.shape == (6,) and s[0] == 10.0 and s[-1] == 0 and math.isclose(s[-2], 0.002)
    assert bool((s[:-1] > s[1:]).all())
    assert karras_sigmas(1, 0.002, 10.0).tolist() == [10.0, 0.0]


def rel_error(out, x_t):
    """Max deviation from the exact ODE end point, relative to the spread of the end points."""
    exact = exact_end(x_t)
    return ((out - exact).abs().max() / (exact - M).abs().max()).item()


@pytest.mark.parametrize(
    "name,steps,tol", [("dpmpp2m", 64, 5e-3), ("heun", 64, 5e-3), ("ode", 1000, 5e-3)]
)
def test_deterministic_samplers_follow_the_exact_ode(name, steps, tol):
    x_t = start()
    out = SAMPLERS[name](ideal, x_t.clone(), karras_sigmas(steps, 0.002, SIGMA_MAX))
    assert rel_error(out, x_t) < tol
    assert abs(out.mean().item() - M) < 0.01 and abs(out.std().item() / S - 1) < 0.02


@pytest.mark.parametrize("name,order", [("dpmpp2m", 2), ("heun", 2), ("ode", 1)])
def test_deterministic_samplers_converge_at_their_order(name, order):
    x_t = start(n=2000)
    e32, e64 = (
        rel_error(SAMPLERS[name](ideal, x_t.clone(), karras_sigmas(n, 0.002, SIGMA_MAX)), x_t)
        for n in (32, 64)
    )
    assert e32 / e64 > 2**order * 0.75, (e32, e64)


def test_default_sampler_is_accurate_in_few_steps():
    x_t = start(n=2000)
    out = SAMPLERS[DEFAULT_SAMPLER](ideal, x_t.clone(), karras_sigmas(4, 0.002, SIGMA_MAX))
    assert rel_error(out, x_t) < 0.1


def test_ancestral_sampler_matches_the_distribution():
    sigmas = karras_sigmas(400, 0.002, SIGMA_MAX)
    out = SAMPLERS["ancestral"](ideal, start(), sigmas, generator=torch.Generator().manual_seed(3))
    assert abs(out.mean().item() - M) < 0.01
    assert abs(out.std().item() / S - 1) < 0.025
    # stochastic: another noise draw from the same start ends elsewhere
    again = SAMPLERS["ancestral"](
        ideal, start(), sigmas, generator=torch.Generator().manual_seed(4)
    )
    assert not torch.allclose(out, again)


def test_zero_denoiser_gives_exact_zero_for_every_sampler():
    for name, fn in SAMPLERS.items():
        out = fn(
            lambda x, s: torch.zeros_like(x),
            start(100),
            karras_sigmas(3, 0.002, SIGMA_MAX),
            generator=torch.Generator().manual_seed(0),
        )
        assert torch.equal(out, torch.zeros_like(out)), name


class Blend:
    def estimate(self, frame0, frame1, times):
        return torch.stack([(1 - t) * frame0 + t * frame1 for t in times], 2)


def model_and_cond(b=2):
    torch.manual_seed(0)
    d = Denoiser(ModelConfig.tiny()).eval()
    torch.nn.init.normal_(d.net.head.weight, std=0.5)
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(b, 3, 3, 12, 16, generator=g)
    mask = torch.tensor([[True, True, False]] * b)
    times = torch.tensor([[0.0, 1.0, 0.5]] * b)
    return d, build_cond(frames, mask, times, Blend())


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_seeded_sampling_is_reproducible(name):
    d, cond = model_and_cond()

    def run(seed):
        return sample_frames(
            d, cond, steps=3, sampler=name, generator=torch.Generator().manual_seed(seed)
        )

    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_per_window_generators_reproduce_a_window_whatever_the_batch():
    d, cond = model_and_cond(b=3)
    seeds = [5, 6, 7]
    full = sample_frames(
        d, cond, steps=2, generator=[torch.Generator().manual_seed(s) for s in seeds]
    )
    one = sample_frames(
        d,
        type(cond)(cond.frames[1:2], cond.mask[1:2], cond.mu[1:2], cond.times[1:2]),
        steps=2,
        generator=[torch.Generator().manual_seed(6)],
    )
    assert torch.allclose(full[1:2], one, atol=1e-5)
    assert DEFAULT_SAMPLER in SAMPLERS
