"""Training packs: scene-cut-free segments in one compressed ``.npz`` (numpy only to read).

The GPU machine has no PyAV, so clips and frame folders are decoded here once, downscaled and
packed. Layout of the archive: ``frames_NNNNN`` uint8 ``n h w 3`` RGB and ``times_NNNNN`` float64
``n`` (nominal frame units, first 0) per segment, and ``index``: a JSON string
``{"format": "vidiff-train-pack", "version": 1, "settings": {...}, "segments": [{"source",
"first_index", "frames", "height", "width"}, ...]}``. No pickles: ``np.load(allow_pickle=False)``.

The budget (``max_mb`` of compressed file, estimated per source from one segment's zlib ratio)
is shared evenly between the sources (a source with fewer frames than its share gives the rest
to the others); within a source the kept segments are spread evenly over its length.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidiff.errors import InputError, OptionError, OutputError

from .segments import (
    EVALUATION_ONLY,
    PACK_SUFFIX,
    Segment,
    choose_segments,
    decode_source,
    expand_sources,
    segments_from_source,
    split_runs,
)

FORMAT = "vidiff-train-pack"
VERSION = 1


@dataclass(frozen=True)
class PackSummary:
    path: Path
    sources: int
    segments: int
    frames: int
    raw_bytes: int
    file_bytes: int


def write_pack(segments: list[Segment], path: Path, settings: dict | None = None) -> int:
    """Write ``segments`` to ``path`` (.npz) atomically; returns the file size in bytes."""
    path = Path(path)
    if path.suffix.lower() != PACK_SUFFIX:
        raise OutputError(f"pack output {path} must end in .npz")
    if not path.parent.is_dir():
        raise OutputError(f"pack output {path}: folder {path.parent} does not exist")
    index = {
        "format": FORMAT,
        "version": VERSION,
        "settings": settings or {},
        "segments": [
            {
                "source": s.source,
                "first_index": int(s.first_index),
                "frames": len(s),
                "height": int(s.frames.shape[1]),
                "width": int(s.frames.shape[2]),
            }
            for s in segments
        ],
    }
    arrays = {"index": np.array(json.dumps(index))}
    for i, seg in enumerate(segments):
        if seg.frames.dtype != np.uint8 or seg.frames.ndim != 4 or seg.frames.shape[3] != 3:
            raise OutputError(
                f"segment {i} must be uint8 (n, h, w, 3), got {seg.frames.dtype} {seg.frames.shape}"
            )
        arrays[f"frames_{i:05d}"] = seg.frames
        arrays[f"times_{i:05d}"] = np.asarray(seg.times, dtype=np.float64)
    tmp = path.with_name(f".{path.stem}.vidiff-tmp-{os.getpid()}{PACK_SUFFIX}")
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.stat().st_size


def read_pack(path: Path) -> list[Segment]:
    """Read every segment of a pack; :class:`InputError` if it is not a vidiff pack."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "index" not in archive.files:
                raise InputError(f"--data {path} is an .npz but not a vidiff training pack")
            index = json.loads(str(archive["index"]))
            if index.get("format") != FORMAT:
                raise InputError(f"--data {path} is an .npz but not a vidiff training pack")
            if index.get("version") != VERSION:
                raise InputError(
                    f"--data {path}: pack version {index.get('version')} is not {VERSION}; re-pack it"
                )
            out = []
            for i, meta in enumerate(index["segments"]):
                frames = archive[f"frames_{i:05d}"]
                times = archive[f"times_{i:05d}"]
                out.append(Segment(frames, times, meta["source"], int(meta["first_index"])))
    except InputError:
        raise
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise InputError(f"--data {path} cannot be read as a training pack: {exc}") from None
    return out


