"""Frame-level API: interpolate frames held in memory (numpy uint8 ``h w 3`` RGB)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..device import resolve_device
from ..errors import OptionError
from ..timebase import parse_rate
from ..timing import resolve_output_rate
from .interpolate import Interpolator
from .weights import resolve_model


@dataclass(frozen=True)
class _MemFrame:
    image: np.ndarray
    time: Fraction


def check_image(image, name: str) -> np.ndarray:
    """Validate one uint8 ``h w 3`` frame given to the Python API."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise OptionError(
            f"{name} must be a uint8 array of shape (height, width, 3), got {arr.dtype} {arr.shape}"
        )
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise OptionError(f"{name} is too small to interpolate: {arr.shape[1]}x{arr.shape[0]}")
    return arr


def make_interpolator(
    *, steps=None, weights=None, device="auto", seed=0, sampler=None, motion=None, refine=None,
    max_memory=None, ensemble=None, **kwargs,
) -> Interpolator:
    """An :class:`Interpolator` with weights resolved (:func:`.weights.resolve_model`): the
    refiner when the weights hold one (``refine=False``: not; ``ensemble``: averaged over those
    symmetries of the pair, :class:`vidiff.model.refined_motion.RefinedMotion`), and
    ``steps=None`` diffusion steps by default (4 when the weights hold a diffusion model, else 0). ``max_memory`` (bytes,
    ``None``: the device's default) is shared by the segments made at once (``workers``)."""
    dev = resolve_device(device)
    model = resolve_model(steps, weights, dev, sampler, seed, refine, max_memory, ensemble)
    budget = model.call_budget(kwargs.get("workers", 2))
    return Interpolator(
        motion=model.motion(motion, budget), denoiser=model.denoiser, steps=model.steps,
        sampler=sampler, seed=seed, device=dev, max_memory=budget, **kwargs,
    )


def interpolate_pair(
    frame0, frame1, times: Sequence[float] = (0.5,), *, steps=None, weights=None,
    device="auto", seed: int = 0, sampler=None, refine=None, max_memory=None, ensemble=None,
) -> list[np.ndarray]:
    """Frames at fractional ``times`` in (0, 1) between two frames.

    >>> mid, = interpolate_pair(a, b)                  # the middle frame
    >>> thirds = interpolate_pair(a, b, (1/3, 2/3))    # two in-between frames

    ``max_memory``: bytes the model may hold (big frames are tiled to fit; ``None``: a share of
    the device's free memory).
    """
    a = check_image(frame0, "frame0")
    b = check_image(frame1, "frame1")
    if a.shape != b.shape:
        raise OptionError(f"frame0 and frame1 differ in size: {a.shape} vs {b.shape}")
    times = [float(t) for t in times]
    for t in times:
        if not 0.0 < t < 1.0:
            raise OptionError(f"times must lie strictly between 0 and 1, got {t}")
    interp = make_interpolator(
        steps=steps, weights=weights, device=device, seed=seed, sampler=sampler, refine=refine,
        max_memory=max_memory, ensemble=ensemble, workers=1,
    )
    return interp.between(a, b, times)


def interpolate_frames(
    frames: Iterable, *, input_fps=None, fps=None, multi: int | None = None, steps=None,
    weights=None, device="auto", seed: int = 0, sampler=None, times: Sequence | None = None,
    refine=None, max_memory=None, ensemble=None,
) -> Iterator[np.ndarray]:
    """Stream a sequence of in-memory frames at a new rate (``fps`` or ``multi`` x input).

    Frames are taken at ``i / input_fps`` (default 1, so ``multi=2`` doubles them), or at the
    given ``times`` in seconds. Scene cuts and duplicate frames are handled as in
    :func:`vidiff.interpolate_video`.
    """
    in_rate = parse_rate(input_fps, "input_fps") if input_fps is not None else Fraction(1)
    out_rate = resolve_output_rate(
        parse_rate(fps, "fps") if fps is not None else None, multi, in_rate
    )
    interp = make_interpolator(
        steps=steps, weights=weights, device=device, seed=seed, sampler=sampler, refine=refine,
        max_memory=max_memory, ensemble=ensemble,
    )

    def items():
        shape = None
        for i, image in enumerate(frames):
            arr = check_image(image, f"frame {i}")
            if shape is not None and arr.shape != shape:
                raise OptionError(f"frame {i} is {arr.shape}, unlike the first frame {shape}")
            shape = arr.shape
            t = Fraction(times[i]) if times is not None else Fraction(i) / in_rate
            yield _MemFrame(arr, t)

    end = None
    if times is None:
        count = [0]

        def counted():
            for item in items():
                count[0] += 1
                yield item

        yield from interp.run(counted(), out_rate, lambda: Fraction(count[0]) / in_rate)
        return
    yield from interp.run(items(), out_rate, lambda: end)
