#!/usr/bin/env python
"""How a refiner's fallback share (the per-pixel share of the plain blend) spends its PSNR.

    python tools/probe_share.py WEIGHTS [--sets middlebury,ucf101] [--packs packs/photos ...]
                                [--shrink 0,0.05,0.1] [--scale 1.5,2x1.5] [--threads 1]

For each evaluation set (Middlebury, UCF101; evaluation only, nothing here trains) and each
triplet pack's held-out samples (the training log's evaluation crops), with the refiner run on
the same flows as ``vidiff interpolate`` uses them (Middlebury and UCF101 frames are small enough
to refine whole):

- the mean per-triplet PSNR gain over mu (what the benchmarks average) and the PSNR of the
  summed error ("pooled"), with the share as it is and with it shrunk by each ``--shrink``
  ``tau`` (``max(f - tau, 0) / (1 - tau)``: a dead zone that removes a floor of a few percent);
- with the share rescaled, ``min(a * f ** g, 1)`` for each ``--scale`` ``a`` or ``axg``
  (a calibration: a share that is right where it hedges but too timid, or too even, shows it);
- the same with the share off (the frame before the mix);
- the share scaled per triplet (or crop) by the factor ``k`` that fits the truth best (least
  squares; ``min(k f, 1)``, ``k >= 0``), with the median ``k``: an upper bound on what knowing
  *how much* to hedge in each frame is worth, given where the share hedges;
- the stake-weighted mean share (``sum f |B - U|^2 / sum |B - U|^2``): how much blend goes
  where it matters.

A share that hedges (a little blend everywhere) can raise the pooled PSNR while lowering the mean
per-triplet one, which is what a shrink then shows.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from benchmark import DEFAULT_DATA, read_rgb, triplets  # tools/benchmark.py
from eval_refiner import to_tensor  # tools/eval_refiner.py

from vidiff.model.weights import load_refiner
from vidiff.motion import FlowMotion
from vidiff.motion.blend import flows_to_time
from vidiff.train.triplets import read_triplets, to_tensors


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample PSNR of ``b c h w`` frames in [0, 1] (``x`` rounded to 8 bits, as written)."""
    x = x.clamp(0, 1).mul(255).round().div(255)
    return -10 * torch.log10((x - y).square().flatten(1).mean(1).clamp(min=1e-10))


def variants(res: dict, shrinks: list[float],
             scales: list[tuple[float, float]] = ()) -> dict[str, torch.Tensor]:
    """The refined frame with the share as it is, shrunk by each tau, rescaled by each
    ``(a, g)`` and off."""
    f, u, b = res["fallback"], res["unmixed"], res["blend"]
    out = {}
    for tau in shrinks:
        g = (f - tau).clamp(min=0) / (1 - tau)
        out["share" if tau == 0 else f"share shrunk by {tau:g}"] = u + g * (b - u)
    for a, g in scales:
        out[f"share x {a:g} ^ {g:g}"] = u + (a * f.clamp(min=0) ** g).clamp(max=1) * (b - u)
    out["share off"] = u
    return out


