#!/usr/bin/env python
"""What tells a predictor how far to trust the motion: per-sample damping, and the evidence for it.

    python tools/probe_damping.py --packs packs/predict2 [packs/predict-more] [--weights W]
                                  [--limit 1024] [--bins 4] [--below DB] [--above DB]
                                  [--threads 1]

For each held-out sample of prediction packs (``tools/make_triplets.py predict``: frame0, frame1
one frame apart, the target ``t`` = 2-5 frames after frame0), the motion estimate past frame1
with its flow scaled by one factor ``g`` for the whole crop (``warp(frame1, g (t - 1) F10)``:
``g = 1`` is mu, and ``g = 0`` nearly repeats frame1: as the predictor's mu, 0.1% of the
estimate is frame0's warp). The oracle takes each sample's best ``g`` with the
truth in hand. A *rule* takes one ``g`` per bin of a number the pair alone gives (quantile bins,
crossed with ``t``), fitted on the even samples and scored on the odd ones, so that its figure is
what such a number could buy a predictor that damps by it:

- ``change``: the mean absolute difference of frame1 and frame0 (how much moves or flickers);
- ``residual``: the mean absolute difference of frame1 and frame0 warped onto it by ``F10``, over
  ``change`` (near 0: the flow explains the pair; near 1 or above: it does not: a jump, a flash,
  a held frame's neighbour, noise);
- ``flow``: the mean length of ``F10`` (pixels);
- ``fb``: the mean forward-backward inconsistency, ``1 - visibility`` of frame1's pixels.

With ``--weights``, its predictor on the same samples. ``--below DB`` keeps the samples whose mu
scores under DB only (``--above DB``: at DB or more): nearly still crops (mu at 50-100 dB, a tenth of the footage's) weigh heavily
in a mean of per-sample PSNRs, for differences nobody sees. Figures are mean per-sample PSNR (dB) and
its gain over mu. Evaluation only: nothing here trains, and packs never hold the frames
``tools/bench_generate.py`` scores on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from vidiff.model.refiner import seen_time
from vidiff.model.weights import load_refiner
from vidiff.motion import FlowMotionConfig
from vidiff.motion.blend import visibility
from vidiff.motion.warp import backward_warp
from vidiff.train.refine_loop import refine_batch
from vidiff.train.triplets import read_triplets, to_tensors

FACTORS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25)
FEATURES = ("change", "residual", "flow", "fb")


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    mse = (x.clamp(0, 1) - y).square().flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp(min=1e-10))


@torch.no_grad()
def measure(pack, limit: int, model=None, size: int = 32) -> dict[str, np.ndarray]:
    """Per held-out sample: PSNR at each factor, of the model, t, and the pair's numbers."""
    idx = np.flatnonzero(pack.holdout)[:limit]
    rows: dict[str, list] = {k: [] for k in ("by_factor", "repeat", "model", "t", *FEATURES)}
    for a in range(0, len(idx), size):
        sel = idx[a : a + size]
        b = to_tensors(np.asarray(pack.frames[sel]), np.asarray(pack.flows[sel], np.float32),
                       np.asarray(pack.times[sel]))
        f0, f1, target, t = b["frame0"], b["frame1"], b["target"], b["t"]
        f01, f10 = b["flows"][:, :2], b["flows"][:, 2:]
        s, _ = seen_time(t, f0)  # mu as the predictor makes it: frame1's warp, 0.1% of frame0's
        rows["by_factor"].append(torch.stack(
            [psnr(torch.lerp(backward_warp(f0, g * b["flow_t0"], mode="bilinear"),
                             backward_warp(f1, g * b["flow_t1"], mode="bilinear"), s), target)
             for g in FACTORS], 1))
        rows["repeat"].append(psnr(f1, target))
        change = (f1 - f0).abs().flatten(1).mean(1)
        rows["change"].append(change)
        warped = backward_warp(f0, f10, mode="bilinear")
        rows["residual"].append((f1 - warped).abs().flatten(1).mean(1) / change.clamp_min(1e-3))
        rows["flow"].append(f10.norm(dim=1).flatten(1).mean(1))
        rows["fb"].append(1 - visibility(f10, f01, FlowMotionConfig.occlusion_alpha,
                                            FlowMotionConfig.occlusion_beta).flatten(1).mean(1))
        rows["t"].append(t)
        if model is not None:
            rows["model"].append(psnr(refine_batch(model, b)["frame"], target))
    return {k: torch.cat(v).numpy() for k, v in rows.items() if v}


