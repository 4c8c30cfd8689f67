"""Overlapping tiles for networks that would not fit a big frame in memory at once.

Conventions: tensors are ``... h w`` (``b c h w`` frames, ``b c t h w`` windows): a tile crops the
last two dimensions only, so every input of one call is cut at the same place. A plan covers an
``h w`` frame with tiles at most ``tile_h x tile_w``; neighbours overlap by exactly ``overlap``
pixels, and every tile starts on a multiple of ``multiple`` (a network's total downsampling
factor: 8 for the refiner, 64 for the diffusion U-Net), so a tile's feature grid lines up with the
whole frame's. Only tiles at the frame's right/bottom edge may be smaller than the rest; they end
where the frame ends, so their padding is the whole frame's.

Blending: a tile's weight is a product of two 1D profiles. Along a side shared with a neighbour the
profile is 0 over the outer ``margin`` pixels (where the network saw the tile's padding instead of
the true surroundings: its receptive field), then rises along a raised cosine to 1 at
``overlap - margin``; sides on the frame's edge keep weight 1. Two neighbours' profiles add up to
exactly 1 across their overlap (``(1 - cos) / 2`` and ``(1 + cos) / 2``), so the weights are a
partition of unity and no seam is drawn by the blend itself; the result is still divided by the
weight sum, which keeps it exact where floats round.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import OptionError


@dataclass(frozen=True)
class Tile:
    index: int
    y: int
    x: int
    h: int
    w: int

    def crop(self, tensor: Tensor) -> Tensor:
        return tensor[..., self.y : self.y + self.h, self.x : self.x + self.w]


@dataclass(frozen=True)
class TilePlan:
    height: int
    width: int
    tiles: tuple[Tile, ...]
    overlap: int
    margin: int

    @property
    def single(self) -> bool:
        """One tile covering the whole frame: run the network directly."""
        return len(self.tiles) == 1

    @property
    def tile_pixels(self) -> int:
        """The largest tile's pixel count (what the memory budget was planned for)."""
        return max(t.h * t.w for t in self.tiles)


def _starts(length: int, tile: int, overlap: int, multiple: int) -> list[tuple[int, int]]:
    """``(start, size)`` along one axis: fewest tiles of at most ``tile`` px, overlap exact."""
    if tile >= length:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    step = -(-math.ceil((length - overlap) / n) // multiple) * multiple  # round up to multiple
    return [(i * step, min(step + overlap, length - i * step)) for i in range(n)]


def plan_tiles(
    height: int, width: int, tile_h: int, tile_w: int, *, overlap: int = 64, margin: int = 16,
    multiple: int = 8,
) -> TilePlan:
    """Cover ``height x width`` with tiles of at most ``tile_h x tile_w`` (see module docstring).

    ``tile_h``/``tile_w`` and ``overlap`` are rounded down/up to ``multiple``; a tile must be
    longer than the overlap by at least ``multiple`` and ``2 * margin`` along any axis that is
    split (so that every pixel gets a positive weight from some tile).
    """
    if multiple < 1 or overlap < 0 or not 0 <= 2 * margin <= overlap:
        raise OptionError(
            f"tiling needs multiple >= 1 and 0 <= 2 * margin <= overlap, got multiple {multiple}, "
            f"overlap {overlap}, margin {margin}"
        )
    overlap = -(-overlap // multiple) * multiple
    th = tile_h if tile_h >= height else tile_h // multiple * multiple
    tw = tile_w if tile_w >= width else tile_w // multiple * multiple
    least = overlap + max(multiple, 2 * margin)
    for name, size, length in (("height", th, height), ("width", tw, width)):
        if size < length and size < least:
            raise OptionError(
                f"tile {name} {size} px is too small for an overlap of {overlap} px "
                f"(need at least {least}): allow more memory"
            )
    tiles = []
    for y, h in _starts(height, th, overlap, multiple):
        for x, w in _starts(width, tw, overlap, multiple):
            tiles.append(Tile(len(tiles), y, x, h, w))
    return TilePlan(height, width, tuple(tiles), overlap, margin)


def single_plan(height: int, width: int) -> TilePlan:
    return TilePlan(height, width, (Tile(0, 0, 0, height, width),), 0, 0)


def _profile(size: int, ramp_start: bool, ramp_end: bool, overlap: int, margin: int) -> Tensor:
    """1D weights of one tile along one axis (float64, length ``size``)."""
    prof = torch.ones(size, dtype=torch.float64)
    ramp_len = overlap - 2 * margin
    pos = torch.arange(overlap, dtype=torch.float64)
    if ramp_len > 0:
        u = ((pos - margin + 0.5) / ramp_len).clamp(0.0, 1.0)
        rise = (1.0 - torch.cos(math.pi * u)) / 2
    else:  # no ramp: a hard cut in the middle of the overlap
        rise = (pos >= overlap / 2).to(torch.float64)
    if ramp_start:
        prof[:overlap] *= rise
    if ramp_end:
        prof[size - overlap :] *= rise.flip(0)
    return prof


def tile_weight(plan: TilePlan, tile: Tile) -> Tensor:
    """``h w`` float64 blend weight of ``tile`` in ``plan`` (see module docstring)."""
    o, m = plan.overlap, plan.margin
    wy = _profile(tile.h, tile.y > 0, tile.y + tile.h < plan.height, o, m)
    wx = _profile(tile.w, tile.x > 0, tile.x + tile.w < plan.width, o, m)
    return wy[:, None] * wx[None, :]


def run_tiled(fn: Callable[..., Tensor], inputs: Sequence[Tensor], plan: TilePlan) -> Tensor:
    """``fn(tile, *crops)`` on every tile, blended into one ``... h w`` output.

    Every input is ``... h w`` of the plan's size; ``fn`` returns ``... tile.h tile.w`` (same
    leading dimensions for every tile). One tile: ``fn`` on the whole inputs, nothing else.
    """
    for x in inputs:
        if tuple(x.shape[-2:]) != (plan.height, plan.width):
            raise OptionError(
                f"tiled input is {tuple(x.shape[-2:])}, the plan is for "
                f"{(plan.height, plan.width)}"
            )
    if plan.single:
        return fn(plan.tiles[0], *inputs)
    out = total = None
    for tile in plan.tiles:
        y = fn(tile, *(tile.crop(x) for x in inputs))
        if out is None:
            out = y.new_zeros(*y.shape[:-2], plan.height, plan.width)
            total = torch.zeros(plan.height, plan.width, dtype=torch.float64)
        weight = tile_weight(plan, tile)
        total[tile.y : tile.y + tile.h, tile.x : tile.x + tile.w] += weight
        tile.crop(out).add_(y * weight.to(y.device, y.dtype))
    return out.div_(total.to(out.device, out.dtype))
