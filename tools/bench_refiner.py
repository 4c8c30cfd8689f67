"""Benchmark the refiner (learned mean) on this machine: size, FLOPs and time per frame.

    python tools/bench_refiner.py [--weights PATH] [--threads 2] [--repeat 3] [--second-flow none]
                                  [--ensemble mirror mirror,reverse ...]

Reports, as a markdown table with the machine and the command line: parameters; FLOPs per
in-between frame at 1280x720 (FlopCounterMode, a multiply-add counts 2); and the time of one
in-between frame at 854x480, 1280x720 and 1920x1080 for the motion estimate alone and for the
motion estimate + refiner (``RefinedMotion``, as ``vidiff interpolate`` runs it), best of
``--repeat`` after a warm-up. Without ``--weights`` an untrained refiner of the default
configuration is timed (the same work). ``--second-flow none`` times the motion step with DIS
alone (``FlowMotionConfig.second_flow``; default: as ``vidiff interpolate``). ``--ensemble``
adds a row per set of symmetries (``vidiff interpolate --ensemble``: the refiner's frame
averaged over them; by default as ``vidiff interpolate`` runs). Stop background
jobs first: times on a busy machine are not figures.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

import torch
from machine import machine_line  # tools/machine.py (this folder)
from torch.utils.flop_counter import FlopCounterMode

from vidiff.model import RefinedMotion, Refiner, RefinerConfig, load_refiner
from vidiff.motion import FlowMotion, FlowMotionConfig
from vidiff.pipelines.weights import DEFAULT_ENSEMBLE

SIZES = {"480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920)}


def pair(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.linspace(0, 1, h)[:, None]
    xs = torch.linspace(0, 1, w)[None, :]
    frames = []
    for shift in (0.0, 0.02):
        img = torch.stack([0.5 + 0.4 * torch.sin(40 * (xs - shift) + 23 * ys + c) for c in range(3)])
        frames.append(img[None].clamp(0, 1))
    return frames[0], frames[1]


def best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", help="refiner weights (default: an untrained default refiner)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--second-flow", choices=["farneback", "none"], default="farneback")
    parser.add_argument("--ensemble", nargs="*", default=[], metavar="SYMMETRIES",
                        help="also time these comma-separated sets of mirror, flip, reverse")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    refiner = load_refiner(args.weights) if args.weights else Refiner(RefinerConfig()).eval()
    motion = FlowMotion(FlowMotionConfig(second_flow=args.second_flow))
    refined = RefinedMotion(refiner, motion, ensemble=DEFAULT_ENSEMBLE)
    averaged = {spec: RefinedMotion(refiner, motion, ensemble=spec.split(","))
                for spec in args.ensemble}
    rows = [("parameters", f"{sum(p.numel() for p in refiner.parameters()) / 1e6:.2f} M")]
    f0, f1 = pair(*SIZES["720p"])
    flows, alt = motion.full_flow_candidates(f0, f1)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        refiner(f0, f1, flows[:, :2] / 2, flows[:, 2:] / 2, 0.5, flows=flows, alt_flows=alt)
    rows.append(("FLOPs per in-between frame at 1280x720", f"{counter.get_total_flops() / 1e9:.1f} G"))
    for name, (h, w) in SIZES.items():
        f0, f1 = pair(h, w)
        t_mu = best(lambda: motion.estimate(f0, f1, [0.5]), args.repeat)  # noqa: B023
        t_ref = best(lambda: refined.estimate(f0, f1, [0.5]), args.repeat)  # noqa: B023
        rows.append((f"one in-between frame at {name}: motion / motion + refiner"
                     + (f" (averaged: {', '.join(DEFAULT_ENSEMBLE)})" if DEFAULT_ENSEMBLE else ""),
                     f"{t_mu:.2f} s / {t_ref:.2f} s"))
        for spec, est in averaged.items():
            t_avg = best(lambda: est.estimate(f0, f1, [0.5]), args.repeat)  # noqa: B023
            rows.append((f"one in-between frame at {name}: motion + refiner averaged over {spec}",
                         f"{t_avg:.2f} s"))
    print(f"## vidiff refiner benchmark\n\n`{shlex.join([sys.executable, *sys.argv])}`\n")
    print(f"- machine: {machine_line()}\n- torch threads: {args.threads}; load average "
          f"{os.getloadavg()[0]:.2f}\n")
    print("| measure | value |\n|---|---|")
    for key, value in rows:
        print(f"| {key} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
