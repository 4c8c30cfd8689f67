#!/usr/bin/env python
"""Middlebury / UCF101 PSNR of the motion estimate and of refiner weights, side by side.

    python tools/eval_refiner.py runs/a/ema.safetensors [runs/b/ema.safetensors ...] [--limit N]

A quick check for training runs (the full report with SSIM, IE and peers is tools/benchmark.py).
Evaluation sets only: nothing here trains. Each method's gain over mu is also given apart for
still triplets (mean DIS flow under ``--still-px``, 0.5 px: mu is at 40-55 dB there and every
change costs dearly) and moving ones: a mean over a set hides which of the two a model hurts.
``--without residual,fallback`` adds each weights with that output zeroed
(:func:`vidiff.model.refiner.without_outputs`): what each correction is worth, per triplet.
``--warps bilinear`` adds the motion estimate with other warps than the default (bicubic), for
the same flows. ``--blend`` adds the 50/50 blend of the inputs and, as a bound on what knowing when to distrust
the flow is worth, the better of mu and the blend chosen per triplet with the truth in hand;
for each weights it also gives their gain on the triplets where the blend beats mu, and the
better of them and the blend per triplet: how much of the blend's wins the refiner takes.
Gains are also given apart for *held* triplets, whose truth is (nearly) one of the inputs
(:func:`vidiff.train.triplets.is_hold`: a duplicated frame in the source; 68 of UCF101's 379):
no interpolator can know which input is held, and the plain blend, halfway to both, wins them all.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from benchmark import DEFAULT_DATA, read_rgb, triplets  # tools/benchmark.py

from vidiff.errors import OptionError
from vidiff.metrics import psnr, ssim
from vidiff.model.refined_motion import RefinedMotion
from vidiff.model.refiner import without_outputs
from vidiff.model.weights import load_refiner
from vidiff.motion import FlowMotion, FlowMotionConfig
from vidiff.train.triplets import is_hold


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def to_image(frame: torch.Tensor) -> np.ndarray:
    return frame[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()


class Blend:
    """The 50/50 blend of the two inputs, as an estimator."""

    def estimate(self, frame0: torch.Tensor, frame1: torch.Tensor, times) -> torch.Tensor:
        return ((frame0 + frame1) / 2).unsqueeze(2).expand(-1, -1, len(times), -1, -1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", nargs="*", type=Path)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sets", default="middlebury,ucf101")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--ensemble", nargs="*", metavar="SYMMETRIES",
                        help="also each weights averaged over symmetries of the pair, one method "
                             "per comma-separated set of mirror, flip, reverse (RefinedMotion; "
                             "alone: mirror)")
    parser.add_argument("--warps", default="",
                        help="comma-separated warp modes to also score mu with (e.g. bilinear)")
    parser.add_argument("--blend", action="store_true",
                        help="also the 50/50 blend and the per-triplet best of mu and blend (oracle)")
    parser.add_argument("--without", default="",
                        help="comma-separated outputs (correction, blend, residual, gain, fallback, "
                             "alternate): also each weights with that output zeroed")
    parser.add_argument("--per-triplet", action="store_true",
                        help="also each triplet's mu PSNR and every method's gain over it")
    parser.add_argument("--still-px", type=float, default=0.5,
                        help="triplets whose mean flow is below this are reported as still")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    motion = FlowMotion()
    methods = {"mu": motion}
    for w in args.weights:
        methods[str(w)] = RefinedMotion(load_refiner(w), motion)
        for spec in ([] if args.ensemble is None else args.ensemble or ["mirror"]):
            try:
                methods[f"{w} (ensemble {spec})"] = RefinedMotion(load_refiner(w), motion,
                                                                  ensemble=spec.split(","))
            except OptionError as err:
                print(f"error: --ensemble: {err}", file=sys.stderr)
                return 2
        for group in filter(None, args.without.split(",")):
            try:
                net = without_outputs(load_refiner(w), [group])
            except OptionError as err:
                print(f"error: {w}: {err}", file=sys.stderr)
                return 2
            methods[f"{w} without {group}"] = RefinedMotion(net, motion)
    for mode in filter(None, args.warps.split(",")):
        methods[f"mu ({mode} warps)"] = FlowMotion(FlowMotionConfig(warp=mode))
    if args.blend:
        methods["blend"] = Blend()
    for name in args.sets.split(","):
        items = triplets(args.data, name)
        if not items:
            print(f"{name}: not found under {args.data}", file=sys.stderr)
            continue
        items = items[: args.limit] if args.limit else items
        scores = {m: [] for m in methods}
        seconds = dict.fromkeys(methods, 0.0)
        still, held = [], []
        for _, p0, p1, pt in items:
            image0, image1, truth = read_rgb(p0), read_rgb(p1), read_rgb(pt)
            a, b = to_tensor(image0), to_tensor(image1)
            still.append(float(motion.full_flows(a, b)[:, :2].norm(dim=1).mean()) < args.still_px)
            held.append(is_hold(image0, truth, image1))
            for m, est in methods.items():
                start = time.perf_counter()
                out = to_image(est.estimate(a, b, [0.5])[:, :, 0])
                seconds[m] += time.perf_counter() - start
                scores[m].append((psnr(out, truth), ssim(out, truth)))
        base = np.array(scores["mu"])
        still, held = np.array(still), np.array(held)
        if args.blend:
            pick = np.array(scores["blend"])[:, 0] > base[:, 0]
            scores["best of mu and blend per triplet (oracle)"] = np.where(
                pick[:, None], np.array(scores["blend"]), base)
            seconds["best of mu and blend per triplet (oracle)"] = 0.0
        for m, values in scores.items():
            v = np.array(values)
            gain = v[:, 0] - base[:, 0]
            apart = "  ".join(f"{label} {int(sel.sum())}: {gain[sel].mean():+.3f}"
                              for label, sel in (("still", still), ("moving", ~still),
                                                 ("held", held), ("not held", ~held))
                              if sel.any() and (label != "not held" or held.any()))
            print(f"{name:10s} {v[:, 0].mean():.3f} dB  SSIM {v[:, 1].mean():.5f}  "
                  f"gain {gain.mean():+.3f} (improved {np.mean(gain > 0):.0%}; {apart})  "
                  f"{1000 * seconds[m] / len(items):.0f} ms  {m}", flush=True)
        if args.blend and pick.any():  # how much of the blend's wins each refiner takes
            blend_gain = np.array(scores["blend"])[:, 0] - base[:, 0]
            for m in map(str, args.weights):
                gain = np.array(scores[m])[:, 0] - base[:, 0]
                print(f"{name:10s} where the blend beats mu ({int(pick.sum())} of the triplets): "
                      f"{gain[pick].mean():+.3f} (the blend {blend_gain[pick].mean():+.3f}); "
                      f"best of it and the blend per triplet (oracle) "
                      f"{np.maximum(gain, blend_gain).mean():+.3f}  {m}")
        if args.per_triplet:
            others = [m for m in scores if m != "mu"]
            print("  triplet  mu dB  " + "  ".join(f"[{i}]" for i in range(len(others)))
                  + "  (gain over mu; " + ", ".join(f"[{i}] {m}" for i, m in enumerate(others))
                  + ")")
            for i, (tid, *_rest) in enumerate(items):
                gains = "  ".join(f"{scores[m][i][0] - base[i, 0]:+.3f}" for m in others)
                print(f"  {tid}  {base[i, 0]:.2f}  {gains}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
