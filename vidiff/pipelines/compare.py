"""Comparison frames: several videos shown together, labelled, at one frame rate.

Conventions: images are uint8 ``h w 3`` RGB, sizes ``(w, h)``, times exact ``Fraction`` seconds.
Nothing here opens a file: :func:`held` takes iterables of objects with ``.image`` and ``.time``
(such as :class:`vidiff.io.Frame`) and :func:`compose` takes images.

Layouts: ``side`` puts the panels in a row; ``grid`` in rows of ``ceil(sqrt(n))`` cells (each
cell as wide as the widest panel, padded with black on the right); ``wipe`` shows two inputs in one
frame, the first left of a vertical line at ``wipe`` (0..1 of the width) and the second right of
it. Every input is scaled to a common height first (keeping its aspect ratio). Each panel is
labelled: its top strip is darkened and the label drawn in white over it. ``diff`` adds a panel
with the absolute difference of the first two inputs, multiplied by ``diff_gain``.

Timing: output frame ``i`` shows time ``i / fps`` after each input's origin, and each input shows
its latest frame whose time is at or before that (a 24 fps input next to a 60 fps one is held, as
a player shows it; before an input's first frame, that first frame).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction

import cv2
import numpy as np

LAYOUTS = ("side", "wipe", "grid")
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_DARKEN = 0.3  # what is left of the picture under a label strip


def scale_to_height(image: np.ndarray, height: int) -> np.ndarray:
    """``image`` resized to ``height`` rows, its width scaled in proportion (at least 1)."""
    h, w = image.shape[:2]
    if h == height:
        return image
    width = max(1, round(w * height / h))
    method = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(image, (width, height), interpolation=method))


def strip_height(height: int) -> int:
    """Rows of the label strip of a panel ``height`` rows high."""
    return min(height, max(12, min(40, round(height * 0.08))))


def _fit(text: str, width: int, scale: float, thickness: int) -> str:
    text = text.encode("ascii", "replace").decode()  # Hershey fonts draw ASCII only
    while text and cv2.getTextSize(text, _FONT, scale, thickness)[0][0] > width:
        text = text[:-4] + "..." if len(text) > 4 else ""
    return text


def draw_label(image: np.ndarray, left: str, right: str | None = None) -> np.ndarray:
    """A copy of ``image`` with its top strip darkened and ``left`` (and ``right``, right-aligned)
    written on it in white."""
    out = image.copy()
    h, w = out.shape[:2]
    rows = strip_height(h)
    out[:rows] = (out[:rows].astype(np.float32) * _DARKEN).astype(np.uint8)
    (_, text_h), _ = cv2.getTextSize("Ag", _FONT, 1.0, 1)
    scale = 0.6 * rows / text_h
    thickness = max(1, round(scale * 1.6))
    pad = max(2, rows // 4)
    base = rows - (rows - round(text_h * scale)) // 2
    halves = [(left, "left")] + ([(right, "right")] if right else [])
    room = (w - 2 * pad) // len(halves) - pad
    for text, side in halves:
        text = _fit(text, room, scale, thickness)
        if not text:
            continue
        tw = cv2.getTextSize(text, _FONT, scale, thickness)[0][0]
        x = pad if side == "left" else w - pad - tw
        cv2.putText(out, text, (x, base), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def difference(a: np.ndarray, b: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """``|a - b| * gain``, clipped to 255; ``b`` is resized to ``a``'s size when they differ."""
    if b.shape != a.shape:
        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    diff = np.abs(a.astype(np.float32) - b.astype(np.float32)) * gain
    return np.ascontiguousarray(np.clip(np.rint(diff), 0, 255).astype(np.uint8))


def wipe_image(a: np.ndarray, b: np.ndarray, position: float) -> np.ndarray:
    """``a`` left of column ``round(position * width)``, ``b`` right of it, a white line there."""
    if b.shape != a.shape:
        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    w = a.shape[1]
    x = min(w, max(0, round(position * w)))
    out = np.concatenate([a[:, :x], b[:, x:]], axis=1)
    if 0 < x < w:
        out[:, x] = 255
    return out


