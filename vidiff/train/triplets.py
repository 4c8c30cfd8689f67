"""Triplet packs for the refiner: crops of (frame0, target, frame1) with the motion step's flows.

A sample is what the refiner sees at inference, for one in-between time: the two input frames, the
true frame at time ``t`` between them and the DIS flows both ways, computed by
:class:`vidiff.motion.FlowMotion` on the *whole* frame (reduced and upsampled exactly as at
inference) and then cropped. Storing the flows makes a training step pure tensor work.

Layout (a folder, numpy only to read, memory-mapped): ``frames.npy`` uint8 ``n 3 h w 3`` (frame0,
target, frame1; RGB), ``flows.npy`` float16 ``n 4 h w`` (flow 0->1 then 1->0, dx dy, pixels),
``times.npy`` float32 ``n`` (the target's time: in (0, 1) for interpolation; above 1 in a
prediction pack, :mod:`.predict_pack`), ``holdout.npy`` bool ``n`` and
``index.json`` (format, version, sources, per-sample source ids in ``sources.npy``); optionally
``frame_stats.npy`` float32 ``n 3``: :func:`vidiff.model.refiner.frame_stats` of the *whole*
frame each crop was cut from, at the sample's time (footage packs; a synthetic scene is its own
crop), so that a refiner with a frame summary learns from what it will see at inference;
optionally ``true_flows.npy`` float16 ``n 4 h w``: the true flows from the target's time to
frame0 and to frame1 (dx dy, pixels, as the flows to ``t`` are laid out), NaN where unknown
(hidden in that frame, outside it, or on a soft edge): synthetic packs, whose motion is exact;
optionally ``alt_flows.npy`` float16 ``n 4 h w``: the motion step's second flow (Farneback's, 0->1
then 1->0) before its per-pixel choice (:meth:`vidiff.motion.FlowMotion.full_flow_candidates`),
for a refiner that chooses again (``RefinerConfig.alternate``); ``flows.npy`` holds the chosen ones;
optionally ``history.npy`` float16 ``n 2 h w``: a prediction pack's backtest of the pair's motion
on the frame before it (:func:`vidiff.motion.history.history_input`: the best factor, and 1 where
there was a frame before), for a predictor that sees it (``RefinerConfig.history``).

Crops are chosen where there is something to learn: each kept crop has motion between its inputs
and a target that is not just one of them held, and of every pair of crops per triplet one is the candidate where the motion estimate is most wrong
(hard examples) and one is random. The candidates are drawn before the flows: a pair none of whose
candidates moves costs no flow (:func:`moving_corners`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from vidiff.errors import InputError, OutputError
from vidiff.motion.blend import flows_to_time

FORMAT = "vidiff-triplets"
VERSION = 1
FILES = ("frames", "flows", "times", "holdout", "sources")
OPTIONAL = ("frame_stats", "true_flows", "alt_flows", "history")


@dataclass
class Triplets:
    """A loaded pack (arrays may be memory-mapped)."""

    frames: np.ndarray  # uint8 n 3 h w 3
    flows: np.ndarray  # float16 n 4 h w
    times: np.ndarray  # float32 n
    holdout: np.ndarray  # bool n
    sources: np.ndarray  # int32 n
    names: list[str]
    frame_stats: np.ndarray | None = None  # float32 n 3, or None: the whole frame's (see above)
    true_flows: np.ndarray | None = None  # float16 n 4 h w, or None: the true flows to t
    alt_flows: np.ndarray | None = None  # float16 n 4 h w, or None: the second flow's pair
    history: np.ndarray | None = None  # float16 n 2 h w, or None: the backtest (prediction)

    def __len__(self) -> int:
        return int(self.times.shape[0])


def read_triplets(path: Path, mmap: bool = True) -> Triplets:
    path = Path(path)
    index_file = path / "index.json"
    if not index_file.is_file():
        raise InputError(f"{path} is not a triplet pack (no index.json); make one with "
                         "tools/make_triplets.py")
    index = json.loads(index_file.read_text())
    if index.get("format") != FORMAT or index.get("version") != VERSION:
        raise InputError(f"{path}: not a {FORMAT} version {VERSION} pack")
    arrays = {k: np.load(path / f"{k}.npy", mmap_mode="r" if mmap else None)
              for k in FILES + OPTIONAL if k in FILES or (path / f"{k}.npy").is_file()}
    return Triplets(names=list(index["sources"]), **arrays)


class TripletWriter:
    """Append samples, then :meth:`close` writes the folder (atomically: temp name, rename).

    Each sample goes to disk as it is added (one raw file per array in the temporary folder), so
    a build holds one sample in memory whatever the pack's size; :meth:`close` turns the raw files
    into ``.npy`` files (the same bytes as ``np.save`` of the stacked samples). Use it as a context
    manager: leaving the block without :meth:`close` (an error, Ctrl-C) removes the temporary
    folder (``.NAME.vidiff-tmp-PID`` beside the pack), so a failed build leaves nothing behind; a
    process killed outright (SIGTERM, SIGKILL) can leave that hidden folder, never read as a pack.
    """

    def __init__(self, path: Path, crop: int, settings: dict | None = None):
        self.path = Path(path)
        if self.path.exists():
            raise OutputError(f"{self.path} exists; remove it or choose another --out")
        self.crop = crop
        self.settings = settings or {}
        self.names: list[str] = []
        self.count = 0
        self.tmp: Path | None = self.path.with_name(
            f".{self.path.name}.vidiff-tmp-{os.getpid()}")
        self.tmp.mkdir(parents=True)
        self.files: dict[str, BinaryIO] = {}
        self.layout: dict[str, tuple[tuple[int, ...], np.dtype]] = {}  # one sample's shape, dtype

    def __enter__(self) -> TripletWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()

    def discard(self) -> None:
        """Remove the temporary folder (nothing, once :meth:`close` has renamed it)."""
        for f in self.files.values():
            f.close()
        self.files.clear()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _write(self, arrays: dict[str, np.ndarray]) -> None:
        """One sample's arrays, all checked against the first sample's shapes before any is
        written, so that a refused sample leaves the files as they were."""
        for name, value in arrays.items():
            if name in self.layout and value.shape != self.layout[name][0]:
                raise ValueError(f"TripletWriter: {name} has shape {value.shape}, the first "
                                 f"sample's {self.layout[name][0]}")
        for name, value in arrays.items():
            if name not in self.files:
                self.layout[name] = (value.shape, value.dtype)
                # closed by close() or discard()
                self.files[name] = open(self.tmp / f"{name}.raw", "wb")  # noqa: SIM115
            self.files[name].write(value.tobytes())

    def add(self, source: str, frames: np.ndarray, flows: np.ndarray, t: float, holdout: bool,
            frame_stats: np.ndarray | None = None, true_flows: np.ndarray | None = None,
            alt_flows: np.ndarray | None = None, history: np.ndarray | None = None):
        if self.tmp is None:
            raise ValueError("TripletWriter: closed")
        for name, value in (("frame_stats", frame_stats), ("true_flows", true_flows),
                            ("alt_flows", alt_flows), ("history", history)):
            if (value is None) != (name not in self.files) and len(self):
                raise ValueError(f"TripletWriter: {name} for every sample or for none")
        for name, value in (("true_flows", true_flows), ("alt_flows", alt_flows)):
            if value is not None and value.shape != flows.shape:
                raise ValueError(f"TripletWriter: {name} must be laid out as the flows")
        if history is not None and history.shape != (2, *flows.shape[1:]):
            raise ValueError("TripletWriter: history must be 2 h w, the size of the flows")
        arrays = {"frames": np.ascontiguousarray(frames, np.uint8),
                  "flows": np.ascontiguousarray(flows, np.float16),
                  "times": np.asarray(t, np.float32), "holdout": np.asarray(bool(holdout)),
                  "sources": np.asarray(self.names.index(source) if source in self.names
                                        else len(self.names), np.int32)}
        if frame_stats is not None:
            arrays["frame_stats"] = np.asarray(frame_stats, np.float32).reshape(3)
        for name, value in (("true_flows", true_flows), ("alt_flows", alt_flows),
                            ("history", history)):
            if value is not None:
                arrays[name] = np.ascontiguousarray(value, np.float16)
        self._write(arrays)
        if source not in self.names:
            self.names.append(source)
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def close(self) -> Path:
        if self.tmp is None:
            raise ValueError("TripletWriter: closed")
        if not self.count:
            self.discard()
            raise InputError("no triplet samples were made (sources too short or static)")
        for name, f in self.files.items():
            f.close()
            shape, dtype = self.layout[name]
            header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                      "shape": (self.count, *shape)}
            raw = self.tmp / f"{name}.raw"
            with open(self.tmp / f"{name}.npy", "wb") as out, open(raw, "rb") as data:
                np.lib.format.write_array_header_1_0(out, header)
                shutil.copyfileobj(data, out, 1 << 24)
            raw.unlink()
        self.files.clear()
        index = {"format": FORMAT, "version": VERSION, "sources": self.names,
                 "samples": len(self), "crop": self.crop, "settings": self.settings}
        (self.tmp / "index.json").write_text(json.dumps(index, indent=1))
        os.replace(self.tmp, self.path)
        self.tmp = None
        return self.path


def full_flows(motion, frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
    """``4 h w`` float32: flows 0->1 and 1->0 at full size, made exactly as at inference."""
    return full_flow_candidates(motion, frame0, frame1)[0]


def full_flow_candidates(motion, frame0: np.ndarray,
                         frame1: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(chosen, second)``: :func:`full_flows` and the second flow's own pair (``4 h w``
    float32; ``None`` when ``motion`` has no second flow), as
    :meth:`vidiff.motion.FlowMotion.full_flow_candidates` makes them."""
    f0 = torch.from_numpy(frame0).permute(2, 0, 1)[None].float() / 255
    f1 = torch.from_numpy(frame1).permute(2, 0, 1)[None].float() / 255
    chosen, second = motion.full_flow_candidates(f0, f1)
    return chosen[0].numpy(), None if second is None else second[0].numpy()


