#!/usr/bin/env python
"""How a refiner's fallback share (the per-pixel share of the plain blend) spends its PSNR.

    python tools/probe_share.py WEIGHTS [--sets middlebury,ucf101] [--packs packs/photos ...]
                                [--shrink 0,0.05,0.1] [--scale 1.5,2x1.5] [--blur 0.7,1.5]
                                [--spread 0.05,0.1] [--threads 1]

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
- other hedges in the blend's place, for each ``--blur`` sigma (px): the frame before the mix
  blurred (what uncertainty about *where* a thing is calls for), in place of the blend and as
  half of it;
- a hedge along time, for each ``--spread`` ``d``: the refined frames at ``t - d``, ``t`` and
  ``t + d`` averaged (what uncertainty about *when* the truth was taken calls for), and the best
  of the three per sample (an oracle: what knowing the truth's time is worth);
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
import torch.nn.functional as F
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


def variants(res: dict, shrinks: list[float], scales: list[tuple[float, float]] = (),
             blurs: list[float] = ()) -> dict[str, torch.Tensor]:
    """The refined frame with the share as it is, shrunk by each tau, rescaled by each
    ``(a, g)``, off, and with a blur of each sigma in the blend's place or half of it."""
    f, u, b = res["fallback"], res["unmixed"], res["blend"]
    out = {}
    for tau in shrinks:
        g = (f - tau).clamp(min=0) / (1 - tau)
        out["share" if tau == 0 else f"share shrunk by {tau:g}"] = u + g * (b - u)
    for a, g in scales:
        out[f"share x {a:g} ^ {g:g}"] = u + (a * f.clamp(min=0) ** g).clamp(max=1) * (b - u)
    out["share off"] = u
    for sigma in blurs:
        soft = gaussian_blur(u, sigma)
        out[f"blur {sigma:g} in the blend's place"] = u + f.clamp(0, 1) * (soft - u)
        out[f"half blend, half blur {sigma:g}"] = u + f.clamp(0, 1) * ((b + soft) / 2 - u)
    return out


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``b c h w`` blurred by a Gaussian of ``sigma`` px (separable, edges replicated)."""
    r = max(1, round(3 * sigma))
    k = torch.exp(-torch.arange(-r, r + 1, dtype=x.dtype) ** 2 / (2 * sigma * sigma))
    k = (k / k.sum()).repeat(x.shape[1], 1, 1, 1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(-1, 1, 1, 2 * r + 1),
                 groups=x.shape[1])
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(-1, 1, 2 * r + 1, 1),
                    groups=x.shape[1])


def refine(net, frame0, frame1, flows, t) -> dict:
    """The refiner's outputs at ``t`` (a float or ``(b,)``), on the flows as
    ``vidiff interpolate`` uses them."""
    ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], t)
    return net(frame0, frame1, ft0, ft1, t, flows=flows)


def time_spread(net, frame0, frame1, flows, t, centre: torch.Tensor,
                spreads: list[float]) -> dict[str, list]:
    """``{name: [frames]}`` for each spread ``d``: the refined frames at ``t - d``, ``t``
    (``centre``, already made) and ``t + d`` (times kept inside (0, 1)), whose mean and
    per-sample best :class:`Tally` reports."""
    t = torch.as_tensor(t, dtype=frame0.dtype).reshape(-1).expand(frame0.shape[0])
    out = {}
    for d in spreads:
        side = [refine(net, frame0, frame1, flows, (t + s).clamp(0.01, 0.99))["frame"]
                for s in (-d, d)]
        out[f"t +- {d:g}"] = [side[0], centre, side[1]]
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
            scales: list[tuple[float, float]] = (), blurs: list[float] = (),
            spread: dict[str, list] | None = None) -> None:
        p_mu = psnr(res["mu"], target)
        oracle, k = oracle_scale(res, target)
        self.k.append(k)
        named = {"mu": res["mu"], **variants(res, shrinks, scales, blurs),
                 "share x k per sample (oracle)": oracle}
        for name, frames in (spread or {}).items():
            named[f"mean over {name}"] = sum(frames) / len(frames)
            scores = torch.stack([psnr(x, target) for x in frames])  # n b
            best = scores.argmax(0)
            named[f"best of {name} per sample (oracle)"] = torch.stack(
                [frames[int(j)][i] for i, j in enumerate(best)])
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
    parser.add_argument("--blur", default="",
                        help="comma-separated sigmas (px): a blur in the blend's place")
    parser.add_argument("--spread", default="",
                        help="comma-separated d: the refined frames at t - d, t, t + d averaged")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        shrinks = sorted({0.0, *(float(v) for v in args.shrink.split(",") if v)})
        scales = [parse_scale(v) for v in args.scale.split(",") if v]
        blurs = [positive(v, "--blur") for v in args.blur.split(",") if v]
        spreads = [positive(v, "--spread") for v in args.spread.split(",") if v]
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
            res = refine(net, a, b, flows, 0.5)
            tally.add(res, truth, shrinks, scales, blurs,
                      time_spread(net, a, b, flows, 0.5, res["frame"], spreads))
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
            spread = time_spread(net, batch["frame0"], batch["frame1"], batch["flows"],
                                 batch["t"], res["frame"], spreads)
            tally.add(res, batch["target"], shrinks, scales, blurs, spread)
        tally.report(f"{path} (held out)")
    return 0


def positive(text: str, option: str) -> float:
    """A ``--blur`` sigma (px, above 0 up to 50) or a ``--spread`` (above 0, below 0.5)."""
    value, top = float(text), (50.0 if option == "--blur" else 0.5)
    if not 0 < value <= top or (option == "--spread" and value == top):
        raise ValueError(f"{option} {text!r}: out of range")
    return value


def parse_scale(text: str) -> tuple[float, float]:
    """``"a"`` or ``"axg"`` -> ``(a, g)``: a positive gain and power of the share."""
    a, _, g = text.partition("x")
    value = (float(a), float(g) if g else 1.0)
    if not (value[0] > 0 and value[1] > 0):
        raise ValueError(f"--scale {text!r}: gain and power must be positive")
    return value


if __name__ == "__main__":
    sys.exit(main())
