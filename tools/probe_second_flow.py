#!/usr/bin/env python
"""What a second flow (Farneback) gives the motion estimate, and how the choice is set.

    python tools/probe_second_flow.py [--sets middlebury,ucf101] [--windows 5,9,15]
                                      [--margins 0.35,0.5,0.7] [--limit N] [--threads 2]
                                      [--refiner WEIGHTS ...]

For each triplet of the evaluation sets (Middlebury, UCF101: evaluation only, nothing here
trains) the motion estimate's middle frame (``FlowMotion``, as ``vidiff interpolate --no-refine``
makes it) is scored with DIS alone (``second_flow="none"``), with Farneback's flow alone, with the
better of the two per 16x16 block chosen with the truth in hand (an upper bound on any choice
between them, a little loose: a block may pick the one that matches noise), and with the motion
step's own choice (:mod:`vidiff.motion.second_flow`) for every ``--windows`` x ``--margins``
setting. Prints the mean PSNR of each and, for the settings, the gain over DIS alone.

With ``--refiner`` (weights of a refiner with ``alternate = true``, :mod:`vidiff.model.refiner`)
it also reports how each such refiner uses its learned choice of Farneback's pair on the same
middle frames (the default motion step's flows): the mean share of the alternate over all
pixels, and the share of pixels where it takes more than half.
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

from vidiff.errors import VidiffError
from vidiff.metrics import psnr
from vidiff.model.weights import load_refiner
from vidiff.motion import FlowMotion, FlowMotionConfig, flows_to_time

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
    parser.add_argument("--refiner", nargs="+", default=[],
                        help="weights of refiners with alternate = true: how they use the choice")
    args = parser.parse_args()
    try:
        refiners = {w: load_refiner(w).eval() for w in args.refiner}
        for w, net in refiners.items():
            if not net.config.alternate:
                raise VidiffError(f"{w}: this refiner has no learned choice (alternate = false)")
        settings = [(int(w), float(m)) for w in args.windows.split(",")
                    for m in args.margins.split(",")]
        configs = {f"choose w{w} m{m}": FlowMotionConfig(select_window=w, select_margin=m)
                   for w, m in settings}
    except (ValueError, VidiffError) as err:  # not numbers, a refused setting, bad weights
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    dis = FlowMotion(FlowMotionConfig(second_flow="none"))
    methods = {"DIS alone": dis, "Farneback alone": FarnebackAlone()}
    methods.update({name: FlowMotion(cfg) for name, cfg in configs.items()})
    default = FlowMotion()  # the motion step as vidiff interpolate builds it
    print(f"# python {' '.join(sys.argv)}")
    for name, found in evaluation_sets(args.data, args.sets, args.limit):
        scores: dict[str, list[float]] = {k: [] for k in [*methods, "better per block (oracle)"]}
        uses: dict[str, list[tuple[float, float]]] = {w: [] for w in refiners}
        start = time.time()
        for _, p0, p1, pt in found:
            f0, f1, truth = (to_tensor(read_rgb(p)) for p in (p0, p1, pt))
            frames = {k: m.estimate(f0, f1, [0.5])[:, :, 0] for k, m in methods.items()}
            frames["better per block (oracle)"] = block_oracle(
                frames["DIS alone"], frames["Farneback alone"], truth)
            for k, frame in frames.items():
                scores[k].append(float(psnr(quantised(frame)[0], truth[0])))
            if refiners:  # the default motion step's flows, once for every refiner
                candidates = default.full_flow_candidates(f0, f1)
            for w, net in refiners.items():
                uses[w].append(choice_use(net, *candidates, f0, f1))
        base = np.mean(scores["DIS alone"])
        print(f"{name} ({len(found)} triplets, {time.time() - start:.0f} s)")
        for k, v in scores.items():
            print(f"  {k:28s} {np.mean(v):.3f}  {np.mean(v) - base:+.3f}")
        for w, u in uses.items():
            mean, over = np.mean(u, axis=0)
            print(f"  {w}: share of the alternate {mean:.4f} on average, above 0.5 at "
                  f"{100 * over:.3f}% of pixels")
    return 0


@torch.inference_mode()
def choice_use(net, flows: torch.Tensor, alt: torch.Tensor | None, f0: torch.Tensor,
               f1: torch.Tensor) -> tuple[float, float]:
    """``(mean share of the alternate, share of pixels above 0.5)`` of a refiner with
    ``alternate`` on one pair's middle frame, given the motion step's chosen flows and its second
    flow's own pair (:meth:`FlowMotion.full_flow_candidates`), as inference gives them."""
    ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.5)
    share = net(f0, f1, ft0, ft1, 0.5, flows=flows, alt_flows=alt)["alternate"]
    return float(share.mean()), float((share > 0.5).float().mean())


if __name__ == "__main__":
    sys.exit(main())
