"""vidiff.metrics against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vidiff.errors import OptionError
from vidiff.metrics import interpolation_error, psnr, ssim


def image(seed: int = 0, size=(40, 48)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def test_identical_images():
    a = image()
    assert psnr(a, a) == math.inf
    assert ssim(a, a) == pytest.approx(1.0)
    assert interpolation_error(a, a) == 0.0


def test_known_noise_level_gives_expected_psnr():
    a = np.full((64, 64, 3), 128, dtype=np.uint8)
    signs = np.where(np.random.default_rng(1).random(a.shape) < 0.5, -5, 5)
    b = (a.astype(np.int16) + signs).astype(np.uint8)  # every pixel off by exactly 5: MSE 25
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 25))
    assert interpolation_error(a, b) == pytest.approx(5.0)


def test_interpolation_error_of_a_constant_offset():
    a = np.full((16, 16, 3), 100, dtype=np.uint8)
    assert interpolation_error(a, a + 7) == pytest.approx(7.0)
    assert interpolation_error(a + 7, a) == pytest.approx(7.0)


def test_ssim_of_flat_images_has_the_closed_form():
    """Flat images have zero variance: SSIM reduces to the luminance term (2xy + C1)/(x^2 + y^2 + C1)."""
    a = np.full((32, 32, 3), 100, dtype=np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 130 + c1) / (100**2 + 130**2 + c1)
    assert ssim(a, a + 30) == pytest.approx(expected, rel=1e-9)


def test_ssim_drops_with_noise_and_is_symmetric():
    a = np.kron(image(2, (10, 12)), np.ones((4, 4, 1), dtype=np.uint8))  # blocks of 4x4
    noisy = np.clip(a + np.random.default_rng(3).normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    value = ssim(a, noisy)
    assert 0.0 < value < 0.9
    assert ssim(noisy, a) == pytest.approx(value)


def test_tensors_match_arrays():
    a, b = image(4), image(5)
    ta = torch.from_numpy(a).permute(2, 0, 1).float() / 255
    tb = torch.from_numpy(b).permute(2, 0, 1).float() / 255
    assert psnr(ta, tb) == pytest.approx(psnr(a, b), rel=1e-5)
    assert ssim(ta, tb) == pytest.approx(ssim(a, b), rel=1e-4)
    assert interpolation_error(ta, tb) == pytest.approx(interpolation_error(a, b), rel=1e-5)


def test_bad_inputs_raise_option_error():
    with pytest.raises(OptionError, match="same shape"):
        psnr(image(0), image(0, (40, 40)))
    with pytest.raises(OptionError, match="uint8"):
        psnr(image(0).astype(np.float32), image(0))
