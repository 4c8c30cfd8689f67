"""The training loss: finite, differentiable, seeded, and blind to known frames."""

from __future__ import annotations

import torch

from vidiff.model import Cond, Denoiser, ModelConfig, build_cond


class Blend:
    def estimate(self, frame0, frame1, times):
        return torch.stack([(1 - t) * frame0 + t * frame1 for t in times], 2)


def setup():
    torch.manual_seed(0)
    d = Denoiser(ModelConfig.tiny())
    frames = torch.rand(2, 3, 4, 12, 10, generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[True, True, False, False], [True, False, True, False]])
    times = torch.tensor([[0.0, 1.0, 0.5, 0.25], [0.0, 0.5, 1.0, 2.0]])
    return d, frames, build_cond(frames, mask, times, Blend())


def test_loss_is_seeded_finite_and_trains_the_head():
    d, frames, cond = setup()
    a = d.loss(frames, cond, generator=torch.Generator().manual_seed(0))
    b = d.loss(frames, cond, generator=torch.Generator().manual_seed(0))
    assert a.ndim == 0 and torch.isfinite(a) and torch.equal(a, b)
    a.backward()
    assert d.net.head.weight.grad.abs().sum() > 0


def test_loss_ignores_known_frames_of_the_target():
    d, frames, cond = setup()
    other = frames.clone()
    other[cond.mask[:, None, :, None, None].expand_as(frames)] = 0.5
    a = d.loss(frames, cond, generator=torch.Generator().manual_seed(0))
    b = d.loss(other, cond, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


def test_residual_round_trip_and_known_frames_exact():
    d, frames, cond = setup()
    r = d.to_residual(frames, cond)
    back = d.to_frames(r, cond)
    assert torch.allclose(back, frames, atol=1e-6)
    known = cond.mask[:, None, :, None, None].expand_as(frames)
    assert torch.equal(back[known], frames[known])
    assert torch.equal(r[known], torch.zeros_like(r[known]))


def test_a_few_steps_reduce_the_loss():
    d, frames, cond = setup()
    frames, cond = (
        frames[..., :8, :8],
        Cond(cond.frames[..., :8, :8], cond.mask, cond.mu[..., :8, :8], cond.times),
    )
    opt = torch.optim.Adam(d.parameters(), lr=3e-3)
    gens = [torch.Generator().manual_seed(0) for _ in range(2)]

    def loss():
        for g in gens:
            g.manual_seed(0)
        return d.loss(frames, cond, generator=gens)

    first = loss().item()
    for _ in range(8):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    assert loss().item() < first
