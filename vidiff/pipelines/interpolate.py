"""Interpolation pipeline: input frames with timestamps in, frames at a new exact rate out.

Conventions: frames arrive and leave as uint8 ``h w 3`` RGB arrays (uint16 for deep video: an
in-between frame has the dtype of the frames it lies between); inside, they are float
tensors in [0, 1], ``b c h w`` for single frames and ``b c t h w`` for model windows. Frame
time inside a window is measured in units of the interval between the two keys that surround
the missing frames: key ``a`` is at 0, key ``b`` at 1, an in-between frame at ``t`` in (0, 1),
context keys before ``a`` at negative times and after ``b`` at times above 1.

The pipeline never opens files: it takes any iterable of objects with ``.image`` and
``.time`` (such as :class:`vidiff.io.Frame`) and streams, holding a handful of frames.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from ..device import resolve_device
from ..motion import FlowMotion, MotionEstimator, estimates
from ..scenes import SceneDetector, Thumb, thumbnail
from ..timing import Segment, collapse_duplicates, plan_segments


@dataclass
class InterpolationStats:
    """What the pipeline did, for the summary line a job prints."""

    input_frames: int = 0
    out_of_order: int = 0
    duplicates_dropped: int = 0
    cuts: int = 0
    output_frames: int = 0
    copied: int = 0
    interpolated: int = 0
    held_at_cuts: int = 0
    held_at_end: int = 0


@dataclass(frozen=True)
class _Key:
    image: np.ndarray
    time: Fraction
    thumb: Thumb = field(repr=False)


_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (or uint16) ``h w 3`` -> float ``1 3 h w`` in [0, 1] on ``device``."""
    scale = _MAX[image.dtype]
    if image.dtype == np.uint16:  # torch has no uint16 arithmetic on every device
        image = image.astype(np.int32)
    t = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    # planar before the float conversion: a float copy of the h w c layout would be copied again
    # (to planar) by every warp of the frame
    return t.permute(2, 0, 1).contiguous().unsqueeze(0).float().div_(scale)


def to_image(frame: torch.Tensor, dtype=np.uint8) -> np.ndarray:
    """float ``3 h w`` in [0, 1] -> ``dtype`` (uint8 or uint16) ``h w 3`` on the CPU."""
    dtype = np.dtype(dtype)
    out = frame.detach().clamp(0, 1).mul_(_MAX[dtype]).round_()  # one float buffer
    out = out.to(torch.uint8 if dtype == np.uint8 else torch.int32)
    return np.ascontiguousarray(out.permute(1, 2, 0).cpu().numpy().astype(dtype, copy=False))


