#!/usr/bin/env python
"""How often a training crop's warps sample outside it, against whole evaluation frames.

    python tools/probe_crop_edges.py [--packs packs/footage packs/photos ...] [--samples 300]
                                     [--sets middlebury,ucf101] [--data ../shared/data]
                                     [--window 128]

The refiner trains on crops (128 px in every pack so far) and warps each crop's frames by the
crop's own flows to t, so where a flow points out of the crop its warp repeats the crop's edge:
the content is there in the frame the crop was cut from, but not in the sample. On a whole frame
that happens only where the flow leaves the frame. For each pack (``--samples`` random samples,
the sample's own time ``t``) and for each evaluation set (the motion step's flows of each pair,
``t = 0.5``) this prints the share of pixels whose warp from one side, or from both, samples
outside the picture it is given. With ``--window N`` (packs of samples larger than N) it also
prints both for a random N px window of each sample: as a plain crop (its warps see the window
only) and with context (the window's warps see the whole sample, as a training run with
``context = true`` refines it). Evaluation sets are read only (nothing here trains); an absent
pack or set is skipped with a line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from benchmark import DEFAULT_DATA, evaluation_sets, read_rgb  # tools/benchmark.py
from eval_refiner import to_tensor  # tools/eval_refiner.py

from vidiff.motion import FlowMotion, flows_to_time
from vidiff.train.triplets import read_triplets


def outside(flows: torch.Tensor, t: torch.Tensor,
            window: tuple[int, int, int] | None = None) -> tuple[float, float]:
    """``(one side, both sides)``: the shares of pixels of ``flows`` (``b 4 h w``, the full flows
    0->1 and 1->0) whose warp to ``t`` (``(b,)``) samples outside the picture; with ``window``
    ``(y, x, size)``, of that window's pixels only (the warps still see the whole picture)."""
    flow_t0, flow_t1 = flows_to_time(flows[:, :2], flows[:, 2:], t)
    h, w = flows.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")

    def out(flow: torch.Tensor) -> torch.Tensor:
        x, y = xs + flow[:, 0], ys + flow[:, 1]
        return (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)

    out0, out1 = out(flow_t0), out(flow_t1)
    if window is not None:
        y, x, size = window
        out0, out1 = (o[:, y : y + size, x : x + size] for o in (out0, out1))
    return (out0 ^ out1).float().mean().item(), (out0 & out1).float().mean().item()


def windowed(flows: torch.Tensor, times: torch.Tensor, size: int,
             rng: np.random.Generator) -> tuple[str, str]:
    """The shares for one random ``size`` px window of each sample, as a plain crop and with the
    whole sample around it: two lines' ends."""
    h, w = flows.shape[-2:]
    crop, context = [], []
    for i in range(len(flows)):
        y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        one = flows[i : i + 1]
        crop.append(outside(one[..., y : y + size, x : x + size], times[i : i + 1]))
        context.append(outside(one, times[i : i + 1], (y, x, size)))
    return tuple(f"one side {np.mean([c[0] for c in r]) * 100:.2f}%, both sides "
                 f"{np.mean([c[1] for c in r]) * 100:.2f}%" for r in (crop, context))


def probe_pack(path: Path, samples: int, rng: np.random.Generator, window: int = 0) -> str:
    pack = read_triplets(path)
    pick = np.sort(rng.choice(len(pack), min(samples, len(pack)), replace=False))
    flows = torch.from_numpy(np.asarray(pack.flows[pick], np.float32))
    times = torch.from_numpy(np.asarray(pack.times[pick], np.float32))
    one, both = zip(*(outside(flows[i : i + 50], times[i : i + 50]) for i in range(0, len(pick), 50)))
    size = pack.flows.shape[-1]
    line = (f"{path} ({len(pick)} samples, {size} px crops): one side {np.mean(one) * 100:.2f}%, "
            f"both sides {np.mean(both) * 100:.2f}%")
    if 0 < window < min(pack.flows.shape[-2:]):
        crop, context = windowed(flows, times, window, rng)
        line += (f"\n  a {window} px window as a plain crop: {crop}\n"
                 f"  the same windows with the sample around them: {context}")
    return line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packs", nargs="*", type=Path,
                    default=[Path("packs/footage"), Path("packs/more"), Path("packs/photos")])
    ap.add_argument("--samples", type=int, default=300, help="random samples per pack")
    ap.add_argument("--sets", default="middlebury,ucf101")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--window", type=int, default=0,
                    help="also a random window of this many px of each (larger) sample")
    args = ap.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(args.seed)
    for path in args.packs:
        if not (path / "index.json").is_file():
            print(f"{path}: no pack there, skipped")
            continue
        print(probe_pack(path, args.samples, rng, args.window))
    motion = FlowMotion()
    for name, found in evaluation_sets(args.data, args.sets):
        one, both = [], []
        for _, p0, p1, _ in found:
            flows = motion.full_flows(to_tensor(read_rgb(p0)), to_tensor(read_rgb(p1)))
            a, b = outside(flows, torch.full((1,), 0.5))
            one.append(a)
            both.append(b)
        print(f"{name} ({len(found)} pairs, whole frames): one side {np.mean(one) * 100:.2f}%, "
              f"both sides {np.mean(both) * 100:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
