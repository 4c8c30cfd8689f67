"""Residual video diffusion model: backbone, EDM denoiser, samplers and weights files.

Conventions (all of ``vidiff.model``): windows ``b c t h w`` float32 in [0, 1]; ``mask`` ``(b, t)``
bool, True = known; ``times`` ``(b, t)`` in units of the input frame interval (only differences
matter). The diffusion runs on the scaled residual ``(x - mu) / residual_scale`` of the unknown
frames; known frames are returned bit-exactly. Any frame size (padded inside). Layers:
:mod:`.unet` (network, no schedules) -> :mod:`.denoiser` (EDM preconditioning, residual, loss) ->
:mod:`.sampling` (schedules, samplers, :func:`sample`); :mod:`.weights` for safetensors files.
"""

from .cond import Cond, build_cond
from .config import ModelConfig
from .denoiser import Denoiser
from .refined_motion import RefinedMotion
from .refiner import Refiner, RefinerConfig
from .sampling import DEFAULT_SAMPLER, SAMPLERS, karras_sigmas, sample
from .unet import VideoUNet
from .weights import load_refiner, load_weights, read_metadata, read_parts, save_weights

__all__ = [
    "DEFAULT_SAMPLER",
    "SAMPLERS",
    "Cond",
    "Denoiser",
    "ModelConfig",
    "VideoUNet",
    "build_cond",
    "karras_sigmas",
    "RefinedMotion",
    "Refiner",
    "RefinerConfig",
    "load_refiner",
    "load_weights",
    "read_metadata",
    "read_parts",
    "sample",
    "save_weights",
]
