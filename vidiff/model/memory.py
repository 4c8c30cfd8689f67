"""Memory budgets: how big a tile the refiner and the diffusion model may take at once.

A budget is a number of bytes for one call of the model (one pair for the refiner, one window for
the diffusion model). What a call needs is modelled as linear in pixels::

    need = FIXED + frame_cost * pixels_of_frame * n + tile_cost * pixels_of_tile * n

``n`` is the number of frames the network sees at once (the batch for the refiner, batch x window
frames for the diffusion model); ``frame_cost`` covers the whole-frame tensors around the network
(frames, flows, warps, the network's input, the sampler's state, the blend's accumulators) and
``tile_cost`` the network's activations per pixel of a tile. The costs are measured, not guessed:
``python tools/measure_memory.py --write`` runs each part at two sizes in fresh processes and
keeps the slope of the peak (resident memory on the CPU, ``max_memory_allocated`` on CUDA) here.
The largest tile that fits is then planned by :func:`vidiff.model.tiling.plan_tiles`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

from ..errors import OptionError
from .tiling import TilePlan, plan_tiles, single_plan

# BEGIN MEASURED: bytes per pixel (per frame seen at once); tools/measure_memory.py --write
COSTS = {
    "refiner_tile": 582,
    "refiner_frame": 200,
    "denoiser_tile": 36,
    "denoiser_frame": 143,
}
MEASURED = '2026-11-30, cpu, torch 2.13.0+cpu: python tools/measure_memory.py --device cpu --write'
# END MEASURED

FIXED = 64 * 2**20  # weights, workspaces and allocator slack not proportional to pixels
MIN_BUDGET = 64 * 2**20
CPU_DEFAULT_CAP = 4 * 2**30
REFINER_TILING = {"overlap": 64, "margin": 16, "multiple": 8}
"""The 4-level refiner's receptive field is about 60 px: with 64 px overlaps and 16 px discarded
at each tile's inner edges, tiled matches untiled to ~1e-4 (tests/test_tiling.py). A refiner
with another downsampling factor scales all three with it (:func:`refiner_tiling`)."""


def refiner_tiling(factor: int = 8) -> dict[str, int]:
    """Tiling of a refiner that downsamples ``factor`` times: its receptive field, and with it
    the margin and overlap, grows in proportion (each level adds two 3x3 convs at its stride)."""
    scale = max(1, factor // REFINER_TILING["multiple"])
    return {"overlap": REFINER_TILING["overlap"] * scale, "margin": REFINER_TILING["margin"] * scale,
            "multiple": max(factor, REFINER_TILING["multiple"])}


DENOISER_TILING = {"overlap": 128, "margin": 32, "multiple": 64}
"""The diffusion U-Net downsamples 64x (stem 4, four 2x levels); its GroupNorms see a tile's
statistics instead of the frame's, so it matches untiled less exactly than the refiner."""


@dataclass(frozen=True)
class Budget:
    """Bytes one model call may hold. ``strict=False`` marks a default the user did not ask for:
    a frame whose whole-frame tensors alone exceed it gets the smallest tiles instead of an
    error (an explicit ``--max-memory`` that cannot be met is an error that says what would)."""

    bytes: int
    strict: bool = True
    calls: int = 1  # model calls that share the user's budget (segments made at once)

    def share(self, calls: int) -> Budget:
        """The budget of one of ``calls`` model calls running at once."""
        calls = max(1, int(calls))
        return Budget(self.bytes // calls, self.strict, self.calls * calls)


def check_budget(value, name: str = "max_memory") -> int | Budget | None:
    """``None`` (the device's default), a :class:`Budget`, or a whole number of bytes >=
    :data:`MIN_BUDGET`."""
    if value is None or isinstance(value, Budget):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise OptionError(f"{name} must be a whole number of bytes, got {value!r}")
    if value < MIN_BUDGET:
        raise OptionError(f"{name} must be at least 64M, got {format_bytes(value)}")
    return value


def format_bytes(n: float) -> str:
    for unit, size in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}".replace(".0" + unit, unit)
    return f"{int(n)}B"


def default_budget(device: torch.device) -> int:
    """What one model call may use when no budget is given: 60% of the free memory of a CUDA
    device, half of Apple's recommended working set on MPS, and on the CPU half the available
    RAM, at most :data:`CPU_DEFAULT_CAP` (tiling costs little time; swapping costs a lot)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(MIN_BUDGET, int(free * 0.6))
    if device.type == "mps" and hasattr(torch, "mps"):
        recommended = getattr(torch.mps, "recommended_max_memory", None)
        if recommended is not None:
            return max(MIN_BUDGET, int(recommended() * 0.5))
    return max(MIN_BUDGET, min(CPU_DEFAULT_CAP, available_ram() // 2))


def available_ram() -> int:
    """Available physical memory in bytes (``MemAvailable`` on Linux, else the total)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def plan_for(
    part: str, height: int, width: int, frames: int, budget: int | Budget | None, costs=None,
    factor: int = 8,
) -> TilePlan:
    """The tiles ``part`` ("refiner" or "denoiser") needs for ``frames`` frames of
    ``height x width`` within ``budget`` (bytes, strict; ``None``: no limit, one tile);
    ``factor``: the refiner's downsampling (``RefinerConfig.factor``)."""
    if budget is None:
        return single_plan(height, width)
    if not isinstance(budget, Budget):
        budget = Budget(budget)
    strict, calls, budget = budget.strict, budget.calls, budget.bytes
    costs = costs or COSTS
    tiling = refiner_tiling(factor) if part == "refiner" else DENOISER_TILING
    tile_cost, frame_cost = costs[f"{part}_tile"] * frames, costs[f"{part}_frame"] * frames
    free = budget - FIXED - frame_cost * height * width
    pixels = max(0, free) // tile_cost
    if pixels >= height * width:
        return single_plan(height, width)
    least = tiling["overlap"] + max(tiling["multiple"], 2 * tiling["margin"])
    least = -(-least // tiling["multiple"]) * tiling["multiple"]
    if pixels < least * least and not strict:  # the frame alone is over: tiles of a quarter
        pixels = max(least * least, budget // 4 // tile_cost)
    elif pixels < least * least:
        need = FIXED + frame_cost * height * width + tile_cost * least * least
        shared = f" ({calls} frames made at once)" if calls > 1 else ""
        raise OptionError(
            f"--max-memory {format_bytes(budget * calls)} is too small for the {part} on "
            f"{width}x{height} frames{shared}: it needs at least {format_bytes(need * calls)}"
        )
    side = max(least, math.isqrt(pixels))
    tile_h = min(height, side)
    tile_w = min(width, max(least, pixels // max(1, tile_h)))
    if tile_w >= width:  # whole rows fit: make the tiles as tall as the pixels allow
        tile_h = min(height, max(least, pixels // width))
    return plan_tiles(height, width, tile_h, tile_w, **tiling)
