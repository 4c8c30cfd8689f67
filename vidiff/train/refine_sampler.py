"""The refiner's training batches: samples drawn from triplet packs, augmented, damaged or stilled.

:class:`Sampler` draws ``batch_size`` samples from the packs (mixed by ``mix`` weights) and
augments them (horizontal/vertical flips, transposition, time reversal, :func:`.augment.augment`);
a ``degrade`` share (one for all packs, or one per pack) also gets video-like damage
(:func:`.augment.degrade`; a ``codec`` share of its compression is a video codec's); a
``still`` share is
replaced by a scene in which nothing moves (:func:`.augment.still_scene`); a ``blend_wins`` share
of the others is drawn from the samples in which the plain blend beats mu
(:func:`vidiff.train.share.blend_wins`). Its evaluation batches are each pack's held-out samples
as stored. Layouts as :func:`vidiff.train.triplets.to_tensors` gives them, plus ``true_flows``
(``b 4 h w``: the true flows to ``t``, frame0's side then frame1's, NaN where unknown: a pack
without them, a hidden point), transformed with the sample; when a pack holds the second flow's
own pair (``alt_flows``), also ``alt_flows`` (``b 4 h w``, laid out as ``flows``; the chosen flows
again for a sample of a pack without it); when a pack holds a history input (a prediction pack
built with a backtest), also ``history`` (``b 2 h w``, :func:`vidiff.motion.history.history_input`;
that of no backtest for a still scene or a pack without it), flipped with the sample as a plain
map.

With ``context`` (a share of the batches: ``True`` is all) a training batch holds the packs'
samples whole (every pack's the same size, larger than ``crop``) and a ``window``
(:class:`vidiff.model.tiling.Tile`, ``crop`` px square, one random place per batch) that the
refiner refines (``Refiner.forward(window=)``): its flows may point anywhere in the stored
sample, as a whole frame's do, where a plain crop's flows that leave the crop are warped from
its clamped edge. ``target`` and ``true_flows`` are the window's; everything else is whole.
"""

from __future__ import annotations

import numpy as np
import torch

from vidiff.errors import OptionError
from vidiff.model.tiling import Tile
from vidiff.motion.history import history_input

from . import share
from .augment import augment, degrade, still_scene
from .triplets import Triplets, to_tensors

UNKNOWN = np.full(3, np.nan, np.float32)  # frame_stats of a sample whose whole frame is unknown


