"""Training material: scene-cut-free segments of consecutive frames, from videos, folders or packs.

A :class:`Segment` is a uint8 ``n h w 3`` RGB array of consecutive source frames (downscaled so
the short side is at most ``frame_size``) plus each frame's time in units of the source's nominal
frame interval (``(t - t0) * fps``; integers for constant-rate video). Segments never span a scene
cut (:mod:`vidiff.scenes` judges consecutive frames).

Sources: a ``.npz`` pack (:mod:`.pack`, numpy only), a video file or GIF, a folder of frames, or a
folder holding videos and/or frame folders (e.g. ``shared/data/clips``). Decoding uses
:mod:`vidiff.io` (PyAV), imported only when a raw source is read, so training from a pack works
without PyAV. The evaluation sets (``middlebury``, ``ucf101``) are refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from vidiff.errors import InputError

EVALUATION_ONLY = ("middlebury", "ucf101")
VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".avi", ".gif", ".m4v", ".mpg", ".mpeg", ".ts"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
PACK_SUFFIX = ".npz"


@dataclass(frozen=True)
class Segment:
    frames: np.ndarray  # uint8 (n, h, w, 3)
    times: np.ndarray  # float64 (n,), nominal frame units, times[0] == 0
    source: str  # file or folder name it came from
    first_index: int  # source index of frames[0]

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def check_training_path(path: Path) -> None:
    """Refuse the evaluation-only sets (by any path component) and missing paths."""
    parts = {p.lower() for p in Path(path).resolve().parts} | {p.lower() for p in Path(path).parts}
    for name in EVALUATION_ONLY:
        if name in parts:
            raise InputError(
                f"--data {path}: {name} is an evaluation set and must never be used for training; "
                "train on shared/data/clips or shared/data/sequences"
            )
    if not Path(path).exists():
        raise InputError(f"--data {path} does not exist; pass videos, frame folders or a .npz pack")


def expand_sources(paths: Iterable[Path]) -> list[Path]:
    """Each path -> the packs, videos and frame folders it names, in a stable (sorted) order."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        check_training_path(path)
        if path.is_file():
            if path.suffix.lower() not in VIDEO_SUFFIXES | {PACK_SUFFIX}:
                raise InputError(
                    f"--data {path}: not a video ({', '.join(sorted(VIDEO_SUFFIXES))}) or .npz pack"
                )
            out.append(path)
            continue
        if _is_frame_folder(path):
            out.append(path)
            continue
        found = []
        for child in sorted(path.iterdir()):
            if child.name.startswith("."):
                continue
            if child.is_file() and child.suffix.lower() in VIDEO_SUFFIXES | {PACK_SUFFIX}:
                found.append(child)
            elif child.is_dir() and _is_frame_folder(child):
                check_training_path(child)
                found.append(child)
        if not found:
            raise InputError(f"--data {path}: no videos, frame folders or .npz packs inside")
        out.extend(found)
    return out


def _is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(
        c.is_file() and c.suffix.lower() in IMAGE_SUFFIXES for c in path.iterdir()
    )


def downscale(image: np.ndarray, frame_size: int) -> np.ndarray:
    """Area-downscale so the short side is at most ``frame_size`` (never upscale)."""
    h, w = image.shape[:2]
    scale = frame_size / min(h, w)
    if scale >= 1:
        return np.ascontiguousarray(image)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def decode_source(
    path: Path, frame_size: int, cut_threshold: float = 0.15, max_frames: int | None = None
) -> tuple[list[np.ndarray], np.ndarray, list[int]]:
    """Decode a video or frame folder: downscaled frames, times in frame units, cut positions.

    ``cuts`` lists indices ``i`` where a scene cut lies between frames ``i - 1`` and ``i``.
    """
    from vidiff.io import open_reader  # PyAV: imported only for raw sources
    from vidiff.scenes import SceneDetector, thumbnail

    detector = SceneDetector(cut_threshold=cut_threshold)
    frames: list[np.ndarray] = []
    stamps: list[Fraction] = []
    thumbs = []
    input_fps = Fraction(1) if path.is_dir() else None
    with open_reader(path, input_fps=input_fps) as reader:
        fps = reader.info.fps
        for frame in reader:
            image = frame.image
            thumbs.append(thumbnail(image))
            frames.append(downscale(image, frame_size))
            stamps.append(Fraction(frame.time))
            if max_frames is not None and len(frames) >= max_frames:
                break
    if not frames:
        raise InputError(f"--data {path}: no frames could be decoded")
    cuts = detector.cuts(thumbs)
    t0 = stamps[0]
    if fps is None or fps <= 0:
        deltas = sorted(b - a for a, b in zip(stamps, stamps[1:]) if b > a)
        fps = 1 / deltas[len(deltas) // 2] if deltas else Fraction(1)
    times = np.array([float((t - t0) * fps) for t in stamps], dtype=np.float64)
    return frames, times, cuts


def split_runs(n: int, cuts: Iterable[int]) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of ``n`` frames between scene cuts."""
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < n), n]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def choose_segments(
    runs: list[tuple[int, int]], segment_frames: int, min_frames: int, quota: int | None
) -> list[tuple[int, int]]:
    """Cut runs into segments of ``segment_frames`` (a shorter tail kept if >= ``min_frames``);
    with a frame ``quota``, keep evenly spread segments that fit in it (one shortened segment
    when the quota is below ``segment_frames``, none when it is below ``min_frames``)."""
    candidates = []
    for a, b in runs:
        for s in range(a, b, segment_frames):
            e = min(b, s + segment_frames)
            if e - s >= min_frames:
                candidates.append((s, e))
    if quota is None or sum(e - s for s, e in candidates) <= quota:
        return candidates
    if quota < min_frames:
        return []
    picks = np.linspace(0, len(candidates) - 1, max(1, quota // segment_frames) + 2)[1:-1]
    chosen, used = [], 0
    for i in np.unique(picks.round().astype(int)):
        s, e = candidates[i]
        e = min(e, s + quota - used)
        if e - s >= min_frames:
            chosen.append((s, e))
            used += e - s
    return chosen


def segments_from_source(
    path: Path,
    frame_size: int,
    segment_frames: int,
    min_frames: int,
    cut_threshold: float = 0.15,
) -> list[Segment]:
    """Decode one raw source into scene-cut-free segments."""
    frames, times, cuts = decode_source(path, frame_size, cut_threshold)
    out = []
    for s, e in choose_segments(split_runs(len(frames), cuts), segment_frames, min_frames, None):
        block = np.stack(frames[s:e])
        out.append(Segment(block, times[s:e] - times[s], path.name, s))
    return out
