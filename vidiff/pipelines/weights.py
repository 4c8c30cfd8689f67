"""Finding and loading the diffusion weights, with a fallback to the motion estimate.

The default weights are ``weights/vidiff.safetensors`` in the source tree (or the file named
by the ``VIDIFF_WEIGHTS`` environment variable). An explicit ``--weights PATH`` that cannot be
loaded is an error; default weights that are missing or damaged only cost the refinement: the
caller gets ``None`` and a warning, and the motion estimate is used.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from ..errors import OptionError, WeightsError

DEFAULT_WEIGHTS_NAME = "vidiff.safetensors"
DEFAULT_STEPS = 4


def default_weights_path() -> Path | None:
    """The default weights file, or ``None`` when there is none."""
    env = os.environ.get("VIDIFF_WEIGHTS")
    if env:
        return Path(env)
    candidate = Path(__file__).resolve().parents[2] / "weights" / DEFAULT_WEIGHTS_NAME
    return candidate if candidate.is_file() else None


def load_denoiser(weights: str | Path | None, device: torch.device):
    """Load a denoiser from ``weights``, or from the default weights when ``None``.

    Returns ``None`` (the motion estimate alone will be used) when no default weights exist or
    they cannot be loaded; raises :class:`WeightsError` when an explicit file cannot be loaded.
    """
    from ..model import load_weights

    if weights is not None:
        return load_weights(Path(weights), device=device).eval()
    path = default_weights_path()
    if path is None:
        return None
    try:
        return load_weights(path, device=device).eval()
    except WeightsError as exc:
        warnings.warn(f"{exc}; using the motion estimate alone (--steps 0)", stacklevel=2)
        return None


def resolve_model(steps, weights, device: torch.device, sampler=None, seed=0):
    """Check the model options and load what they ask for: ``(denoiser or None, steps)``.

    ``steps=None`` means the default: :data:`DEFAULT_STEPS` sampler steps when weights are
    available, else 0 (the motion estimate alone). Explicit steps without weights are an error.
    """
    from ..model import SAMPLERS

    if steps is not None and (isinstance(steps, bool) or int(steps) != steps or steps < 0):
        raise OptionError(f"--steps must be a whole number >= 0, got {steps!r}")
    if sampler is not None and sampler not in SAMPLERS:
        raise OptionError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if isinstance(seed, bool) or int(seed) != seed:
        raise OptionError(f"--seed must be a whole number, got {seed!r}")
    denoiser = None if steps == 0 else load_denoiser(weights, device)
    if steps is None:
        steps = DEFAULT_STEPS if denoiser is not None else 0
    elif steps > 0 and denoiser is None:
        raise OptionError(
            f"--steps {steps} needs diffusion weights, and none were found: pass --weights PATH "
            "or use --steps 0 for the motion estimate alone"
        )
    return denoiser, int(steps)