class Sampler:
    def __init__(self, packs: list[Triplets], mix: tuple[float, ...], crop: int,
                 degrade: float | tuple[float, ...] = 0.0, still: float = 0.0, still_layer: float = 0.0,
                 blend_wins: float = 0.0, warp: str = "bicubic", codec: float = 0.0,
                 context: float = 0.0):
        from vidiff.motion import FlowMotion

        self.packs = packs
        self.crop = crop
        self.context = float(context)
        if not 0 <= self.context <= 1:
            raise OptionError(f"context {context} must be a share of the batches, from 0 to 1")
        self.degrade = _per_pack(degrade, len(packs))
        self.codec = codec
        self.still = still
        self.still_layer = still_layer
        self.motion = FlowMotion() if still else None
        self.alternate = any(getattr(p, "alt_flows", None) is not None for p in packs)
        self.history = any(getattr(p, "history", None) is not None for p in packs)
        weights = np.array(mix if mix else [1.0] * len(packs), dtype=np.float64)
        if len(weights) != len(packs) or (weights < 0).any() or weights.sum() <= 0:
            raise OptionError(f"mix {mix} needs one non-negative weight per pack ({len(packs)})")
        self.weights = weights / weights.sum()
        self.train_idx = [np.flatnonzero(~np.asarray(p.holdout)) for p in packs]
        self.eval_idx = [np.flatnonzero(np.asarray(p.holdout)) for p in packs]
        for p, idx in zip(packs, self.train_idx):
            if len(idx) == 0:
                raise OptionError("a training pack has no training samples")
            if p.frames.shape[2] < crop:
                raise OptionError(f"crop {crop} is larger than a pack's samples")
        sizes = {tuple(p.frames.shape[2:4]) for p in packs}
        if context and (len(sizes) > 1 or min(min(s) for s in sizes) <= crop):
            raise OptionError(f"context needs every pack's samples the same size and larger than "
                              f"the crop ({crop} px); they are "
                              + ", ".join(f"{h}x{w}" for h, w in sorted(sizes)))
        self.blend_wins = blend_wins
        self.wins_idx = [share.blend_wins(p, idx, warp) if blend_wins else idx
                         for p, idx in zip(packs, self.train_idx)]

    def batch(self, rng: np.random.Generator, size: int) -> dict:
        """``size`` augmented samples (:func:`to_tensors`' keys); when a pack knows its crops'
        whole frames, also ``frame_stats`` (``b 3``, NaN where unknown: a still scene, a pack
        without them) and ``clean0`` / ``clean1``, the inputs before any damage
        (:func:`batch_summary`)."""
        frames, flows, times, stats, clean, truths, history = [], [], [], [], [], [], []
        whole = self.context == 1 or (self.context > 0 and rng.random() < self.context)
        for k in rng.choice(len(self.packs), size=size, p=self.weights):
            pack, i, crop = self._random_crop(rng, int(k), whole=whole)
            fr = pack.frames[i, :, *crop]
            if self.still and rng.random() < self.still:
                t = float(pack.times[i])  # a prediction pack's still scenes stay predictions
                source = self._layer_source(rng, whole) if rng.random() < self.still_layer else None
                fr, fl, t, truth = still_scene(fr[rng.integers(3)], rng, self.motion,
                                               t if t > 1 else None, source, self.alternate)
                stats.append(UNKNOWN)  # a new scene: the crop is all of it
                seen = _history(None, 0, fr.shape[1:3])
            else:
                if self.blend_wins and rng.random() < self.blend_wins:
                    pack, i, crop = self._random_crop(rng, int(k), self.wins_idx[k], whole)
                    fr = pack.frames[i, :, *crop]
                both = np.concatenate([self._flows(pack, i, crop), _true_flows(pack, i, crop)])
                fr, both, t, seen = augment(fr, both, float(pack.times[i]), rng,
                                            _history(pack, i, fr.shape[1:3], crop))
                fl, truth = both[:-4], both[-4:]
                known = getattr(pack, "frame_stats", None)  # a Triplets' (or None), or absent
                stats.append(known[i] if known is not None else UNKNOWN)
                if self.degrade[k] and rng.random() < self.degrade[k]:
                    clean.append(fr[[0, 2]])
                    fr = degrade(fr, rng, self.codec)
            if len(clean) < len(stats):
                clean.append(fr[[0, 2]])
            frames.append(fr), flows.append(fl), times.append(t), truths.append(truth)
            history.append(seen)
        flows = np.stack(flows)
        out = to_tensors(np.stack(frames), flows[:, :4], np.array(times))
        if self.alternate:
            out["alt_flows"] = torch.from_numpy(np.ascontiguousarray(flows[:, 4:], np.float32))
        out["true_flows"] = torch.from_numpy(np.stack(truths).astype(np.float32))
        if self.history:
            out["history"] = torch.from_numpy(np.stack(history))
        if any(getattr(p, "frame_stats", None) is not None for p in self.packs):
            out.update(_stats_tensors(np.stack(stats), np.stack(clean)))
        if whole:
            h, w = out["target"].shape[-2:]
            y, x = int(rng.integers(0, h - self.crop + 1)), int(rng.integers(0, w - self.crop + 1))
            out = in_window(out, Tile(0, y, x, self.crop, self.crop))
        return out

    def _flows(self, pack, i: int, crop: tuple[slice, slice]) -> np.ndarray:
        """``4 h w`` (the chosen flows) or, when the batch carries alternates, ``8 h w`` (the
        chosen, then the pack's ``alt_flows``, or the chosen again) of sample ``i``'s ``crop``."""
        fl = np.asarray(pack.flows[i, :, *crop], np.float32)
        if not self.alternate:
            return fl
        alt = getattr(pack, "alt_flows", None)
        return np.concatenate([fl, fl if alt is None else np.asarray(alt[i, :, *crop], np.float32)])

    def _random_crop(self, rng: np.random.Generator, k: int, pool: np.ndarray | None = None,
                     whole: bool = False):
        """A random training sample of pack ``k`` (of ``pool``, default all its training
        samples; an empty pool falls back to all) and a random ``crop`` px window of it (with
        ``whole``, all of it): ``(pack, sample index, (row slice, column slice))``."""
        pack = self.packs[k]
        pool = pool if pool is not None and len(pool) else self.train_idx[k]
        i = int(pool[rng.integers(len(pool))])
        if whole:
            return pack, i, (slice(None), slice(None))
        h, w = pack.frames.shape[2:4]
        y, x = rng.integers(0, h - self.crop + 1), rng.integers(0, w - self.crop + 1)
        return pack, i, (slice(y, y + self.crop), slice(x, x + self.crop))

    def _layer_source(self, rng: np.random.Generator, whole: bool = False) -> np.ndarray:
        """A crop (``whole``: a whole sample) of a random training frame, to cut a moving object
        from."""
        k = int(rng.choice(len(self.packs), p=self.weights))
        pack, i, crop = self._random_crop(rng, k, whole=whole)
        return np.asarray(pack.frames[i, rng.integers(3), *crop])

    def eval_batches(self, k: int, limit: int, size: int = 32, window: int = 0,
                     context: bool = True):
        """Pack ``k``'s first ``limit`` held-out samples as stored, ``size`` to a batch; with
        ``window``, each sample's centre ``window`` px square only, as :func:`in_window` gives it
        (``context``: seen with the whole sample around it, or as a plain crop)."""
        pack, idx = self.packs[k], self.eval_idx[k][:limit]
        h, w = pack.frames.shape[2:4]
        if window and not 0 < window <= min(h, w):
            raise OptionError(f"an evaluation window of {window} px does not fit samples of {h}x{w}")
        centre = Tile(0, (h - window) // 2, (w - window) // 2, window, window) if window else None
        for a in range(0, len(idx), size):
            sel = np.sort(idx[a : a + size])
            out = to_tensors(np.asarray(pack.frames[sel]),
                             np.asarray(pack.flows[sel], np.float32), np.asarray(pack.times[sel]))
            out["true_flows"] = torch.from_numpy(np.stack(
                [_true_flows(pack, int(i), (slice(None), slice(None))) for i in sel]))
            if self.alternate:
                whole = (slice(None), slice(None))
                out["alt_flows"] = torch.from_numpy(
                    np.stack([self._flows(pack, int(i), whole)[4:] for i in sel]))
            if self.history:
                out["history"] = torch.from_numpy(
                    np.stack([_history(pack, int(i), (h, w)) for i in sel]))
            if pack.frame_stats is not None:
                frames = np.asarray(pack.frames[sel])
                out.update(_stats_tensors(np.asarray(pack.frame_stats[sel]), frames[:, [0, 2]]))
            yield out if centre is None else in_window(out, centre, context)


def in_window(batch: dict, window: Tile, context: bool = True) -> dict:
    """``batch`` to be refined in ``window`` only. With ``context``, the batch whole but for the
    window's ``target`` and ``true_flows``, and ``window`` (what ``Refiner.forward(window=)``
    refines, its warps sampling the whole sample); without, every picture of the batch (each
    ``b c h w`` tensor) cropped to the window: a plain crop."""
    out = dict(batch)
    if context:
        out["window"] = window
        out["target"], out["true_flows"] = window.crop(batch["target"]), window.crop(batch["true_flows"])
    else:
        out.update({k: window.crop(x) for k, x in batch.items() if torch.is_tensor(x) and x.dim() == 4})
    return out


def _true_flows(pack, i: int, crop: tuple[slice, slice]) -> np.ndarray:
    """``4 h w`` float32: the true flows to t of sample ``i``'s window ``crop``, or all NaN for a
    pack that does not know them."""
    known = getattr(pack, "true_flows", None)  # a Triplets' (or None), or absent
    if known is not None:
        return np.asarray(known[i, :, *crop], np.float32)
    h, w = (len(range(*c.indices(n))) for c, n in zip(crop, pack.frames.shape[2:4]))
    return np.full((4, h, w), np.nan, np.float32)


def _history(pack, i: int, size: tuple[int, int],
             crop: tuple[slice, slice] = (slice(None), slice(None))) -> np.ndarray:
    """``2 h w`` float32: sample ``i``'s history input in ``crop`` (``size`` its height and
    width), or that of no backtest (factor 1, flag 0) for a pack without one (``pack`` None: a
    still scene)."""
    known = getattr(pack, "history", None)
    if known is not None:
        return np.asarray(known[i, :, *crop], np.float32)
    return history_input(None, *size)[0].numpy()


def _stats_tensors(stats: np.ndarray, clean: np.ndarray) -> dict:
    """``frame_stats`` (``b 3``) and the undamaged inputs ``clean0`` / ``clean1`` (from uint8
    ``b 2 h w 3``) as a batch carries them."""
    img = torch.from_numpy(np.ascontiguousarray(clean)).permute(1, 0, 4, 2, 3).float() / 255.0
    return {"frame_stats": torch.from_numpy(stats.astype(np.float32)), "clean0": img[0],
            "clean1": img[1]}


def _per_pack(degrade: float | tuple[float, ...], packs: int) -> list[float]:
    """``degrade`` as one share per pack: a number is every pack's; a sequence needs one share per
    pack. Each share is in [0, 1]."""
    many = isinstance(degrade, (tuple, list))
    shares = [float(d) for d in degrade] if many else [float(degrade)] * packs
    if len(shares) != packs or not all(0 <= d <= 1 for d in shares):
        raise OptionError(f"degrade {degrade} needs one share in [0, 1], or one per pack ({packs})")
    return shares
