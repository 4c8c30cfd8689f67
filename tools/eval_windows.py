#!/usr/bin/env python
"""Refiner weights on packs' held-out samples: whole, and in each sample's centre window.

    python tools/eval_windows.py WEIGHTS [WEIGHTS ...] --data PACK [PACK ...] [--window 128]
                                 [--samples 256] [--threads 2]

A training run evaluates every held-out sample whole (``vidiff.train.refine_loop``). A run with
``context = true`` trains on a window of each stored sample whose warps see the whole sample,
so it rarely meets a flow that leaves its picture, which a whole sample's edges are full of.
For each weights and pack this prints the gain over mu (mean per-sample PSNR gain, dB), the
share of samples improved and mu's PSNR, three ways: the whole sample, its centre ``--window``
px with the sample around it (the interior, as a frame's interior is refined), and the same
window as a plain crop (its warps clamped at the crop's edges). Packs only: nothing here
trains; an absent pack is skipped with a line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from machine import machine_line  # tools/machine.py (this folder)

from vidiff.errors import VidiffError
from vidiff.model.weights import load_refiner
from vidiff.train.refine_loop import evaluate_packs
from vidiff.train.refine_sampler import Sampler
from vidiff.train.triplets import read_triplets

WAYS = (("whole sample", 0, True), ("window, sample around it", None, True),
        ("window as a plain crop", None, False))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+", type=Path)
    ap.add_argument("--data", nargs="+", type=Path, required=True)
    ap.add_argument("--window", type=int, default=128)
    ap.add_argument("--samples", type=int, default=256, help="held-out samples per pack")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    found = [p for p in args.data if (p / "index.json").is_file()]
    for p in sorted(set(args.data) - set(found)):
        print(f"{p}: no pack there, skipped")
    if not found:
        return 0
    print(machine_line())
    try:
        packs = [read_triplets(p) for p in found]
        models = [(w, load_refiner(w).eval()) for w in args.weights]
    except VidiffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("| weights | pack | " + " | ".join(w for w, _, _ in WAYS) + " |")
    print("|---|---|" + "---|" * len(WAYS))
    for path, model in models:
        rows = {}
        for _, window, context in WAYS:
            for k, pack in enumerate(packs):
                sampler = Sampler([pack], (), min(pack.frames.shape[2:4]))
                size = args.window if window is None else window
                report = evaluate_packs(model, sampler, args.samples, size, context)["pack0"]
                rows.setdefault(k, []).append(f"{report['gain_db']:+.3f} ({report['improved']:.0%}, "
                                              f"mu {report['psnr_mu']:.2f})")
        for k, cells in rows.items():
            print(f"| {path} | {found[k]} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
