#!/usr/bin/env python
"""Would ``vidiff generate`` do better holding its last frame, and can the frames before say so?

    python tools/probe_hold.py [--clips ../shared/data/clips] [--only NAME ...] [--backtests 3]
                               [--weights W] [--ensemble E] [--save FILE.npz | --load FILE.npz]
                               [--output FILE]

On the windows of ``tools/bench_generate.py`` (3 seeds, 4 frames to predict, up to 10 frames
before the seeds), ``vidiff generate``'s prediction ``m`` is scored against the truth ``x`` and
against repeating the last seed ``r`` through three sums per predicted frame ``j``:
``A = <x - r, m - r>``, ``B = |m - r|^2`` and ``C = |x - r|^2``. The frame ``r + w (m - r)``
(the prediction blended towards the held frame by a weight ``w``) then has the squared error
``C - 2 w A + w^2 B``, so any rule for ``w`` is scored exactly, in PSNR, without running the
model again. The rules take ``w`` from *backtests*: the same generation run on the known frames
themselves (``--backtests`` positions ending 0, 1, ... frames before the seeds, each with 3
seeds of its own, the frames before them, and 4 known frames to predict), whose own ``A`` and
``B`` give the weight that would have served best on the known frames (``sum A / sum B``,
clipped to [0, 1]), per frame ahead or for all, or 0 or 1 whichever is nearer (hold or
predict); a prior pulls it towards 1 by adding ``prior`` times the backtests' mean ``B`` to both
sums, as if that much more evidence had said ``w = 1``. Backtests whose frames cross a scene cut
are left out. Evaluation only. ``--save`` keeps the sums, ``--load`` reports from them again.
Skips (exit 0) when the clips folder is absent.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
from bench_generate import DEFAULT_CLIPS, clean_windows  # tools/ (this folder)
from machine import machine_line

from vidiff.cli.common import ensemble_option
from vidiff.io import VIDEO_SUFFIXES
from vidiff.motion import FlowMotion, FlowMotionConfig
from vidiff.pipelines.cadence import LOOKBACK
from vidiff.pipelines.generate import make_generator
from vidiff.pipelines.generate_plan import WindowConfig
from vidiff.scenes import SceneDetector, thumbnail

SEEDS, AHEAD = 3, 4


def sums(made, truth, last) -> np.ndarray:
    """``(AHEAD, 4)``: A, B, C and the pixel count per predicted frame."""
    r = last.astype(np.float64)
    out = []
    for m, x in zip(made, truth, strict=True):
        dm, dx = m.astype(np.float64) - r, x.astype(np.float64) - r
        out.append(((dx * dm).sum(), (dm * dm).sum(), (dx * dx).sum(), dx.size))
    return np.array(out)


def measure(clips, args, gen) -> dict[str, np.ndarray]:
    detector = SceneDetector()
    names, actual, tests = [], [], []
    for path in clips:
        started = time.perf_counter()
        for _, window, before in clean_windows(path, 3, SEEDS + AHEAD, detector, LOOKBACK - SEEDS):
            seeds, truth = window[:SEEDS], window[SEEDS:]
            known = list(before) + list(seeds)
            made = list(gen.stream(seeds, AHEAD, before=before))
            names.append(path.name)
            actual.append(sums(made, truth, seeds[-1]))
            back = np.full((args.backtests, AHEAD, 4), np.nan)
            for b in range(args.backtests):
                end = len(known) - AHEAD - b  # the backtest's seeds end here
                if end < SEEDS:
                    break
                frames = known[end - SEEDS : end + AHEAD]
                thumbs = [thumbnail(f) for f in frames]
                if any(detector.is_cut(p, q) for p, q in itertools.pairwise(thumbs)):
                    continue
                past = known[max(0, end - SEEDS - (LOOKBACK - SEEDS)) : end - SEEDS]
                guess = list(gen.stream(frames[:SEEDS], AHEAD, before=past))
                back[b] = sums(guess, frames[SEEDS:], frames[SEEDS - 1])
            tests.append(back)
        print(f"{path.name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return {"names": np.array(names), "actual": np.array(actual), "tests": np.array(tests)}


def psnr_of(a, b, c, n, w) -> np.ndarray:
    mse = np.maximum((c - 2 * w * a + w * w * b) / n, 1e-10)
    return np.minimum(10 * np.log10(255.0**2 / mse), 100.0)


def weights(tests: np.ndarray, rule: str, prior: float) -> np.ndarray:
    """``(windows, AHEAD)`` blend weights from the backtests' sums (NaN rows: none)."""
    a, b = np.nan_to_num(tests[..., 0]), np.nan_to_num(tests[..., 1])
    if rule == "pooled":  # one weight for every frame ahead
        a, b = a.sum(axis=2, keepdims=True), b.sum(axis=2, keepdims=True)
    a, b = a.sum(axis=1), b.sum(axis=1)  # over backtests
    scale = prior * b.mean(axis=1, keepdims=True)  # the prior: as much again, at w = 1
    w = np.where(b > 0, (a + scale) / np.maximum(b + scale, 1e-12), 1.0)
    w = np.clip(w, 0.0, 1.0)
    if rule == "choose":
        w = np.where(w < 0.5, 0.0, 1.0)
    return np.broadcast_to(w, (tests.shape[0], AHEAD)) if w.shape[1] == 1 else w


