#!/usr/bin/env python
"""What a second flow (Farneback) gives the motion estimate, and how the choice is set.

    python tools/probe_second_flow.py [--sets middlebury,ucf101] [--windows 5,9,15]
                                      [--margins 0.35,0.5,0.7] [--limit N] [--threads 2]
                                      [--refiner WEIGHTS ...] [--others deepflow,rlof]

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

With ``--others`` (dense flows of OpenCV's contrib build, ``cv2.optflow``, which vidiff does not
depend on: install ``opencv-contrib-python-headless`` in place of ``opencv-python-headless`` to
run it) each named flow is scored as Farneback is: alone, as the better of it and DIS per block
(oracle), and in Farneback's place in the motion step's choice (its default window and margin).
"""

from __future__ import annotations

import argparse
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from benchmark import DEFAULT_DATA, evaluation_sets, read_rgb  # tools/benchmark.py
from eval_refiner import to_tensor  # tools/eval_refiner.py

from vidiff.errors import VidiffError
from vidiff.metrics import psnr
from vidiff.model.weights import load_refiner
from vidiff.motion import FlowMotion, FlowMotionConfig, flows_to_time
from vidiff.motion.flow import _padded
from vidiff.motion.second_flow import farneback

BLOCK = 16
OTHERS = ("deepflow", "rlof")


def other_flow(name: str):
    """``flow(a, b)``: a dense flow of OpenCV's contrib build from grey uint8 image ``a`` to ``b``
    (``h w 2`` float32, pixels): DeepFlow or dense RLOF. A new instance per call: the motion
    step computes its flows on two threads. PCAFlow and SparseToDense are left out: on small
    frames they crash the interpreter (OpenCV 5.1.0)."""
    optflow = getattr(cv2, "optflow", None)
    if optflow is None:
        raise VidiffError("--others needs OpenCV's contrib build (cv2.optflow): install "
                          "opencv-contrib-python-headless in place of opencv-python-headless")
    if name == "deepflow":
        return lambda a, b: optflow.createOptFlow_DeepFlow().calc(a, b, None)
    if name == "rlof":  # RLOF takes colour images
        colour = lambda g: cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)  # noqa: E731
        return lambda a, b: optflow.calcOpticalFlowDenseRLOF(colour(a), colour(b), None)
    raise VidiffError(f"--others: unknown flow {name!r} (one of {', '.join(OTHERS)})")


class Alone(FlowMotion):
    """The motion estimate with another flow (``flow(a, b)``, as :func:`other_flow`) in DIS's
    place, alone."""

    def __init__(self, flow) -> None:
        super().__init__(FlowMotionConfig(second_flow="none"))
        self.flow = flow

    def _dis(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _padded(self.flow, a, b)


class OtherChoice(FlowMotion):
    """The motion step's choice (default window and margin) with another flow in Farneback's
    place."""

    def __init__(self, flow) -> None:
        super().__init__(FlowMotionConfig())
        self.flow = flow

    def _farneback(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _padded(self.flow, a, b)


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
    parser.add_argument("--others", default="",
                        help=f"flows of OpenCV's contrib build to score as Farneback is: "
                        f"{','.join(OTHERS)}")
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
        others = {name: other_flow(name) for name in args.others.split(",") if name}
    except (ValueError, VidiffError) as err:  # not numbers, a refused setting, bad weights
        print(f"error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    dis = FlowMotion(FlowMotionConfig(second_flow="none"))
    methods = {"DIS alone": dis, "Farneback alone": Alone(farneback)}
    methods.update({name: FlowMotion(cfg) for name, cfg in configs.items()})
    defaults = FlowMotionConfig()
    for name, flow in others.items():
        methods[f"{name} alone"] = Alone(flow)
        methods[f"choose {name} w{defaults.select_window} m{defaults.select_margin}"] = \
            OtherChoice(flow)
    oracles = {"better per block (oracle)": "Farneback alone"}
    oracles.update({f"better of DIS and {name} per block (oracle)": f"{name} alone"
                    for name in others})
    default = FlowMotion()  # the motion step as vidiff interpolate builds it
    print(f"# python {' '.join(sys.argv)}")
    for name, found in evaluation_sets(args.data, args.sets, args.limit):
        scores: dict[str, list[float]] = {k: [] for k in [*methods, *oracles]}
        uses: dict[str, list[tuple[float, float]]] = {w: [] for w in refiners}
        start = time.time()
        for _, p0, p1, pt in found:
            f0, f1, truth = (to_tensor(read_rgb(p)) for p in (p0, p1, pt))
            frames = {k: m.estimate(f0, f1, [0.5])[:, :, 0] for k, m in methods.items()}
            for oracle, other in oracles.items():
                frames[oracle] = block_oracle(frames["DIS alone"], frames[other], truth)
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