def rule_gain(by_factor: np.ndarray, keys: list[np.ndarray]) -> float:
    """Mean PSNR of the odd samples when each takes the factor best on average over the even
    samples of its cell (the cells: every combination of ``keys``' values)."""
    cell = np.unique(np.stack(keys, 1), axis=0, return_inverse=True)[1].ravel()
    fit, test = np.arange(len(cell)) % 2 == 0, np.arange(len(cell)) % 2 == 1
    mu = FACTORS.index(1.0)
    total = 0.0
    for c in np.unique(cell[test]):
        rows = cell == c
        train = rows & fit
        best = int(np.argmax(by_factor[train].mean(0))) if train.any() else mu
        total += by_factor[rows & test, best].sum()
    return total / test.sum()


def quantile_bins(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """``(bin index per value, edges)``: ``bins`` bins of equal count (edges include min, max)."""
    edges = np.quantile(values, np.linspace(0, 1, bins + 1))
    return np.searchsorted(edges[1:-1], values), edges


def report(name: str, m: dict[str, np.ndarray], bins: int) -> list[str]:
    by = m["by_factor"]
    odd = np.arange(len(by)) % 2 == 1
    base = by[odd, FACTORS.index(1.0)].mean()
    lines = [f"## {name}: {len(by)} held-out samples (rules scored on the {odd.sum()} odd ones)", "",
             "| estimate | PSNR (odd samples) | over mu |", "|---|---|---|"]

    def row(label: str, value: float) -> None:
        lines.append(f"| {label} | {value:.3f} | {value - base:+.3f} |")

    for i, g in enumerate(FACTORS):
        row(f"flow x {g:g}{' (mu)' if g == 1 else ''}", by[odd, i].mean())
    row("repeat frame1", m["repeat"][odd].mean())
    row("oracle: each sample's best factor", by[odd].max(1).mean())
    if "model" in m:
        row("the predictor", m["model"][odd].mean())
    t = m["t"].round().astype(int)
    row("rule: one factor per t", rule_gain(by, [t]))
    binned = {f: quantile_bins(m[f], bins) for f in FEATURES}
    for f in FEATURES:
        row(f"rule: per t and {bins} bins of {f}", rule_gain(by, [t, binned[f][0]]))
    row("rule: per t and bins of change x residual",
        rule_gain(by, [t, binned["change"][0], binned["residual"][0]]))
    q, edges = binned["residual"]
    best = [f"{edges[b]:.2f}-{edges[b + 1]:.2f}: x{FACTORS[int(np.argmax(by[q == b].mean(0)))]:g}"
            for b in range(bins) if (q == b).any()]
    lines += ["", "Best factor on average per bin of residual (all samples): " + ", ".join(best), ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packs", nargs="+", type=Path, required=True, help="prediction packs")
    ap.add_argument("--weights", type=Path, help="also score this file's predictor")
    ap.add_argument("--limit", type=int, default=1024, help="held-out samples per pack at most")
    ap.add_argument("--bins", type=int, default=4, help="quantile bins per number (default: 4)")
    ap.add_argument("--below", type=float, help="keep the samples whose mu scores under this (dB)")
    ap.add_argument("--above", type=float, help="keep the samples whose mu scores this or more (dB)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if args.bins < 1 or args.limit < 2:
        ap.error("--bins needs at least 1 and --limit at least 2")
    torch.set_num_threads(args.threads)
    model = load_refiner(args.weights, part="predictor").eval() if args.weights else None
    out = [f"command: python tools/probe_damping.py {' '.join(sys.argv[1:] if argv is None else argv)}", ""]
    for path in args.packs:
        pack = read_triplets(path)
        if not (pack.times > 1).all():
            print(f"probe_damping: error: {path} is not a prediction pack (times past frame1)",
                  file=sys.stderr)
            return 2
        m = measure(pack, args.limit, model)
        name = str(path)
        if args.below is not None or args.above is not None:
            mu = m["by_factor"][:, FACTORS.index(1.0)]
            keep = np.ones(len(mu), bool)
            if args.below is not None:
                keep &= mu < args.below
                name += f", mu under {args.below:g} dB"
            if args.above is not None:
                keep &= mu >= args.above
                name += f", mu at {args.above:g} dB or more"
            m = {k: v[keep] for k, v in m.items()}
            if keep.sum() < 2:
                out += [f"## {name}: fewer than 2 samples", ""]
                continue
        out += report(name, m, args.bins)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
