"""vidiff.train.ssim: the benchmarks' SSIM as a differentiable loss, and its place in the loss."""

import numpy as np
import pytest
import torch

from vidiff.errors import OptionError
from vidiff.metrics import ssim
from vidiff.train.refine_loop import load_refiner_config, refiner_loss
from vidiff.train.ssim import ssim_per_sample


def pair(seed=0, h=40, w=52):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    return a, b


def tensor(image):
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def test_it_is_the_benchmarks_ssim_sample_by_sample():
    (a0, b0), (a1, b1) = pair(0), pair(1)
    got = ssim_per_sample(torch.cat([tensor(a0), tensor(a1)]), torch.cat([tensor(b0), tensor(b1)]))
    assert got.shape == (2,)
    assert np.allclose(got.numpy(), [ssim(a0, b0), ssim(a1, b1)], atol=1e-6)
    assert torch.allclose(ssim_per_sample(tensor(a0), tensor(a0)), torch.ones(1))


def test_its_gradient_moves_a_frame_towards_the_target_structure():
    a, b = pair(2)
    x = tensor(b).requires_grad_(True)
    before = ssim_per_sample(x, tensor(a)).item()
    opt = torch.optim.SGD([x], lr=20.0)
    for _ in range(20):
        opt.zero_grad()
        (1 - ssim_per_sample(x, tensor(a))).mean().backward()
        opt.step()
    assert ssim_per_sample(x, tensor(a)).item() > before + 0.01


def test_too_small_a_frame_is_refused():
    with pytest.raises(ValueError):
        ssim_per_sample(torch.rand(1, 3, 10, 30), torch.rand(1, 3, 10, 30))


def test_the_loss_adds_its_weight_times_one_minus_ssim():
    a, b = pair(3)
    res = {"frame": tensor(b), "mu": tensor(b)}
    plain = refiner_loss(res, tensor(a), kind="log_mse")
    weighted = refiner_loss(res, tensor(a), kind="log_mse", ssim_weight=5.0)
    assert torch.isclose(weighted - plain, torch.tensor(5.0 * (1 - ssim(b, a))), atol=1e-5)


def test_a_negative_weight_is_refused(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nssim_loss = -1.0\n")
    with pytest.raises(OptionError, match="ssim_loss"):
        load_refiner_config(cfg)
    cfg.write_text("[train]\nssim_loss = 1.0\ncrop = 8\n")
    with pytest.raises(OptionError, match="crop >= 11"):
        load_refiner_config(cfg)
    cfg.write_text("[train]\nssim_loss = 2.0\n")
    assert load_refiner_config(cfg).train.ssim_loss == 2.0
