"""Image quality metrics shared by training evaluation and tools/benchmark.py.

Inputs: one image per call, either a numpy uint8 ``h w 3`` RGB array (the I/O boundary format) or a
torch float tensor ``3 h w`` in ``[0, 1]`` (the library format; moved to the CPU, not quantised).
Both are compared on the 0..255 scale in float64. The two images must have the same shape.

- :func:`psnr`: ``10 log10(255^2 / MSE)`` over all pixels and the three channels; ``inf`` for
  identical images.
- :func:`ssim`: Wang et al. 2004 with an 11x11 Gaussian window (sigma 1.5), ``K1 = 0.01``,
  ``K2 = 0.03``, ``L = 255``, computed on each RGB channel separately over the "valid" region
  (windows fully inside the image, as the reference MATLAB code) and averaged over the channels.
  Papers differ (some use the Y channel, some skimage's defaults); this is the RGB-mean variant.
- :func:`interpolation_error`: IE, the mean absolute error on 0..255 over all pixels and channels,
  as reported for Middlebury by RIFE and others.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from vidiff.errors import OptionError

_GAUSS = cv2.getGaussianKernel(11, 1.5)
_WINDOW = _GAUSS @ _GAUSS.T


def _as_255(image: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    """``h w 3`` float64 on 0..255 from a uint8 ``h w 3`` array or a float ``3 h w`` tensor."""
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3 or not image.is_floating_point():
            raise OptionError(
                f"{name} must be a float (3, h, w) tensor in [0, 1], got "
                f"{image.dtype} {tuple(image.shape)}"
            )
        return image.detach().to("cpu", torch.float64).permute(1, 2, 0).numpy() * 255.0
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise OptionError(
            f"{name} must be a uint8 (h, w, 3) array, got {array.dtype} {array.shape}"
        )
    return array.astype(np.float64)


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_255(a, "a"), _as_255(b, "b")
    if x.shape != y.shape:
        raise OptionError(f"images must have the same shape, got {x.shape} and {y.shape}")
    return x, y


def psnr(a, b) -> float:
    """Peak signal-to-noise ratio in dB (peak 255); ``inf`` when the images are identical."""
    x, y = _pair(a, b)
    mse = float(np.mean((x - y) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def interpolation_error(a, b) -> float:
    """IE: mean absolute difference on the 0..255 scale."""
    x, y = _pair(a, b)
    return float(np.mean(np.abs(x - y)))


def ssim(a, b) -> float:
    """Structural similarity, per RGB channel (Gaussian 11x11, sigma 1.5, valid region), averaged."""
    x, y = _pair(a, b)
    if min(x.shape[:2]) < 11:
        raise OptionError(
            f"ssim needs images of at least 11x11 pixels, got {x.shape[1]}x{x.shape[0]}"
        )
    c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2

    def filt(img: np.ndarray) -> np.ndarray:
        return cv2.filter2D(img, -1, _WINDOW, borderType=cv2.BORDER_REFLECT)[5:-5, 5:-5]

    mu_x, mu_y = filt(x), filt(y)
    var_x = filt(x * x) - mu_x**2
    var_y = filt(y * y) - mu_y**2
    cov = filt(x * y) - mu_x * mu_y
    num = (2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return float(np.mean(num / den))
