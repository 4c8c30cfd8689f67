"""Benchmark ``vidiff generate``: seed with real frames, predict the next ones, compare with truth.

    python tools/bench_generate.py [--clips ../shared/data/clips] [--windows 3] [--output FILE]
                                   [--second-flow farneback] [--history N]

For each clip, ``--windows`` windows spread evenly over it (moved forward past scene cuts, found
with :class:`vidiff.scenes.SceneDetector`): the first ``--seeds`` real frames seed a prediction of
the next ``--predict``. Mean PSNR and SSIM (:mod:`vidiff.metrics`) against the real frames for

- repeat: the last seed frame, held;
- mu: the motion estimate alone (flow extrapolated from the last two seeds; no weights);
- mu + backtest (with ``--seeds 3`` or more): mu with the flow damped per block by how it
  predicted the last seed from the one before (:mod:`vidiff.motion.history`), as ``vidiff
  generate`` makes it without weights from three seeds;
- vidiff: what ``vidiff generate`` makes with the weights (the default file or ``--weights``)
  when they hold a predictor (the refiner trained past the last known frame) or a diffusion
  model; with a diffusion model ``--samples`` samples each, with the spread between samples
  given as their mean pairwise PSNR (lower = more different; infinite = identical). With
  three seeds or more it backtests as ``vidiff generate`` does (``--no-backtest``: it does not).

The last two (mu + backtest, vidiff) are also given the ``--history`` frames before the seeds, as
``vidiff generate`` reads them from a video, to find a cadence of held frames in
(:mod:`vidiff.pipelines.cadence`); ``--history 0`` gives none (the benchmark before 2026-12-06's
second session). Repeat and mu see the seeds only.

Prints a markdown report (machine, command line, a table per clip and the means) and writes it to
``--output`` when given. Frames are decoded with :mod:`vidiff.io` at their native size; only the
frames of the current window are held. Skips (exit 0) when the clips folder is absent.
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from machine import machine_line  # tools/machine.py (this folder)

from vidiff.cli.common import ensemble_option
from vidiff.io import VIDEO_SUFFIXES, open_reader
from vidiff.metrics import psnr, ssim
from vidiff.model import read_parts
from vidiff.motion import FlowMotion, FlowMotionConfig
from vidiff.pipelines.cadence import LOOKBACK
from vidiff.pipelines.generate import make_generator
from vidiff.pipelines.generate_plan import WindowConfig
from vidiff.pipelines.weights import DEFAULT_STEPS, default_weights_path
from vidiff.scenes import SceneDetector, thumbnail

DEFAULT_CLIPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips"


@dataclass
class Scores:
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)

    def add(self, guess: np.ndarray, truth: np.ndarray) -> None:
        self.psnr.append(min(psnr(guess, truth), 100.0))  # a perfect frame counts as 100 dB
        self.ssim.append(ssim(guess, truth))

    def extend(self, other: Scores) -> None:
        self.psnr += other.psnr
        self.ssim += other.ssim

    def cell(self) -> str:
        if not self.psnr:
            return "n/a"
        return f"{np.mean(self.psnr):.2f} / {np.mean(self.ssim):.4f}"


@dataclass
class ClipResult:
    name: str
    size: str
    windows: int = 0
    repeat: Scores = field(default_factory=Scores)
    mu: Scores = field(default_factory=Scores)
    backtest: Scores = field(default_factory=Scores)
    model: Scores = field(default_factory=Scores)
    spread: list[float] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    seconds: float = 0.0


def clean_windows(path: Path, count: int, length: int, detector: SceneDetector, history: int = 0):
    """Yield up to ``count`` windows ``(first frame index, frames, before)`` of ``length``
    consecutive frames spread over the clip, each free of scene cuts (a window whose frames cross
    a cut slides forward frame by frame), with up to ``history`` frames before each (cuts or
    not). ``vidiff.train.predict_pack.bench_windows`` keeps these frames out of the predictor's
    training data: keep the two in step."""
    with open_reader(path) as reader:
        total = reader.info.frame_count
        if total is None:
            total = sum(1 for _ in reader)
    if total < length:
        return
    starts = deque(sorted({int(s) for s in np.linspace(0, total - length, count)}))
    buf: deque = deque(maxlen=length + history)
    with open_reader(path) as reader:
        for i, frame in enumerate(reader):
            buf.append((frame.image, thumbnail(frame.image)))
            start = i - length + 1
            window = list(buf)[-length:]
            if not starts or len(window) < length or start < starts[0]:
                continue
            if any(detector.is_cut(a[1], b[1]) for a, b in itertools.pairwise(window)):
                continue  # try the next start
            yield start, [img for img, _ in window], [img for img, _ in list(buf)[:-length]]
            starts.popleft()
            while starts and starts[0] <= i:  # windows do not overlap
                starts.popleft()


def bench_clip(path: Path, args, mu_gen, model_gen, backtest_gen=None) -> ClipResult:
    started = time.perf_counter()
    detector = SceneDetector()
    result = ClipResult(path.name, "")
    for start, window, before in clean_windows(path, args.windows, args.seeds + args.predict,
                                               detector, args.history):
        result.starts.append(start)
        h, w = window[0].shape[:2]
        result.size = f"{w}x{h}"
        seeds, truth = window[: args.seeds], window[args.seeds :]
        result.windows += 1
        for t in truth:
            result.repeat.add(seeds[-1], t)
        mu = list(mu_gen.stream(seeds, args.predict))
        for guess, t in zip(mu, truth, strict=True):
            result.mu.add(guess, t)
        if backtest_gen is not None:
            made = backtest_gen.stream(seeds, args.predict, before=before)
            for guess, t in zip(made, truth, strict=True):
                result.backtest.add(guess, t)
        if model_gen is not None:
            samples = [
                list(model_gen.stream(seeds, args.predict, sample=m, before=before))
                for m in range(args.samples)
            ]
            for sample in samples:
                for guess, t in zip(sample, truth, strict=True):
                    result.model.add(guess, t)
            for a, b in itertools.combinations(samples, 2):
                result.spread.append(
                    float(np.mean([min(psnr(x, y), 100.0) for x, y in zip(a, b, strict=True)]))
                )
    result.seconds = time.perf_counter() - started
    return result


def report(results: list[ClipResult], args, model_note: str, seconds: float) -> str:
    lines = [
        "# vidiff generate benchmark",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- machine: {machine_line()}, device {args.device}",
        f"- task: seed with {args.seeds} real frames, predict the next {args.predict}; "
        f"{args.windows} windows per clip away from scene cuts; PSNR (dB) / SSIM (RGB mean, "
        "Gaussian 11x11, sigma 1.5) against the real frames, averaged over predicted frames; "
        + (f"mu + backtest and vidiff also see up to {args.history} frames before the seeds "
           "(a cadence of held frames)" if args.history else "no frames before the seeds"),
        f"- vidiff: {model_note}",
        f"- total time {seconds:.0f} s",
        "",
    ]
    methods = [("repeat last", "repeat"), ("mu", "mu")]
    if any(r.backtest.psnr for r in results):
        methods.append(("mu + backtest", "backtest"))
    methods.append(("vidiff", "model"))
    lines += ["| clip | size | windows | " + " | ".join(m for m, _ in methods)
              + " | sample spread (PSNR) |", "|---|---|---|" + "---|" * (len(methods) + 1)]
    total = {k: Scores() for _, k in methods}
    spread: list[float] = []
    wins = {("mu", "repeat"): 0, ("backtest", "repeat"): 0, ("backtest", "mu"): 0,
            ("model", "repeat"): 0, ("model", "mu"): 0}
    counted = 0
    for r in results:
        if not r.windows:
            lines.append(f"| {r.name} | | 0 | (too short or all windows cross cuts) |"
                         + " |" * len(methods))
            continue
        counted += 1
        sp = f"{np.mean(r.spread):.2f}" if r.spread else "n/a"
        cells = " | ".join(getattr(r, k).cell() for _, k in methods)
        lines.append(f"| {r.name} | {r.size} | {r.windows} | {cells} | {sp} |")
        for _, k in methods:
            total[k].extend(getattr(r, k))
        spread += r.spread
        for a, b in wins:
            mine, theirs = getattr(r, a).psnr, getattr(r, b).psnr
            if mine and theirs:
                wins[a, b] += np.mean(mine) > np.mean(theirs)
    sp = f"{np.mean(spread):.2f}" if spread else "n/a"
    lines.append(f"| **mean over frames** | | {sum(r.windows for r in results)} | "
                 + " | ".join(total[k].cell() for _, k in methods) + f" | {sp} |")
    cells = []
    for _, k in methods:  # each clip weighs alike; six SSIM digits to settle a tie
        v = [(np.mean(getattr(r, k).psnr), np.mean(getattr(r, k).ssim))
             for r in results if getattr(r, k).psnr]
        cells.append(f"{np.mean([p for p, _ in v]):.2f} / {np.mean([q for _, q in v]):.6f}"
                     if v else "n/a")
    lines += [
        f"| **mean over clips** | | | {' | '.join(cells)} | |",
        "",
        f"mu beats repeating the last frame (PSNR) on {wins['mu', 'repeat']} of {counted} clips.",
    ]
    if total.get("backtest") and total["backtest"].psnr:
        lines.append(f"mu + backtest beats repeat on {wins['backtest', 'repeat']} of {counted} "
                     f"clips and mu on {wins['backtest', 'mu']} of {counted}.")
    if total["model"].psnr:
        lines.append(
            f"vidiff beats repeat on {wins['model', 'repeat']} of {counted} clips and mu on "
            f"{wins['model', 'mu']} of {counted}."
        )
    lines += ["", "PSNR (dB) by how far ahead the frame is, mean over all windows:", ""]
    lines.append("| method | " + " | ".join(f"t+{j + 1}" for j in range(args.predict)) + " |")
    lines.append("|---|" + "---|" * args.predict)
    for label, key in methods:
        values = total[key].psnr
        if values:
            by = [np.mean(values[j :: args.predict]) for j in range(args.predict)]
            lines.append(f"| {label} | " + " | ".join(f"{v:.2f}" for v in by) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="folder of clips")
    ap.add_argument("--only", nargs="*", help="clip file names to use (default: all)")
    ap.add_argument("--windows", type=int, default=3, help="windows per clip (default: 3)")
    ap.add_argument("--seeds", type=int, default=3,
                    help="real seed frames (default: 3, as vidiff generate takes from a video)")
    ap.add_argument("--predict", type=int, default=4, help="frames to predict (default: 4)")
    ap.add_argument("--history", type=int,
                    help="frames before the seeds that show a cadence of held frames (default: "
                    f"{LOOKBACK} in all with the seeds, as vidiff generate reads a video; 0: none)")
    ap.add_argument("--samples", type=int, default=3, help="model samples per window (default: 3)")
    ap.add_argument("--steps", type=int, help=f"diffusion sampler steps (default: {DEFAULT_STEPS} "
                    "when the weights hold a diffusion model)")
    ap.add_argument("--weights", help="weights file (default: the default weights, if any)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--output", type=Path, help="also write the markdown report here")
    ap.add_argument("--second-flow", choices=["none", "farneback"], default="none",
                    help="the motion step's second flow (default: none, as vidiff generate)")
    ap.add_argument("--no-backtest", action="store_true",
                    help="do not damp the flow by a backtest on the third seed (with --seeds 3+)")
    ap.add_argument("--ensemble", type=ensemble_option,
                    help="vidiff generate --ensemble: comma-separated mirror, "
                    "flip, or none (the predictor's frame averaged over them; default: as vidiff "
                    "generate, mirror)")
    args = ap.parse_args()
    if args.history is None:
        args.history = max(0, LOOKBACK - args.seeds)
    if not args.clips.is_dir():
        print(f"skipped: no clips folder at {args.clips}", file=sys.stderr)
        return 0
    clips = sorted(
        p
        for p in args.clips.iterdir()
        if p.suffix.lower() in VIDEO_SUFFIXES and (not args.only or p.name in args.only)
    )
    window = WindowConfig(known=args.seeds, unknown=args.predict)
    plain = FlowMotion(FlowMotionConfig(second_flow=args.second_flow, backtest=False))
    motion = plain if args.no_backtest else FlowMotion(FlowMotionConfig(second_flow=args.second_flow))
    mu_gen = make_generator(steps=0, refine=False, device=args.device, window=window,
                            motion=plain, cadence=False)
    backtest_gen = None
    if args.seeds >= 3 and not args.no_backtest:
        backtest_gen = make_generator(steps=0, refine=False, device=args.device, window=window,
                                      motion=motion)
    from vidiff.device import resolve_device

    args.device = str(resolve_device(args.device))
    model_gen, note = None, "no predictor or diffusion model in the weights: not measured"
    path = args.weights or default_weights_path()
    parts = read_parts(path) if path is not None else ()
    if "predictor" in parts or "denoiser" in parts:
        model_gen = make_generator(
            steps=args.steps, weights=args.weights, device=args.device, seed=args.seed,
            window=window, motion=motion,
            ensemble=args.ensemble,
        )
        if not model_gen.stochastic:  # a deterministic model: every sample is the same
            args.samples = 1
        note = (f"weights {path} ({', '.join(parts)}), {model_gen.steps} diffusion steps, "
                f"{args.samples} sample(s)"
                + (f", averaged over {','.join(model_gen.motion.ensemble)}"
                   if getattr(model_gen.motion, "ensemble", ()) else ", not averaged"))
    started = time.perf_counter()
    results = []
    for path in clips:
        r = bench_clip(path, args, mu_gen, model_gen, backtest_gen)
        print(
            f"{path.name}: {r.windows} windows, repeat {r.repeat.cell()}, mu {r.mu.cell()}, "
            f"mu + backtest {r.backtest.cell()}, vidiff {r.model.cell()} ({r.seconds:.0f} s; windows at frames {r.starts})",
            file=sys.stderr,
        )
        results.append(r)
    text = report(results, args, note, time.perf_counter() - started)
    print(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
