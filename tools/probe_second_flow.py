#!/usr/bin/env python
"""What a second flow (Farneback) gives the motion estimate, and how the choice is set.

    python tools/probe_second_flow.py [--sets middlebury,ucf101] [--windows 5,9,15]
                                      [--margins 0.35,0.5,0.7] [--limit N] [--threads 2]

For each triplet of the evaluation sets (Middlebury, UCF101: evaluation only, nothing here
trains) the motion estimate's middle frame (``FlowMotion``, as ``vidiff interpolate --no-refine``
makes it) is scored with DIS alone (``second_flow="none"``), with Farneback's flow alone, with the
better of the two per 16x16 block chosen with the truth in hand (an upper bound on any choice
between them, a little loose: a block may pick the one that matches noise), and with the motion
step's own choice (:mod:`vidiff.motion.second_flow`) for every ``--windows`` x ``--margins``
setting. Prints the mean PSNR of each and, for the settings, the gain over DIS alone.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from benchmark import DEFAULT_DATA, evaluation_sets, read_rgb  # tools/benchmark.py
from eval_refiner import to_tensor  # tools/eval_refiner.py

from vidiff.metrics import psnr
from vidiff.motion import FlowMotion, FlowMotionConfig

BLOCK = 16


class FarnebackAlone(FlowMotion):
    """The motion estimate with Farneback's flow in place of DIS's."""

    def __init__(self) -> None:
        super().__init__(FlowMotionConfig(second_flow="none"))

    def _dis(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self._farneback(a, b)


def quantised(frame: torch.Tensor) -> torch.Tensor:
    return torch.round(frame.clamp(0, 1) * 255) / 255


def block_oracle(first: torch.Tensor, second: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per ``BLOCK`` px block, whichever of two estimates (``b 3 h w``) is closer to the truth."""
    h, w = truth.shape[-2:]
    errors = [F.avg_pool2d((x - truth).square().mean(1, keepdim=True), BLOCK, ceil_mode=True)
              for x in (first, second)]
    pick = F.interpolate((errors[1] < errors[0]).float(), scale_factor=BLOCK)[..., :h, :w]
    return torch.where(pick > 0, second, first)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--sets", default="middlebury,ucf101")
    parser.add_argument("--windows", default="5,9,15")
    parser.add_argument("--margins", default="0.35,0.5,0.7")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    try:
        settings = [(int(w), float(m)) for w in args.windows.split(",")
                    for m in args.margins.split(",")]
        configs = {f"choose w{w} m{m}": FlowMotionConfig(select_window=w, select_margin=m)
                   for w, m in settings}
    except ValueError as err:  # not numbers, or a setting FlowMotionConfig refuses
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    dis = FlowMotion(FlowMotionConfig(second_flow="none"))
    methods = {"DIS alone": dis, "Farneback alone": FarnebackAlone()}
    methods.update({name: FlowMotion(cfg) for name, cfg in configs.items()})
    print(f"# python {' '.join(sys.argv)}")
    for name, found in evaluation_sets(args.data, args.sets, args.limit):
        scores: dict[str, list[float]] = {k: [] for k in [*methods, "better per block (oracle)"]}
        start = time.time()
        for _, p0, p1, pt in found:
            f0, f1, truth = (to_tensor(read_rgb(p)) for p in (p0, p1, pt))
            frames = {k: m.estimate(f0, f1, [0.5])[:, :, 0] for k, m in methods.items()}
            frames["better per block (oracle)"] = block_oracle(
                frames["DIS alone"], frames["Farneback alone"], truth)
            for k, frame in frames.items():
                scores[k].append(float(psnr(quantised(frame)[0], truth[0])))
        base = np.mean(scores["DIS alone"])
        print(f"{name} ({len(found)} triplets, {time.time() - start:.0f} s)")
        for k, v in scores.items():
            print(f"  {k:28s} {np.mean(v):.3f}  {np.mean(v) - base:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
