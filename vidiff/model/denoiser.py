"""The denoiser: the backbone wrapped with EDM preconditioning, in the space of the scaled residual.

Conventions: the diffusion variable is the scaled residual ``r = (x - mu) / residual_scale`` of a
window ``b 3 t h w`` (x, mu in [0, 1]); it is zero at known frames, which pass through unchanged.
``sigma`` is the noise std in that space, a float or a ``(b,)`` tensor.

Why EDM (Karras et al. 2022): its preconditioning (c_in, c_out, c_skip, c_noise) keeps network
inputs and targets at unit variance for every noise level, its log-normal training distribution of
sigma and loss weight are tuned, and denoiser and sampler are cleanly separate: any ODE/SDE solver
works on ``D(x, sigma)``, and few-step deterministic solvers (Heun, DPM-Solver++) work well on it.

Parametrisation (``config.parametrization``):
- ``"x0"`` (default): ``c_skip = 0``, ``c_out = sigma_data``, loss weight ``1 / sigma_data^2``
  (EDM's rule ``lambda = 1 / c_out^2``: unit-variance effective target). A zero network output is
  then a zero residual at every sigma, so the untrained model (zero-initialised head) samples
  exactly mu with every sampler: the graceful start. The price is that at very low sigma the network
  must copy its (c_in-scaled) input itself rather than get it through c_skip; for a residual whose
  low-noise detail is sub-pixel-value small this costs little.
- ``"edm"``: EDM's ``c_skip = sd^2 / (sigma^2 + sd^2)``, ``c_out = sigma sd / sqrt(sigma^2 + sd^2)``;
  an untrained model then samples noise of std ``sigma_data`` around mu instead of mu.
Both use ``c_in = 1 / sqrt(sigma^2 + sd^2)`` and ``c_noise = ln(sigma) / 4``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import OptionError
from .cond import Cond
from .config import ModelConfig
from .noise import Generators, randn
from .unet import VideoUNet


class Denoiser(nn.Module):
    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config if config is not None else ModelConfig.default()
        self.net = VideoUNet(self.config)

    def precondition(self, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(c_skip, c_out, c_in, c_noise)`` for a ``(b,)`` sigma."""
        sd = self.config.sigma_data
        c_in = (sigma**2 + sd**2).rsqrt()
        if self.config.parametrization == "edm":
            c_skip = sd**2 / (sigma**2 + sd**2)
            c_out = sigma * sd * c_in
        else:
            c_skip = torch.zeros_like(sigma)
            c_out = torch.full_like(sigma, sd)
        return c_skip, c_out, c_in, sigma.log() / 4

    def loss_weight(self, sigma: Tensor) -> Tensor:
        return self.precondition(sigma)[1] ** -2

    def _sigma(self, sigma, x: Tensor) -> Tensor:
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        if sigma.ndim == 0:
            sigma = sigma.expand(x.shape[0])
        if sigma.shape != (x.shape[0],):
            raise OptionError(
                f"sigma must be a scalar or ({x.shape[0]},), got shape {tuple(sigma.shape)}"
            )
        return sigma

    def forward(self, x: Tensor, sigma, cond: Cond) -> Tensor:
        """Denoised scaled residual ``D(x, sigma)``, ``b 3 t h w``, zero at known frames."""
        if x.shape != cond.mu.shape:
            raise OptionError(f"x {tuple(x.shape)} must match cond.mu {tuple(cond.mu.shape)}")
        sigma = self._sigma(sigma, x)
        c_skip, c_out, c_in, c_noise = self.precondition(sigma)
        view = (-1, 1, 1, 1, 1)
        unknown = cond.unknown
        out = self.net(x * (unknown * c_in.view(view)), c_noise, cond)  # out is 0 at known frames
        if self.config.parametrization == "x0":
            return out * c_out.view(view)
        return (c_skip.view(view) * unknown) * x + c_out.view(view) * out

    def loss(self, target_frames: Tensor, cond: Cond, generator: Generators = None) -> Tensor:
        """EDM training loss on the unknown frames only (mean over their elements).

        sigma ~ exp(N(p_mean, p_std^2)) per window; weight ``1 / c_out^2``. ``generator``: None, one
        generator or one per window (see :mod:`vidiff.model.noise`).
        """
        cfg = self.config
        r = self.to_residual(target_frames, cond)
        b = r.shape[0]
        sigma = (randn((b,), generator, r.device, r.dtype) * cfg.p_std + cfg.p_mean).exp()
        noise = randn(r.shape, generator, r.device, r.dtype)
        denoised = self(r + noise * sigma.view(-1, 1, 1, 1, 1), sigma, cond)
        unknown = cond.unknown
        err = (denoised - r) ** 2 * self.loss_weight(sigma).view(-1, 1, 1, 1, 1) * unknown
        count = unknown.sum() * r.shape[1] * r.shape[3] * r.shape[4]
        return err.sum() / count.clamp(min=1)

    def to_residual(self, frames: Tensor, cond: Cond) -> Tensor:
        """Scaled residual ``(frames - mu) / residual_scale``, zero at known frames."""
        return (frames - cond.mu) / self.config.residual_scale * cond.unknown

    def to_frames(self, residual: Tensor, cond: Cond) -> Tensor:
        """``mu + residual_scale * residual`` clamped to [0, 1]; known frames copied exactly."""
        frames = (cond.mu + self.config.residual_scale * residual).clamp(0, 1)
        return torch.where(cond.mask[:, None, :, None, None], cond.frames, frames)