def to_tensors(frames: np.ndarray, flows: np.ndarray, times: np.ndarray) -> dict:
    """Stacked samples -> ``frame0``, ``target``, ``frame1`` (b 3 h w), ``flow_t0``, ``flow_t1``,
    ``flows`` (b 4 h w: the full flows 0->1 and 1->0), ``t`` (b,)."""
    img = torch.from_numpy(frames).permute(1, 0, 4, 2, 3).float() / 255.0
    t = torch.from_numpy(np.asarray(times, dtype=np.float32))
    fl = torch.from_numpy(flows).float()
    ft0, ft1 = flows_to_time(fl[:, :2], fl[:, 2:], t)
    return {"frame0": img[0], "target": img[1], "frame1": img[2], "flow_t0": ft0, "flow_t1": ft1,
            "flows": fl, "t": t}


def pair_tensors(frame0: np.ndarray, frame1: np.ndarray, flows: np.ndarray):
    """``h w 3`` uint8 frames and ``4 h w`` flows -> ``1 3 h w`` floats in [0, 1] and ``1 4 h w``."""
    f0 = torch.from_numpy(frame0).permute(2, 0, 1)[None].float() / 255
    f1 = torch.from_numpy(frame1).permute(2, 0, 1)[None].float() / 255
    return f0, f1, torch.from_numpy(np.ascontiguousarray(flows, dtype=np.float32))[None]