class Interpolator:
    """Makes in-between frames: the motion estimate, refined by the diffusion model if given.

    ``denoiser`` is a :class:`vidiff.model.Denoiser` (or ``None`` for the motion estimate
    alone); ``steps`` sampler steps refine each window (0 = motion estimate only).
    ``context`` known frames on each side of the pair are shown to the model when they exist
    and no scene cut separates them. Each window's noise is seeded from ``seed`` and the index
    of its first output frame, so results do not depend on how the video is split into calls.
    ``workers`` segments are made at once on threads (the results are the same for any number).
    ``max_memory`` is the bytes one diffusion window may hold (``None``: no limit): bigger
    frames are sampled in overlapping tiles (:func:`vidiff.model.memory.plan_for`).
    """

    def __init__(
        self,
        *,
        motion: MotionEstimator | None = None,
        denoiser=None,
        steps: int = 0,
        sampler: str | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        detector: SceneDetector | None = None,
        max_dup_run: int = 3,
        context: int = 1,
        workers: int = 2,
        max_memory: int | None = None,
    ):
        self.device = resolve_device(device)
        self.motion = motion if motion is not None else FlowMotion()
        self.denoiser = denoiser
        if denoiser is None:
            steps = 0
        self.steps = int(steps)
        self.sampler = sampler
        self.seed = int(seed)
        self.detector = detector if detector is not None else SceneDetector()
        self.max_dup_run = int(max_dup_run)
        self.context = int(context)
        self.workers = int(workers)
        self.max_memory = max_memory
        # each key serves the two segments around it; workers + 1 segments are in flight
        self._cache: deque = deque(maxlen=max(1, self.workers) + 2)
        self._cache_lock = threading.Lock()
        self.stats = InterpolationStats()

    # -- frame level -------------------------------------------------------------------------

    @torch.inference_mode()
    def between(
        self,
        frame0: np.ndarray,
        frame1: np.ndarray,
        times: Sequence[float],
        *,
        before: Sequence[tuple[np.ndarray, float]] = (),
        after: Sequence[tuple[np.ndarray, float]] = (),
        window_seed: int = 0,
    ) -> list[np.ndarray]:
        """Frames at ``times`` (in (0, 1)) between ``frame0`` (time 0) and ``frame1`` (time 1).

        ``before``/``after`` are extra known ``(image, time)`` pairs (times < 0 and > 1) that
        the model may use as context; the motion estimate uses only the two frames.
        """
        if not times:
            return []
        f0 = self._tensor(frame0)
        f1 = self._tensor(frame1)
        if self.steps <= 0:
            # one float frame at a time: a long gap (collapsed duplicates, a pause in a variable
            # frame rate) asks for many in-between frames at once
            return [to_image(mu[0], frame0.dtype)
                    for mu in estimates(self.motion, f0, f1, [float(t) for t in times])]
        out = self._refine(f0, f1, times, before, after, window_seed)
        return [to_image(x, frame0.dtype) for x in out]

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        """:func:`to_tensor`, remembering the last few frames: each key serves two segments."""
        with self._cache_lock:
            for cached, tensor in self._cache:
                if cached is image:
                    return tensor
        tensor = to_tensor(image, self.device)
        with self._cache_lock:
            self._cache.append((image, tensor))
        return tensor

    def _refine(self, f0, f1, times, before, after, window_seed):
        from ..model import build_cond, sample
        from ..model.memory import plan_for

        known = (
            [(to_tensor(img, self.device), float(t)) for img, t in before]
            + [(f0, 0.0)]
            + [(f1, 1.0)]
            + [(to_tensor(img, self.device), float(t)) for img, t in after]
        )
        entries = [(img, t, True) for img, t in known] + [
            (torch.zeros_like(f0), float(t), False) for t in times
        ]
        entries.sort(key=lambda e: e[1])
        frames = torch.stack([e[0][0] for e in entries], dim=1).unsqueeze(0)  # 1 c t h w
        mask = torch.tensor([[e[2] for e in entries]], device=self.device)
        tvec = torch.tensor([[e[1] for e in entries]], device=self.device, dtype=torch.float32)
        cond = build_cond(frames, mask, tvec, self.motion)
        generator = torch.Generator(device=self.device).manual_seed(
            (self.seed * 1_000_003 + window_seed) % (2**63)
        )
        h, w = frames.shape[-2:]
        plan = plan_for("denoiser", h, w, frames.shape[2], self.max_memory)
        kwargs = {"steps": self.steps, "generator": generator, "plan": plan}
        if self.sampler:
            kwargs["sampler"] = self.sampler
        out = sample(self.denoiser, cond, **kwargs)
        unknown = [i for i, e in enumerate(entries) if not e[2]]
        return [out[0, :, i] for i in unknown]

    # -- stream level ------------------------------------------------------------------------

    def run(
        self,
        frames: Iterable,
        fps: Fraction,
        end_time: Callable[[], Fraction | None] | None = None,
    ) -> Iterator[np.ndarray]:
        """Stream output frames at exactly ``fps`` for input frames with ``.image``/``.time``.

        Output frame ``i`` shows time ``first_input_time + i / fps``; the output covers the
        input until ``end_time()`` (called after the input is exhausted; default: one mean
        frame interval after the last frame).
        """
        stats = self.stats
        keys = collapse_duplicates(
            self._keys(frames),
            lambda a, b: self.detector.is_duplicate(a.thumb, b.thumb),
            self.max_dup_run,
        )
        segments = plan_segments(
            self._count_keys(keys), lambda k: k.time, fps, end_time or (lambda: None)
        )
        jobs = self._jobs(segments)
        if self.workers <= 1:
            for job in jobs:
                yield from self._emit(job, self._make(*job))
        else:
            # Segments are made on worker threads (DIS, OpenCV and torch release the GIL) and
            # emitted in order; at most workers + 1 segments are in flight.
            pool = ThreadPoolExecutor(self.workers, thread_name_prefix="vidiff-interp")
            try:
                pending: deque = deque()
                for job in jobs:
                    pending.append((job, pool.submit(self._make, *job)))
                    if len(pending) > self.workers:
                        job0, fut = pending.popleft()
                        yield from self._emit(job0, fut.result())
                while pending:
                    job0, fut = pending.popleft()
                    yield from self._emit(job0, fut.result())
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        stats.duplicates_dropped = stats.input_frames - stats.out_of_order - self._n_keys

    @staticmethod
    def _jobs(segments: Iterator[Segment]) -> Iterator[tuple[Segment, _Key | None, _Key | None]]:
        """Each segment with the key before its first key and the key after its last."""
        prev_key: _Key | None = None
        pending: Segment | None = None
        for seg in segments:
            if pending is not None:
                yield pending, prev_key, seg.b
                prev_key = pending.a
            pending = seg
        if pending is not None:
            yield pending, prev_key, None

    def _keys(self, frames: Iterable) -> Iterator[_Key]:
        last_time = None
        for frame in frames:
            self.stats.input_frames += 1
            time = Fraction(frame.time)
            if last_time is not None and time <= last_time:
                self.stats.out_of_order += 1
                continue
            last_time = time
            yield _Key(frame.image, time, thumbnail(frame.image))

    def _count_keys(self, keys: Iterator[_Key]) -> Iterator[_Key]:
        self._n_keys = 0
        for key in keys:
            self._n_keys += 1
            yield key

    def _make(self, seg: Segment, before: _Key | None, after: _Key | None):
        """The generated frames of one segment: ``(cut, {output index: image})``."""
        a, b = seg.a, seg.b
        if b is None or not seg.indices:
            return False, {}
        cut = self.detector.is_cut(a.thumb, b.thumb) or self.detector.is_jump_cut(
            a.thumb, b.thumb, before.thumb if before is not None else None,
            after.thumb if after is not None else None)
        wanted = [(i, p) for i, p in zip(seg.indices, seg.positions) if p != 0]
        if cut or not wanted:
            return cut, {}
        span = b.time - a.time
        ctx_before, ctx_after = [], []
        if self.steps > 0 and self.context > 0:
            if before is not None and not self.detector.is_cut(before.thumb, a.thumb):
                ctx_before.append((before.image, float((before.time - a.time) / span)))
            if after is not None and not self.detector.is_cut(b.thumb, after.thumb):
                ctx_after.append((after.image, float((after.time - a.time) / span)))
        images = self.between(
            a.image,
            b.image,
            [float(p) for _, p in wanted],
            before=ctx_before,
            after=ctx_after,
            window_seed=wanted[0][0],
        )
        return False, {i: img for (i, _), img in zip(wanted, images)}

    def _emit(self, job, result) -> Iterator[np.ndarray]:
        """Yield one segment's output frames in order and count what each one is."""
        stats = self.stats
        seg, _, _ = job
        a, b = seg.a, seg.b
        cut, made = result
        stats.cuts += int(cut)
        for i, p in zip(seg.indices, seg.positions):
            stats.output_frames += 1
            if b is None:
                stats.copied += 1
                stats.held_at_end += 1
                yield a.image
            elif p == 0:
                stats.copied += 1
                yield a.image
            elif i in made:
                stats.interpolated += 1
                yield made[i]
            else:
                stats.held_at_cuts += 1
                yield a.image if p < Fraction(1, 2) else b.image