def report(data, args) -> str:
    names, actual, tests = data["names"], data["actual"], data["tests"]
    a, b, c, n = (actual[..., i] for i in range(4))
    rows = [("the prediction (w = 1)", np.ones(a.shape)), ("repeat (w = 0)", np.zeros(a.shape))]
    for rule in ("per-t", "pooled", "choose"):
        for prior in (0.0, 0.25, 1.0):
            label = {"per-t": "per frame ahead", "pooled": "one for all frames ahead",
                     "choose": "hold or predict"}[rule]
            rows.append((f"backtest: {label}, prior {prior}", weights(tests, rule, prior)))
    oracle = np.clip(a.sum(axis=1, keepdims=True) / np.maximum(b.sum(axis=1, keepdims=True),
                                                               1e-12), 0, 1)
    rows.append(("oracle: each window's best one weight", np.broadcast_to(oracle, a.shape)))
    clips = sorted(set(names))
    lines = [
        "# probe_hold: blending vidiff generate's prediction towards the held frame",
        "",
        f"- command: `python {' '.join(sys.argv)}`",
        f"- machine: {machine_line()}",
        f"- {len(names)} windows of {len(clips)} clips, {tests.shape[1]} backtests each",
        "",
        "| rule | mean PSNR over frames | over clips | clips won against repeat | mean w |",
        "|---|---|---|---|---|",
    ]
    held = psnr_of(a, b, c, n, 0.0)
    for label, w in rows:
        p = psnr_of(a, b, c, n, w)
        per_clip = [p[names == k].mean() for k in clips]
        won = sum(p[names == k].mean() > held[names == k].mean() for k in clips)
        lines.append(f"| {label} | {p.mean():.3f} | {np.mean(per_clip):.3f} | {won} | "
                     f"{np.mean(w):.3f} |")
    lines += ["", "Per clip (PSNR): prediction / repeat / backtest per frame ahead, prior 0.25 "
              "(its mean w)", ""]
    w = weights(tests, "per-t", 0.25)
    for k in clips:
        s = names == k
        lines.append(f"- {k}: {psnr_of(a, b, c, n, 1.0)[s].mean():.2f} / {held[s].mean():.2f} / "
                     f"{psnr_of(a, b, c, n, w)[s].mean():.2f} ({w[s].mean():.2f})")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    ap.add_argument("--only", nargs="*", help="clip file names to use (default: all)")
    ap.add_argument("--backtests", type=int, default=3)
    ap.add_argument("--weights", help="weights file (default: the default weights)")
    ap.add_argument("--ensemble", type=ensemble_option, help="as vidiff generate (default: mirror)")
    ap.add_argument("--save", type=Path)
    ap.add_argument("--load", type=Path)
    ap.add_argument("--output", type=Path)
    args = ap.parse_args(argv)
    if args.load:
        data = dict(np.load(args.load))
    else:
        if not args.clips.is_dir():
            print(f"skipped: no clips folder at {args.clips}", file=sys.stderr)
            return 0
        clips = sorted(p for p in args.clips.iterdir()
                       if p.suffix.lower() in VIDEO_SUFFIXES and (not args.only or p.name in args.only))
        gen = make_generator(weights=args.weights, window=WindowConfig(known=SEEDS, unknown=AHEAD),
                             motion=FlowMotion(FlowMotionConfig(second_flow="none")),
                             ensemble=args.ensemble)
        data = measure(clips, args, gen)
        if args.save:
            np.savez(args.save, **data)
    text = report(data, args)
    print(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