def estimate_from_flows(frame0: np.ndarray, frame1: np.ndarray, flows: np.ndarray, t: float):
    """The motion estimate (``h w 3`` float32 in [0, 1]) at ``t`` from stored flows; past frame1
    (``t > 1``, prediction) it is frame1 carried on by the flow, as :class:`FlowMotion` does."""
    from vidiff.motion import FlowMotionConfig
    from vidiff.motion.blend import blend_warped

    f0, f1, fl = pair_tensors(frame0, frame1, flows)
    ft0, ft1 = flows_to_time(fl[:, :2], fl[:, 2:], t)
    s = min(max(t, 0.0), 1.0)
    mode = FlowMotionConfig.warp if 0.0 < t < 1.0 else FlowMotionConfig.warp_ahead
    mu = blend_warped(f0, f1, ft0, ft1, 1.0 - s, s, mode=mode)
    return mu[0].permute(1, 2, 0).numpy()


def whole_frame_stats(frame0: np.ndarray, frame1: np.ndarray, flows: np.ndarray, t: float):
    """``3`` float32: :func:`vidiff.model.refiner.frame_stats` of a whole pair (``h w 3`` uint8,
    flows ``4 h w``) at ``t``, warped as the motion step warps."""
    from vidiff.model.refiner import warped_stats
    from vidiff.motion import FlowMotionConfig

    f0, f1, fl = pair_tensors(frame0, frame1, flows)
    ft0, ft1 = flows_to_time(fl[:, :2], fl[:, 2:], t)
    return warped_stats(f0, f1, ft0, ft1, FlowMotionConfig.warp)[0].numpy()


