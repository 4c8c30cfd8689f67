"""Prediction packs: crops of (frame a, frame a + k, frame a + 1) for the predictor, the refiner
that corrects the motion estimate *past* the last known frame (``vidiff generate``).

Same layout as the triplet packs (:mod:`.triplets`: frame0, target, frame1, flows 0->1 / 1->0 on
the whole frame, time), with the target ``k`` frames after frame0 and so at time ``t = k`` (2, 3,
4, 5 by default) in the units of the pair, exactly as ``vidiff generate`` asks: seeds are taken
one frame interval apart and the frames to make continue at that interval. The motion estimate
there is frame1 carried on along the flow (:func:`.triplets.estimate_from_flows`).

Unlike interpolation packs, static crops and held frames are kept: in prediction they are what
the model must learn to leave alone (repeating the last frame is the right answer for a still
shot, and is what extrapolated noise in the flow loses against). Per target, one crop is where
the motion estimate is most wrong and one is random (:func:`.triplets.choose_crops`, with its
motion and hold filters off).

With ``backtest``, each pair's stored flow 1->0 (the only one that counts past frame1) is
scaled by the gain a backtest on the frame before the pair gives at the target's time
(:mod:`vidiff.motion.history`), as ``vidiff generate`` scales it from three seeds before the
predictor sees it; a pair that opens its run of frames has no frame before and keeps its flow,
as from two seeds. Such a pack also stores each sample's history input (``history.npy``,
:func:`vidiff.motion.history.history_input`: the backtest's best factor per pixel and 1, or 1 and
0 for a pair with no frame before), for a predictor that sees it (``RefinerConfig.history``).

Frames that ``tools/bench_generate.py`` scores on (its evenly spread windows in each video, with a
margin) are kept out by default (:func:`bench_windows`), so that the benchmark measures footage
the predictor has not trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from vidiff.errors import OptionError

from .triplets import TripletWriter, choose_crops, estimate_from_flows, full_flows

HORIZON = (2, 3, 4, 5)


def bench_windows(total: int, count: int = 3, length: int = 6, margin: int = 24
                  ) -> list[tuple[int, int]]:
    """Frame ranges ``[lo, hi)`` around the windows ``tools/bench_generate.py`` places on a clip of
    ``total`` frames (``count`` windows of ``length`` frames at evenly spaced starts; the bench
    slides a window forward past a scene cut, which ``margin`` frames after it cover). The
    bench's windows of 7 frames (``--seeds 3``, its default since 2026-12-06) start at most one
    frame earlier than those of 6, so these ranges cover them too."""
    if total < length:
        return []
    starts = sorted({int(s) for s in np.linspace(0, total - length, count)})
    return [(max(0, s - 8), s + length + margin) for s in starts]


def prediction_plan(n: int, horizon: Sequence[int], stride: int) -> Iterator[tuple[int, list[int]]]:
    """``(a, ks)`` for a run of ``n`` frames: pairs ``(a, a + 1)`` every ``stride`` frames, with
    the horizons ``k`` whose target ``a + k`` lies inside the run."""
    for a in range(0, n - 1, stride):
        ks = [k for k in horizon if a + k < n]
        if ks:
            yield a, ks


def add_prediction_samples(
    writer: TripletWriter, motion, frames: Sequence[np.ndarray], first: int, source: str,
    holdout: bool, horizon: Sequence[int], stride: int, crop: int, rng: np.random.Generator,
    excluded: Callable[[int], bool] = lambda i: False, backtest: bool = False,
) -> int:
    """Add the samples of one scene-cut-free run of ``frames`` (whose first is frame ``first`` of
    its source; ``excluded(i)`` keeps source frame ``i`` out); returns how many were added."""
    from vidiff.motion.history import backtest_choice, history_gain, history_input

    from .triplets import pair_tensors

    added = 0
    for a, ks in prediction_plan(len(frames), horizon, stride):
        ks = [k for k in ks if not any(excluded(first + i) for i in range(a, a + k + 1))]
        if not ks:
            continue
        f0, f1 = frames[a], frames[a + 1]
        pair_flows = full_flows(motion, f0, f1)
        choice = history = None
        if backtest and a >= 1:
            t0, t1, back = pair_tensors(f0, f1, full_flows(motion, f0, frames[a - 1]))
            choice = backtest_choice(t0, t1, back[:, :2], motion.config.warp_ahead)
        if backtest:
            history = history_input(choice, *f0.shape[:2])[0].numpy()
        for k in ks:
            target = frames[a + k]
            flows = pair_flows
            if choice is not None:
                gain = history_gain(choice, float(k), *f0.shape[:2])[0].numpy()
                flows = np.concatenate([pair_flows[:2], pair_flows[2:] * gain])
            mu = estimate_from_flows(f0, f1, flows, float(k))
            for y, x in choose_crops(f0, target, f1, mu, crop, rng, min_motion=0.0,
                                     skip_holds=False):
                sl = (slice(y, y + crop), slice(x, x + crop))
                writer.add(source, np.stack([f0[sl], target[sl], f1[sl]]),
                           flows[:, sl[0], sl[1]], float(k), holdout,
                           history=None if history is None else history[:, sl[0], sl[1]])
                added += 1
    return added


def make_prediction_pack(
    sources: list[Path], out: Path, *, frame_size: int = 480, crop: int = 128,
    horizon: Sequence[int] = HORIZON, stride: int = 2, holdout_every: int = 10, chunk: int = 40,
    exclude_bench: bool = True, seed: int = 0, backtest: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """Prediction pack from videos and frame folders (decoded with PyAV, split at scene cuts,
    runs cut into chunks of ``chunk`` frames, every ``holdout_every``-th chunk held out).
    ``exclude_bench`` keeps out the frames of :func:`bench_windows` in videos (the benchmark
    reads videos only, not frame folders). ``backtest``: flows damped as from three seeds
    (module docstring)."""
    from vidiff.motion import FlowMotion

    from .segments import decode_source, expand_sources, split_runs

    if stride < 1 or chunk < 2 or holdout_every < 0 or not horizon or min(horizon) < 2:
        raise OptionError(f"prediction pack: stride {stride} (>= 1), chunk {chunk} (>= 2), "
                          f"holdout_every {holdout_every} (>= 0) and horizon {list(horizon)} "
                          "(frames >= 2 after the first) are out of range")
    rng = np.random.default_rng(seed)
    motion = FlowMotion()
    settings = {"kind": "prediction", "frame_size": frame_size, "horizon": list(horizon),
                "stride": stride, "holdout_every": holdout_every, "chunk": chunk,
                "exclude_bench": exclude_bench, "seed": seed, "backtest": backtest}
    run_index = 0
    with TripletWriter(out, crop, settings) as writer:
        for path in expand_sources(sources):
            frames, _, cuts = decode_source(path, frame_size)
            ranges = bench_windows(len(frames)) if exclude_bench and path.is_file() else []

            def excluded(i: int, ranges=ranges) -> bool:
                return any(lo <= i < hi for lo, hi in ranges)

            made = 0
            for a, b in split_runs(len(frames), cuts):
                for s in range(a, b, chunk):
                    e = min(b, s + chunk)
                    holdout = holdout_every > 0 and run_index % holdout_every == holdout_every - 1
                    made += add_prediction_samples(writer, motion, frames[s:e], s, path.name,
                                                   holdout, horizon, stride, crop, rng, excluded,
                                                   backtest)
                    run_index += 1
            log(f"prediction: {path.name}: {len(frames)} frames, {made} samples")
        return writer.close()