def wipe_sweep(time: Fraction, period: float = 4.0) -> float:
    """A wipe position that goes from 0.1 to 0.9 and back every ``period`` seconds."""
    phase = (float(time) / period) % 1.0
    return 0.1 + 0.8 * (2 * phase if phase < 0.5 else 2 - 2 * phase)


def grid_shape(count: int) -> tuple[int, int]:
    """(columns, rows) of a grid of ``count`` cells."""
    cols = math.ceil(math.sqrt(count))
    return cols, math.ceil(count / cols)


def _row(panels: Sequence[np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate(list(panels), axis=1))


def _grid(panels: Sequence[np.ndarray]) -> np.ndarray:
    cols, rows = grid_shape(len(panels))
    h = panels[0].shape[0]
    cell_w = max(p.shape[1] for p in panels)
    out = np.zeros((rows * h, cols * cell_w, 3), np.uint8)
    for k, panel in enumerate(panels):
        r, c = divmod(k, cols)
        out[r * h : (r + 1) * h, c * cell_w : c * cell_w + panel.shape[1]] = panel
    return out


def compose(
    images: Sequence[np.ndarray],
    labels: Sequence[str],
    *,
    layout: str = "side",
    height: int | None = None,
    diff: bool = False,
    diff_gain: float = 4.0,
    wipe: float = 0.5,
) -> np.ndarray:
    """One comparison frame from one image per input (see the module docstring).

    ``height``: the common panel height (default: the first image's). ``wipe`` layout takes
    exactly two images. Raises ValueError for a layout or count that does not fit.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if layout == "wipe" and len(images) != 2:
        raise ValueError(f"the wipe layout takes exactly two inputs, got {len(images)}")
    if diff and len(images) < 2:
        raise ValueError("the difference panel needs two inputs")
    height = height or images[0].shape[0]
    scaled = [scale_to_height(img, height) for img in images]
    extra = []
    if diff:
        extra = [draw_label(difference(scaled[0], scaled[1], diff_gain), f"|A-B| x{diff_gain:g}")]
    if layout == "wipe":
        panel = draw_label(wipe_image(scaled[0], scaled[1], wipe), labels[0], labels[1])
        return _row([panel, *extra])
    panels = [draw_label(img, text) for img, text in zip(scaled, labels)] + extra
    return _row(panels) if layout == "side" else _grid(panels)


class Held:
    """The frames of one input, read just far enough to know which one shows at a time."""

    def __init__(self, frames: Iterable, origin: Fraction, end_time: Callable | None = None):
        self._it = iter(frames)
        self.origin = Fraction(origin)
        self._end_time = end_time or (lambda: None)
        self._next = next(self._it, None)
        if self._next is None:
            raise ValueError("an input has no frames in the stretch")
        self._current = self._next
        self._step = None

    def at(self, time: Fraction) -> np.ndarray:
        """The image showing ``time`` seconds after the origin."""
        while self._next is not None and self._next.time - self.origin <= time:
            if self._next is not self._current:
                self._step = self._next.time - self._current.time
            self._current = self._next
            self._next = next(self._it, None)
        return self._current.image

    def ended(self, time: Fraction, step: Fraction) -> bool:
        """True when the input has run out before ``time`` (after the origin); without a known
        end, its last frame lasts as long as the one before it (or ``step``)."""
        if self._next is not None:
            return False
        end = self._end_time()
        if end is None:
            end = self._current.time + (self._step or step)
        return time >= end - self.origin


def held(streams: Sequence[Held], fps: Fraction, end: Fraction | None = None) -> Iterator[list]:
    """One list of images (one per stream) for each output frame ``i`` at time ``i / fps``,
    until ``end`` (seconds after the origins) or until every stream has ended."""
    i = 0
    while True:
        time = Fraction(i) / fps
        if end is not None and time >= end:
            return
        images = [s.at(time) for s in streams]
        if all(s.ended(time, 1 / fps) for s in streams):
            return
        yield images
        i += 1