def estimate_and_stats(frame0: np.ndarray, frame1: np.ndarray, flows: np.ndarray, t: float):
    """``(mu, stats)`` of a pair at one time inside (0, 1): :func:`estimate_from_flows` and
    :func:`whole_frame_stats`, equal to theirs to the bit, warping the two frames once for both."""
    from vidiff.model.refiner import frame_stats
    from vidiff.motion import FlowMotionConfig
    from vidiff.motion.warp import backward_warp

    if not 0.0 < t < 1.0:
        raise ValueError(f"estimate_and_stats: t = {t} is not inside (0, 1)")
    f0, f1, fl = pair_tensors(frame0, frame1, flows)
    ft0, ft1 = flows_to_time(fl[:, :2], fl[:, 2:], t)
    warp0 = backward_warp(f0, ft0, mode=FlowMotionConfig.warp)
    warp1 = backward_warp(f1, ft1, mode=FlowMotionConfig.warp)
    stats = frame_stats(f0, f1, warp0, warp1, ft0, ft1)[0].numpy()
    mu = warp0.lerp_(warp1, t / ((1.0 - t) + t))  # as blend_warped weighs 1 - t and t
    return mu[0].permute(1, 2, 0).numpy(), stats


HOLD_RATIO = 0.2


def is_hold(frame0: np.ndarray, target: np.ndarray, frame1: np.ndarray) -> bool:
    """True when the target is (nearly) one of its inputs although the inputs differ: a held
    frame (film telecine, animation on twos, a frame-rate conversion's duplicates, a frozen
    countdown). Its true time is not ``t``, so no interpolator can learn from it: such samples
    were 14% of the footage and kept the refiner from learning at all."""
    f0, gt, f1 = (x.astype(np.int16) for x in (frame0, target, frame1))
    d01 = np.abs(f0 - f1).mean()
    return bool(min(np.abs(gt - f0).mean(), np.abs(gt - f1).mean()) < HOLD_RATIO * d01)


def moving_corners(
    frame0, target, frame1, crop: int, rng: np.random.Generator, candidates: int = 8,
    min_motion: float = 2.0, skip_holds: bool = True,
) -> list[tuple[int, int]]:
    """The random candidate corners whose crop moves and is not a held frame: the frames alone
    decide, so that a pack maker skips the flows of a pair with none (:func:`choose_crops`)."""
    h, w = frame0.shape[:2]
    if h < crop or w < crop:
        return []
    diff = np.abs(frame0.astype(np.int16) - frame1.astype(np.int16)).mean(2)
    corners = [(int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1)))
               for _ in range(candidates)]
    return [
        (y, x) for y, x in corners
        if diff[y : y + crop, x : x + crop].mean() >= min_motion
        and not (skip_holds and is_hold(frame0[y : y + crop, x : x + crop], target[y : y + crop, x : x + crop],
                        frame1[y : y + crop, x : x + crop]))
    ]


def pick_crops(moving: list[tuple[int, int]], target, mu, crop: int,
               rng: np.random.Generator) -> list[tuple[int, int]]:
    """Of :func:`moving_corners`, the one where mu is most wrong and a random other one."""
    if not moving:
        return []
    err = np.abs(mu * 255.0 - target.astype(np.float32)).mean(2)
    scores = [err[y : y + crop, x : x + crop].mean() for y, x in moving]
    hard = moving[int(np.argmax(scores))]
    rest = [c for c in moving if c != hard]
    return [hard] + ([rest[int(rng.integers(len(rest)))]] if rest else [])


def choose_crops(
    frame0, target, frame1, mu, crop: int, rng: np.random.Generator, candidates: int = 8,
    min_motion: float = 2.0, skip_holds: bool = True,
) -> list[tuple[int, int]]:
    """Up to two crop corners: the candidate where mu is most wrong, and a random one with motion.

    ``min_motion``: mean absolute difference (0..255) between the inputs below which a crop is
    static and skipped; crops whose target is a held input (:func:`is_hold`) are skipped too,
    unless ``skip_holds`` is false (prediction packs keep both: ``min_motion=0``).
    """
    moving = moving_corners(frame0, target, frame1, crop, rng, candidates, min_motion, skip_holds)
    return pick_crops(moving, target, mu, crop, rng)


