#!/usr/bin/env python
"""How far the motion estimate's flows are from the flows that would draw the true frame.

    python tools/probe_flow_oracle.py [--sets middlebury] [--radii 0,1,2,4,8,16] [--block 8]
                                      [--limit N] [--threads 1] [--weights WEIGHTS]

For each triplet of an evaluation set (Middlebury, UCF101: evaluation only, nothing here trains),
the motion step's flows to the middle time (``FlowMotion().full_flows`` and
``flows_to_time``, as ``vidiff interpolate`` makes them) are shifted per ``--block`` px block by
the whole-pixel offset (``|dx|, |dy| <= R``) that brings each side's bicubic warp closest to the
truth over that block, chosen with the truth in hand; the estimate is the 50/50 blend of the two
shifted warps. Each radius ``R`` of ``--radii`` gives one PSNR per triplet (``R = 0``: mu).

This is an oracle, not a method: it says how much of the error a correction of the flows of a
given size *could* remove (an upper bound that grows a little with the number of offsets to pick
from, since a block may pick an offset that matches noise). Where the gain stops growing with R,
larger corrections have nothing to give; where it keeps growing (a large motion DIS got wrong),
a correction that sees further (``RefinerConfig.coarse``) has something to find.

``--weights`` also reports, per triplet, how far that refiner moves the flows to t (the mean
length of its total correction of frame0's flow, pixels) and, when it has one, of its coarse
pass's: what a refiner found of what the oracle says is there.
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
from vidiff.model.weights import load_refiner
from vidiff.motion import FlowMotion, flows_to_time
from vidiff.motion.warp import backward_warp


def oracle_warps(frame: torch.Tensor, flow: torch.Tensor, truth: torch.Tensor,
                 radii: list[int], block: int) -> dict[int, torch.Tensor]:
    """Per radius, ``frame`` warped by ``flow`` plus the best offset of each block."""
    h, w = truth.shape[-2:]
    big = max(radii)
    best_err = {r: None for r in radii}
    best = {r: None for r in radii}
    for dx in range(-big, big + 1):
        for dy in range(-big, big + 1):
            offset = torch.tensor([dx, dy], dtype=flow.dtype).view(1, 2, 1, 1)
            warp = backward_warp(frame, flow + offset, mode="bicubic")
            err = F.avg_pool2d((warp - truth).square().mean(1, keepdim=True), block,
                               ceil_mode=True)
            err = F.interpolate(err, scale_factor=block, mode="nearest")[..., :h, :w]
            for r in radii:
                if max(abs(dx), abs(dy)) > r:
                    continue
                if best[r] is None:
                    best_err[r], best[r] = err, warp
                else:
                    better = err < best_err[r]
                    best_err[r] = torch.where(better, err, best_err[r])
                    best[r] = torch.where(better, warp, best[r])
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--sets", default="middlebury")
    parser.add_argument("--radii", default="0,1,2,4,8,16")
    parser.add_argument("--block", type=int, default=8)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", help="also report how far this refiner moves the flows")
    args = parser.parse_args()
    radii = sorted({int(r) for r in args.radii.split(",")})
    if radii[0] < 0 or args.block < 1:
        print("error: --radii must be >= 0 and --block >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    motion = FlowMotion()
    net = load_refiner(args.weights).float().eval() if args.weights else None
    print(f"# python {' '.join(sys.argv)}")
    for name, found in evaluation_sets(args.data, args.sets, args.limit):
        scores = {r: [] for r in radii}
        start = time.time()
        print(f"{name}  triplet  " + "  ".join(f"R{r}" for r in radii)
              + ("  refiner-px  coarse-px" if net is not None else ""))
        moved = []
        for ident, p0, p1, pt in found:
            f0, f1, truth = (to_tensor(read_rgb(p)) for p in (p0, p1, pt))
            with torch.inference_mode():
                flows = motion.full_flows(f0, f1)
                ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.5)
                side0 = oracle_warps(f0, ft0, truth, radii, args.block)
                side1 = oracle_warps(f1, ft1, truth, radii, args.block)
                if net is not None:
                    out = net(f0, f1, ft0, ft1, 0.5)
                    coarse = out.get("coarse", torch.zeros_like(flows))[:, :2]
                    moved.append((float((out["flow_t0"] - ft0).norm(dim=1).mean()),
                                  float(coarse.norm(dim=1).mean())))
            for r in radii:
                estimate = ((side0[r] + side1[r]) / 2).clamp(0, 1)
                estimate = torch.round(estimate * 255) / 255
                scores[r].append(float(psnr(estimate[0], truth[0])))
            if name == "middlebury":
                extra = f"  {moved[-1][0]:.3f}  {moved[-1][1]:.3f}" if moved else ""
                print(f"  {ident}  " + "  ".join(f"{scores[r][-1]:.2f}" for r in radii) + extra,
                      flush=True)
        means = "  ".join(f"R{r} {np.mean(scores[r]):.3f}" for r in radii)
        if moved:
            means += "  refiner moves {:.3f} px, coarse pass {:.3f} px".format(*np.mean(moved, 0))
        print(f"{name} mean over {len(found)}: {means}  ({time.time() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