def oracle_scale(res: dict, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(frames, k)``: each sample's share scaled by its own least-squares best factor ``k >= 0``
    against ``target`` (the truth in hand: a bound, not a method), then capped at 1."""
    f, u, b = res["fallback"].clamp(min=0), res["unmixed"], res["blend"]
    d, y = (f * (b - u)).flatten(1), (target - u).flatten(1)
    k = ((d * y).sum(1) / (d * d).sum(1).clamp(min=1e-12)).clamp(min=0)
    return u + (k.view(-1, 1, 1, 1) * f).clamp(max=1) * (b - u), k


class Tally:
    def __init__(self) -> None:
        self.gain: dict[str, list] = {}
        self.sse: dict[str, float] = {}
        self.weighted = [0.0, 0.0]
        self.k: list[torch.Tensor] = []
        self.n = 0

    def add(self, res: dict, target: torch.Tensor, shrinks: list[float],
            scales: list[tuple[float, float]] = ()) -> None:
        p_mu = psnr(res["mu"], target)
        oracle, k = oracle_scale(res, target)
        self.k.append(k)
        named = {"mu": res["mu"], **variants(res, shrinks, scales),
                 "share x k per sample (oracle)": oracle}
        for name, x in named.items():
            self.gain.setdefault(name, []).append(psnr(x, target) - p_mu)
            err = (x.clamp(0, 1) - target).square().flatten(1).mean(1)
            self.sse[name] = self.sse.get(name, 0.0) + float(err.sum())
        stake = (res["blend"] - res["unmixed"]).square().sum(1, keepdim=True)
        self.weighted[0] += float((res["fallback"] * stake).sum())
        self.weighted[1] += float(stake.sum())
        self.n += target.shape[0]

    def report(self, label: str) -> None:
        share = self.weighted[0] / max(self.weighted[1], 1e-12)
        print(f"{label}: {self.n} samples, stake-weighted mean share {share:.3f}")
        for name, gains in self.gain.items():
            pooled = -10 * math.log10(max(self.sse[name] / self.n, 1e-10))
            print(f"  {torch.cat(gains).mean():+.3f} dB mean gain  pooled {pooled:.3f} dB  {name}")
        k = torch.cat(self.k)
        print(f"  oracle k: median {k.median():.2f}, quartiles {k.quantile(0.25):.2f} / "
              f"{k.quantile(0.75):.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", default="middlebury,ucf101")
    parser.add_argument("--packs", nargs="*", type=Path, default=[])
    parser.add_argument("--pack-samples", type=int, default=256,
                        help="held-out samples per pack (the training log's default)")
    parser.add_argument("--shrink", default="0,0.05,0.1")
    parser.add_argument("--scale", default="",
                        help="comma-separated a or axg: the share as min(a * f ** g, 1)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        shrinks = sorted({0.0, *(float(v) for v in args.shrink.split(",") if v)})
        scales = [parse_scale(v) for v in args.scale.split(",") if v]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    net = load_refiner(args.weights).float().eval()
    if not net.config.fallback:
        print(f"{args.weights}: this refiner has no fallback share", file=sys.stderr)
        return 2
    motion = FlowMotion()
    torch.set_grad_enabled(False)
    for name in filter(None, args.sets.split(",")):
        items = triplets(args.data, name)
        if not items:
            print(f"{name}: not found under {args.data}", file=sys.stderr)
            continue
        tally = Tally()
        for _, p0, p1, pt in items:
            a, b, truth = (to_tensor(read_rgb(p)) for p in (p0, p1, pt))
            flows = motion.full_flows(a, b)
            ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.5)
            tally.add(net(a, b, ft0, ft1, 0.5, flows=flows), truth, shrinks, scales)
        tally.report(name)
    for path in args.packs:
        pack = read_triplets(path)
        idx = np.flatnonzero(np.asarray(pack.holdout))[: args.pack_samples]
        tally = Tally()
        for start in range(0, len(idx), 32):
            sel = idx[start : start + 32]
            batch = to_tensors(np.asarray(pack.frames[sel]), np.asarray(pack.flows[sel], np.float32),
                               np.asarray(pack.times[sel]))
            res = net(batch["frame0"], batch["frame1"], batch["flow_t0"], batch["flow_t1"],
                      batch["t"], flows=batch["flows"])
            tally.add(res, batch["target"], shrinks, scales)
        tally.report(f"{path} (held out)")
    return 0


def parse_scale(text: str) -> tuple[float, float]:
    """``"a"`` or ``"axg"`` -> ``(a, g)``: a positive gain and power of the share."""
    a, _, g = text.partition("x")
    value = (float(a), float(g) if g else 1.0)
    if not (value[0] > 0 and value[1] > 0):
        raise ValueError(f"--scale {text!r}: gain and power must be positive")
    return value


if __name__ == "__main__":
    sys.exit(main())