def triplet_plan(n: int, spacings: Iterable[int], rng: np.random.Generator) -> Iterator[tuple]:
    """``(i0, i_target, i1)`` index triplets of a run of ``n`` frames: for each pair spacing D,
    pairs ``(i, i + D)`` every ``max(1, D // 2)`` frames, target a random frame strictly inside."""
    for d in spacings:
        for i in range(0, n - d, max(1, d // 2)):
            yield i, i + int(rng.integers(1, d)), i + d


def add_segment_triplets(
    writer: TripletWriter, motion, frames: np.ndarray, times: np.ndarray, source: str,
    holdout: bool, spacings: Iterable[int], crop: int, rng: np.random.Generator,
) -> int:
    """Add the samples of one scene-cut-free run of frames; returns how many were added."""
    added = 0
    for i0, it, i1 in triplet_plan(len(frames), spacings, rng):
        t = float((times[it] - times[i0]) / (times[i1] - times[i0]))
        if not 0.0 < t < 1.0:
            continue
        f0, gt, f1 = frames[i0], frames[it], frames[i1]
        moving = moving_corners(f0, gt, f1, crop, rng)
        if not moving:  # still or held everywhere it looked: no flows needed (the slow part)
            continue
        flows, alt = full_flow_candidates(motion, f0, f1)
        mu, stats = estimate_and_stats(f0, f1, flows, t)
        for y, x in pick_crops(moving, gt, mu, crop, rng):
            sl = (slice(y, y + crop), slice(x, x + crop))
            writer.add(source, np.stack([f0[sl], gt[sl], f1[sl]]), flows[:, sl[0], sl[1]], t,
                       holdout, stats, alt_flows=None if alt is None else alt[:, sl[0], sl[1]])
            added += 1
    return added


def make_footage_triplets(
    sources: list[Path], out: Path, *, frame_size: int = 480, crop: int = 128,
    spacings: tuple[int, ...] = (2, 3, 4), holdout_every: int = 10, chunk: int = 24,
    seed: int = 0, log: Callable[[str], None] = print,
) -> Path:
    """Triplet pack from videos and frame folders (decoded with PyAV, split at scene cuts).

    Runs between cuts are cut into chunks of ``chunk`` frames; every ``holdout_every``-th chunk
    is held out (its samples are marked, for validation)."""
    from vidiff.motion import FlowMotion

    from .segments import decode_source, expand_sources, split_runs

    rng = np.random.default_rng(seed)
    motion = FlowMotion()
    settings = {"frame_size": frame_size, "spacings": list(spacings),
                "holdout_every": holdout_every, "chunk": chunk, "seed": seed}
    run_index = 0
    with TripletWriter(out, crop, settings) as writer:
        for path in expand_sources(sources):
            frames, times, cuts = decode_source(path, frame_size)
            made = 0
            for a, b in split_runs(len(frames), cuts):
                for s in range(a, b, chunk):  # chunks, so that every source has held-out stretches
                    e = min(b, s + chunk)
                    holdout = holdout_every > 0 and run_index % holdout_every == holdout_every - 1
                    made += add_segment_triplets(writer, motion, np.stack(frames[s:e]),
                                                 times[s:e], path.name, holdout, spacings, crop,
                                                 rng)
                    run_index += 1
            log(f"triplets: {path.name}: {len(frames)} frames, {made} samples")
        return writer.close()


def filter_triplets(source: Path, out: Path, keep: Callable[[np.ndarray], bool]) -> tuple[int, int]:
    """Copy the samples of pack ``source`` for which ``keep(frames)`` holds into pack ``out``;
    returns (kept, total)."""
    pack = read_triplets(source)
    index = json.loads((Path(source) / "index.json").read_text())
    with TripletWriter(out, index["crop"], {**index.get("settings", {}),
                                            "filtered_from": str(source)}) as writer:
        for i in range(len(pack)):
            frames = np.asarray(pack.frames[i])
            if keep(frames):
                writer.add(pack.names[int(pack.sources[i])], frames, np.asarray(pack.flows[i]),
                           float(pack.times[i]), bool(pack.holdout[i]),
                           None if pack.frame_stats is None else pack.frame_stats[i],
                           None if pack.true_flows is None else np.asarray(pack.true_flows[i]),
                           None if pack.alt_flows is None else np.asarray(pack.alt_flows[i]),
                           None if pack.history is None else np.asarray(pack.history[i]))
        writer.close()
    return len(writer), len(pack)