def pack_training_data(
    sources: Iterable[Path],
    out: Path,
    *,
    frame_size: int = 160,
    segment_frames: int = 20,
    min_frames: int = 8,
    cut_threshold: float = 0.15,
    max_mb: float = 40.0,
    log: Callable[[str], None] = print,
) -> PackSummary:
    """Decode ``sources`` (videos, frame folders, folders of them) and pack them into ``out``."""
    out = Path(out)
    for name, value in (
        ("frame_size", frame_size),
        ("segment_frames", segment_frames),
        ("min_frames", min_frames),
    ):
        if value < 1:
            raise OptionError(f"pack: --{name.replace('_', '-')} must be >= 1, got {value}")
    if max_mb <= 0:
        raise OptionError(f"pack: --max-mb must be positive, got {max_mb}")
    if not 0 < cut_threshold <= 1:
        raise OptionError(f"pack: --cut-threshold must be in (0, 1], got {cut_threshold}")
    paths = [p for p in expand_sources(sources) if p.suffix.lower() != PACK_SUFFIX]
    if not paths:
        raise InputError("pack: no videos or frame folders among the sources")
    decoded = []
    for path in paths:
        frames, times, cuts = decode_source(path, frame_size, cut_threshold)
        runs = split_runs(len(frames), cuts)
        spans = choose_segments(runs, segment_frames, min_frames, None)
        # budget in compressed bytes: this source's zlib ratio on 8 frames spread over it
        picks = np.linspace(0, len(frames) - 1, 8).round().astype(int)
        probe = np.stack([frames[i] for i in picks])
        frame_bytes = frames[0].nbytes * len(zlib.compress(probe.tobytes(), 6)) / probe.nbytes
        need = sum(e - s for s, e in spans) * frame_bytes
        log(
            f"pack: {path.name}: {len(frames)} frames, {len(cuts)} scene cut(s), "
            f"{frames[0].shape[1]}x{frames[0].shape[0]}"
        )
        decoded.append((path, frames, times, runs, need, frame_bytes))
    budget = max_mb * 1e6
    shares = _water_fill([d[4] for d in decoded], budget)
    segments = []
    for (path, frames, times, runs, _, frame_bytes), share in zip(decoded, shares):
        quota = int(share // frame_bytes)
        for s, e in choose_segments(runs, segment_frames, min_frames, quota):
            segments.append(Segment(np.stack(frames[s:e]), times[s:e] - times[s], path.name, s))
    if not segments:
        raise InputError("pack: no segment of at least min_frames frames between scene cuts")
    settings = {
        "frame_size": frame_size,
        "segment_frames": segment_frames,
        "min_frames": min_frames,
        "cut_threshold": cut_threshold,
        "max_mb": max_mb,
        "sources": [p.name for p in paths],
    }
    size = write_pack(segments, out, settings)
    raw = sum(s.frames.nbytes for s in segments)
    summary = PackSummary(out, len(paths), len(segments), sum(len(s) for s in segments), raw, size)
    log(
        f"pack: wrote {out}: {summary.segments} segments, {summary.frames} frames, "
        f"{raw / 1e6:.1f} MB raw, {size / 1e6:.1f} MB on disk"
    )
    return summary


def _water_fill(needs: list[float], budget: float) -> list[float]:
    """Split ``budget`` evenly; whoever needs less than a share passes the rest on."""
    shares = [0.0] * len(needs)
    left, order = budget, sorted(range(len(needs)), key=lambda i: needs[i])
    for k, i in enumerate(order):
        share = left / (len(order) - k)
        shares[i] = min(needs[i], share)
        left -= shares[i]
    return shares


def load_segments(
    paths: Iterable[Path],
    *,
    frame_size: int,
    segment_frames: int,
    min_frames: int,
    cut_threshold: float,
    max_bytes: float,
    log: Callable[[str], None] = print,
) -> list[Segment]:
    """All segments from ``paths`` (packs read as stored; raw sources decoded and split)."""
    segments: list[Segment] = []
    total = 0
    for path in expand_sources(paths):
        if path.suffix.lower() == PACK_SUFFIX:
            found = read_pack(path)
        else:
            found = segments_from_source(
                path, frame_size, segment_frames, min_frames, cut_threshold
            )
        for seg in found:
            if any(name in seg.source.lower() for name in EVALUATION_ONLY):
                raise InputError(f"--data {path} holds frames from {seg.source}, an evaluation set")
        total += sum(seg.frames.nbytes for seg in found)
        if total > max_bytes:
            raise InputError(
                f"--data: decoded frames exceed {max_bytes / 1e6:.0f} MB at {path}; pack the data "
                "first (tools/pack_training_data.py) or raise [data] max_decoded_mb"
            )
        log(f"data: {path.name}: {len(found)} segment(s), {sum(len(s) for s in found)} frames")
        segments.extend(found)
    if not segments:
        raise InputError("--data: no usable segments (every source was too short or cut up)")
    return segments
