"""The motion-estimator interface and input checks shared by every implementation.

Conventions (all of ``vidiff.motion``):

- Images are torch float32 tensors in ``[0, 1]``, layout ``b c h w`` (``c == 3``, RGB) for single
  frames; estimates come back as ``b c n h w`` with one slice per requested time.
- Time is measured in units of the interval between the two input frames: ``frame0`` sits at
  ``t = 0`` and ``frame1`` at ``t = 1``. ``0 < t < 1`` interpolates, ``t > 1`` extrapolates forward
  past ``frame1`` and ``t < 0`` backward before ``frame0`` (constant-velocity motion assumed).
- Flow fields are ``b 2 h w`` float32 in pixels, channel 0 = dx (to the right), channel 1 = dy (down).
  ``flow_a_to_b[:, :, y, x]`` is the displacement from pixel ``(x, y)`` in image a to its match in b,
  so ``a(x) ~ b(x + flow_a_to_b(x))`` and b is *backward-warped* onto a's grid with that flow.

A learned estimator replaces :class:`~vidiff.motion.flow.FlowMotion` by implementing the same
``estimate`` method; nothing else in vidiff depends on how the estimate is made. An estimator may
also offer ``estimates`` (the same frames one time at a time); :func:`estimates` uses it when it
is there, so that a long gap's many in-between frames need not be held in float at once.
An estimator whose ``takes_before`` is true also accepts ``before`` (``b 3 h w``, the known frame
one interval before frame0) in ``estimate``, which it may use past frame1 (``t > 1``) to judge
how far the pair's motion goes on (:mod:`vidiff.motion.history`); callers give it when they have
it (:func:`vidiff.model.build_cond`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from vidiff.errors import OptionError


@runtime_checkable
class MotionEstimator(Protocol):
    """Anything that predicts frames at fractional (or outside) times from two neighbours."""

    def estimate(self, frame0: Tensor, frame1: Tensor, times: Sequence[float]) -> Tensor:
        """Return ``(b, 3, len(times), h, w)`` estimates at ``times`` (see module conventions).

        ``frame0`` and ``frame1`` are ``(b, 3, h, w)`` float in ``[0, 1]`` on any device; the result
        is on the same device with the same dtype. ``t == 0`` / ``t == 1`` return the frames exactly.
        """
        ...


def check_pair(frame0: Tensor, frame1: Tensor, times: Sequence[float]) -> list[float]:
    """Validate an ``estimate`` call's arguments; return the times as a list of floats."""
    for name, frame in (("frame0", frame0), ("frame1", frame1)):
        if not isinstance(frame, Tensor) or frame.ndim != 4 or frame.shape[1] != 3:
            shape = tuple(frame.shape) if isinstance(frame, Tensor) else type(frame).__name__
            raise OptionError(f"{name} must be a (b, 3, h, w) tensor, got {shape}")
        if not frame.is_floating_point():
            raise OptionError(f"{name} must be a float tensor in [0, 1], got dtype {frame.dtype}")
    if frame0.shape != frame1.shape:
        raise OptionError(
            f"frame0 and frame1 must have the same shape, got {tuple(frame0.shape)} "
            f"and {tuple(frame1.shape)}"
        )
    if frame0.device != frame1.device:
        raise OptionError(f"frames must be on one device, got {frame0.device} and {frame1.device}")
    out = [float(t) for t in times]
    if not out:
        raise OptionError("times must hold at least one time, got an empty sequence")
    if not all(torch.isfinite(torch.tensor(out))):
        raise OptionError(f"times must be finite numbers, got {out}")
    return out


def estimates(motion: MotionEstimator, frame0: Tensor, frame1: Tensor,
              times: Sequence[float]) -> Iterator[Tensor]:
    """``motion``'s estimates at ``times`` one at a time (``b 3 h w`` each): its own
    ``estimates`` when it has one, else slices of one ``estimate`` call."""
    if hasattr(motion, "estimates"):
        yield from motion.estimates(frame0, frame1, times)
        return
    out = motion.estimate(frame0, frame1, times)
    for i in range(out.shape[2]):
        yield out[:, :, i]
