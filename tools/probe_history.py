#!/usr/bin/env python
"""Does a third seed tell how far to trust the motion? A backtest of the extrapolation, per block.

    python tools/probe_history.py [SOURCES ...] [--every 8] [--block 64] [--frame-size 480]
                                  [--depth 2] [--below DB] [--limit N] [--output FILE]
                                  [--save FILE.npz | --load FILE.npz]

``vidiff generate`` extrapolates the flow of the last two seeds (frame0, frame1) to the frames
after them; how far to trust that flow is what a predictor has to guess, and
``tools/probe_damping.py`` found that the pair itself tells little of it. With one seed more
(the frame before, ``p``) the same extrapolation can be *backtested*: the flow of ``(p, frame0)``
carried one frame on predicts frame1, which is known. This probe measures, per ``--block`` px
block of real footage (SOURCES: videos and frame folders; by default ``../shared/data/clips``
and ``sequences``, decoded at ``--frame-size`` px as the prediction packs are, split at scene
cuts, the frames ``tools/bench_generate.py`` scores on kept out), the extrapolation past frame1
with its flow scaled by one factor ``g`` per block (``warp(frame1, g (t - 1) F10)``, ``g = 1``
is mu, ``g = 0`` repeats frame1) at ``t`` = 2-5 (1-4 frames past frame1), and scores rules that
choose ``g``:

- oracle: each block's best ``g`` at each ``t``, with the truth in hand;
- one ``g`` per ``t``: the best on average (what a predictor that sees nothing can learn);
- backtest: the ``g`` whose backtest (``warp(frame0, g F0p)`` against frame1) scores best in the
  block, used at every ``t``: no fitting;
- per ``t`` and backtest's ``g``, and per ``t`` and bins of the backtest's gain of mu over
  repeat: the mapping fitted on the even positions and scored on the odd ones;
- per ``t`` and bins of ``residual`` (the pair alone, as ``probe_damping.py``), for comparison;
- with ``--depth 2`` (a fourth seed, ``q`` before ``p``), the same backtest one frame earlier
  (``warp(p, g Fpq)`` against frame0) as well: per ``t`` and the factor best over both
  backtests (each block's errors divided by their mean over the factors, then summed), and per
  ``t`` and each backtest's own best factor.

Figures are the mean PSNR of the frames (whole blocks) each rule makes, as
``tools/bench_generate.py`` averages frames; rules are fitted to maximise it (each block's error
weighed by one over its frame's error under mu). ``--below DB`` also reports the positions
whose mu scores under DB at t+1 (moving shots). The table each rule of the form "per t and
backtest's best factor" fits on every position is printed: it is
:data:`vidiff.motion.history.TABLE`. Evaluation only: nothing trains. Skips (exit 0) when the
default sources are absent. ``--save`` keeps the measurements (an ``.npz``), and ``--load``
reports from them again without decoding anything.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_line  # tools/machine.py (this folder)

from vidiff.motion import FlowMotion
from vidiff.motion.warp import backward_warp
from vidiff.train.predict_pack import bench_windows
from vidiff.train.segments import decode_source, expand_sources, split_runs
from vidiff.train.triplets import full_flows

FACTORS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25)
AHEAD = (2, 3, 4, 5)  # t in units of the pair: 1-4 frames past frame1
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MU = FACTORS.index(1.0)


def block_mse(x: torch.Tensor, y: torch.Tensor, block: int) -> np.ndarray:
    """Per-block MSE of two ``3 h w`` frames (whole blocks only), flattened."""
    err = (x.clamp(0, 1) - y).square().mean(0)
    h, w = (s // block * block for s in err.shape)
    return err[:h, :w].reshape(h // block, block, w // block, block).mean((1, 3)).flatten().numpy()


def tensor(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255


def extrapolate(frame: torch.Tensor, flow_back: torch.Tensor, ahead: float) -> torch.Tensor:
    """``frame`` carried ``ahead`` frames on along the reversed flow to the frame before it."""
    return backward_warp(frame, ahead * flow_back, mode="bilinear")[0]


@torch.no_grad()
def measure_position(motion, before: list[np.ndarray], f0: np.ndarray, f1: np.ndarray,
                     targets: list[np.ndarray], block: int) -> dict[str, np.ndarray]:
    """One position's blocks: ``fwd`` (blocks, t, g), ``repeat`` (blocks, t), ``back`` (blocks,
    g), ``back2`` (blocks, g; with two frames ``before``, oldest first: the same backtest one
    frame earlier, the frame before ``p`` carrying ``p`` on to frame0), ``residual`` (blocks)."""
    tp, t0, t1 = (tensor(x) for x in (before[-1], f0, f1))
    flow_10 = torch.from_numpy(full_flows(motion, f0, f1)[2:])[None]  # frame1 -> frame0
    flow_0p = torch.from_numpy(full_flows(motion, before[-1], f0)[2:])[None]  # frame0 -> p
    fwd = np.stack([np.stack([block_mse(extrapolate(t1, g * flow_10, k - 1), tensor(y)[0], block)
                              for g in FACTORS], 1) for k, y in zip(AHEAD, targets)], 1)
    repeat = np.stack([block_mse(t1[0], tensor(y)[0], block) for y in targets], 1)
    back = np.stack([block_mse(extrapolate(t0, g * flow_0p, 1), t1[0], block) for g in FACTORS], 1)
    out = {"back": back}
    if len(before) > 1:
        flow_pq = torch.from_numpy(full_flows(motion, before[-2], before[-1])[2:])[None]
        out["back2"] = np.stack([block_mse(extrapolate(tp, g * flow_pq, 1), t0[0], block)
                                 for g in FACTORS], 1)
    err = (t1 - backward_warp(t0, flow_10, mode="bilinear")).abs().mean(1)[0]
    change = (t1 - t0).abs().mean(1)[0]
    h, w = (s // block * block for s in err.shape)

    def pool(x):
        return x[:h, :w].reshape(h // block, block, w // block, block).mean((1, 3)).flatten()

    residual = (pool(err) / pool(change).clamp_min(1e-3)).numpy()
    return {"fwd": fwd, "repeat": repeat, **out, "residual": residual}


def collect(sources: list[Path], every: int, block: int, frame_size: int, limit: int | None,
            log=print, depth: int = 1) -> dict[str, np.ndarray]:
    motion = FlowMotion()
    rows: dict[str, list] = {"fwd": [], "repeat": [], "back": [], "residual": [], "position": []}
    if depth > 1:
        rows["back2"] = []
    position = 0
    need = depth + max(AHEAD) + 1  # the frames before, frame0 ... frame0 + max(AHEAD)
    for path in expand_sources(sources):
        frames, _, cuts = decode_source(path, frame_size)
        ranges = bench_windows(len(frames)) if path.is_file() else []
        made = 0
        for a, b in split_runs(len(frames), cuts):
            for s in range(a, b - need + 1, every):
                if any(lo <= i < hi for lo, hi in ranges for i in range(s, s + need)):
                    continue
                before, f0, f1 = frames[s : s + depth], frames[s + depth], frames[s + depth + 1]
                targets = [frames[s + depth + k] for k in AHEAD]
                m = measure_position(motion, before, f0, f1, targets, block)
                for key, value in m.items():
                    rows[key].append(value)
                rows["position"].append(np.full(len(m["residual"]), position))
                position += 1
                made += 1
                if limit is not None and position >= limit:
                    break
            if limit is not None and position >= limit:
                break
        log(f"probe_history: {path.name}: {len(frames)} frames, {made} positions")
        if limit is not None and position >= limit:
            break
    return {k: np.concatenate(v) for k, v in rows.items()}


def frame_psnr(mse: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Per position and t: the PSNR of the frame whose blocks have these MSEs (blocks x t)."""
    count = np.bincount(position)
    total = np.stack([np.bincount(position, weights=mse[:, j], minlength=len(count))
                      for j in range(mse.shape[1])], 1)
    return -10 * np.log10(np.maximum(total / count[:, None], 1e-10))


def fit_table(mse: np.ndarray, weight: np.ndarray, cells: np.ndarray, fit: np.ndarray) -> dict:
    """Per cell: the factor index whose ``weight``-ed MSE over the ``fit`` entries is least
    (mu's where a cell has none). ``weight`` is 1 / the frame's MSE under mu, so that the choice
    minimises (to first order) the mean of per-frame log MSE: the mean frame PSNR."""
    table = {}
    for c in np.unique(cells):
        rows = (cells == c) & fit
        table[c] = int(np.argmin((mse[rows] * weight[rows, None]).sum(0))) if rows.any() else MU
    return table


def quantile_bins(values: np.ndarray, bins: int) -> np.ndarray:
    edges = np.quantile(values, np.linspace(0, 1, bins + 1))
    return np.searchsorted(edges[1:-1], values)


def rules(m: dict[str, np.ndarray], bins: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per (block, t): the MSE each estimate or rule gives (blocks x t); and the table of
    :func:`fit_table` for the backtest's best factor fitted on every position (t x factor)."""
    fwd, back, position = m["fwd"], m["back"], m["position"]
    n, nt, _ = fwd.shape
    frame_mu = frame_psnr(fwd[:, :, MU], position)  # positions x t
    weight = (10 ** (frame_mu / 10))[position].ravel()  # 1 / the frame's MSE under mu
    t_idx = np.repeat(np.arange(nt)[None], n, 0).ravel()
    flat = fwd.reshape(n * nt, -1)
    even = np.repeat((position % 2 == 0)[:, None], nt, 1).ravel()

    def per(*keys, fit=even):
        cells = np.unique(np.stack([t_idx, *[np.repeat(k[:, None], nt, 1).ravel() for k in keys]], 1),
                          axis=0, return_inverse=True)[1].ravel()
        table = fit_table(flat, weight, cells, fit)
        chosen = np.array([table[c] for c in cells])
        return np.take_along_axis(flat, chosen[:, None], 1)[:, 0].reshape(n, nt)

    best_back = back.argmin(1)
    gain_back = np.log10(back[:, FACTORS.index(0.0)] + 1e-10) - np.log10(back[:, MU] + 1e-10)
    out = {"repeat frame1": m["repeat"], "mu (flow x 1)": fwd[:, :, MU]}
    for i, g in enumerate(FACTORS):
        if g not in (0.0, 1.0):
            out[f"flow x {g:g}"] = fwd[:, :, i]
    out["oracle: each block's best factor"] = fwd.min(2)
    out["rule: one factor per t"] = per()
    out[f"rule: per t and {bins} bins of residual (the pair)"] = per(quantile_bins(m["residual"], bins))
    out["backtest: its best factor, at every t"] = np.take_along_axis(
        fwd, np.repeat(best_back[:, None, None], nt, 1), 2)[:, :, 0]
    out["rule: per t and backtest's best factor"] = per(best_back)
    out[f"rule: per t and {bins} bins of backtest's mu-over-repeat"] = per(quantile_bins(gain_back, bins))
    out["rule: per t, backtest's factor and bins of residual"] = per(
        best_back, quantile_bins(m["residual"], bins))
    if "back2" in m:  # two backtests, one frame apart
        out["rule: per t and both backtests' best factor (errors summed)"] = per(
            summed_choice(m["back"], m["back2"]))
        out["rule: per t and each backtest's best factor"] = per(best_back, m["back2"].argmin(1))
    return out, choice_table(m, best_back)


def summed_choice(back: np.ndarray, back2: np.ndarray) -> np.ndarray:
    """Per block: the factor index best over both backtests (blocks x factors each): each
    block's errors divided by their mean over the factors, then summed."""
    return (back / back.mean(1, keepdims=True).clip(1e-10)
            + back2 / back2.mean(1, keepdims=True).clip(1e-10)).argmin(1)


def choice_table(m: dict[str, np.ndarray], choice: np.ndarray) -> np.ndarray:
    """t x factor: :func:`fit_table` for a per-block choice of factor (an index into FACTORS),
    fitted on every position; a factor never chosen maps to itself."""
    fwd, position = m["fwd"], m["position"]
    n, nt, _ = fwd.shape
    weight = (10 ** (frame_psnr(fwd[:, :, MU], position) / 10))[position].ravel()
    cells = (np.arange(nt)[None] * len(FACTORS) + choice[:, None]).ravel()
    fitted = fit_table(fwd.reshape(n * nt, -1), weight, cells, np.ones(n * nt, bool))
    return np.array([[fitted.get(j * len(FACTORS) + i, i) for i in range(len(FACTORS))]
                     for j in range(nt)])


def report(m: dict[str, np.ndarray], bins: int, title: str) -> list[str]:
    table, fitted_all = rules(m, bins)
    position = m["position"]
    odd = np.unique(position[position % 2 == 1])
    frames = {name: frame_psnr(v, position)[odd] for name, v in table.items()}
    base = frames["mu (flow x 1)"].mean()
    lines = [f"## {title}: {len(np.unique(position))} positions ({len(position)} blocks); "
             f"figures over the {len(odd)} odd ones", "",
             "Mean frame PSNR (dB) of the frames each rule makes, blocks chosen per rule:", "",
             "| estimate | " + " | ".join(f"t+{k - 1}" for k in AHEAD) + " | mean | over mu |",
             "|---|" + "---|" * (len(AHEAD) + 2)]
    for name, v in frames.items():
        lines.append(f"| {name} | " + " | ".join(f"{x:.2f}" for x in v.mean(0))
                     + f" | {v.mean():.3f} | {v.mean() - base:+.3f} |")
    share = np.bincount(m["back"].argmin(1), minlength=len(FACTORS)) / len(m["back"])
    lines += ["", "Backtest's best factor, share of blocks: "
              + ", ".join(f"x{g:g} {s:.0%}" for g, s in zip(FACTORS, share)), "",
              "Factor to use per t (rows: t+1 ... t+4) for each backtest's best factor "
              f"(columns: {', '.join(f'x{g:g}' for g in FACTORS)}), fitted on every position:", "",
              *table_lines(fitted_all)]
    if "back2" in m:
        lines += ["The same for the factor best over both backtests (errors summed), fitted "
                  "on every position:", "",
                  *table_lines(choice_table(m, summed_choice(m["back"], m["back2"])))]
    return lines


def table_lines(table: np.ndarray) -> list[str]:
    return ["```", "(" + ",\n ".join("(" + ", ".join(f"{FACTORS[i]:g}" for i in row) + ")"
                                     for row in table) + ")", "```", ""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sources", nargs="*", type=Path,
                    help="videos and frame folders (default: ../shared/data/clips and sequences)")
    ap.add_argument("--every", type=int, default=8, help="a position every N frames (default: 8)")
    ap.add_argument("--block", type=int, default=64, help="block size in pixels (default: 64)")
    ap.add_argument("--frame-size", type=int, default=480, help="decode at this size (default: 480)")
    ap.add_argument("--bins", type=int, default=4, help="quantile bins per number (default: 4)")
    ap.add_argument("--below", type=float, default=35.0,
                    help="also report the positions whose mu at t+1 scores under DB (default: 35)")
    ap.add_argument("--limit", type=int, help="stop after this many positions")
    ap.add_argument("--depth", type=int, default=1, choices=(1, 2),
                    help="frames before the pair: 2 also backtests one frame earlier (default: 1)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--output", type=Path, help="also write the report here")
    ap.add_argument("--save", type=Path, help="also keep the measurements here (.npz)")
    ap.add_argument("--load", type=Path, help="report from measurements kept by --save")
    args = ap.parse_args(argv)
    if args.load is not None and (args.sources or args.save is not None):
        ap.error("--load reads kept measurements: no SOURCES, no --save")
    if args.every < 1 or args.block < 8 or args.bins < 1 or (args.limit is not None and args.limit < 2):
        ap.error("--every needs >= 1, --block >= 8, --bins >= 1 and --limit >= 2")
    sources = args.sources or [DATA / "clips", DATA / "sequences"]
    if args.load is not None:
        if not args.load.is_file():
            print(f"probe_history: error: {args.load} does not exist", file=sys.stderr)
            return 2
        sources = []
    elif not args.sources and not all(s.exists() for s in sources):
        print(f"probe_history: {DATA} is absent; nothing to probe")
        return 0
    missing = [s for s in sources if not s.exists()]
    if missing:
        print(f"probe_history: error: {missing[0]} does not exist", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    start = time.monotonic()
    if args.load is not None:
        with np.load(args.load) as kept:
            m = dict(kept)
    else:
        m = collect(sources, args.every, args.block, args.frame_size, args.limit,
                    log=lambda s: print(s, file=sys.stderr), depth=args.depth)
        if args.save is not None:
            np.savez_compressed(args.save, **m)
    if m["position"].size == 0 or m["position"].max() < 1:
        print("probe_history: error: fewer than two positions in the sources", file=sys.stderr)
        return 2
    cmd = " ".join(sys.argv[1:] if argv is None else argv)
    out = ["# Backtesting the extrapolation with a third seed", "",
           f"- command: `python tools/probe_history.py {cmd}`", f"- machine: {machine_line()}",
           f"- {int(m['position'].max()) + 1} positions, {time.monotonic() - start:.0f} s", ""]
    out += report(m, args.bins, "all positions")
    mu_first = frame_psnr(m["fwd"][:, :1, MU], m["position"])[:, 0]
    moving = mu_first[m["position"]] < args.below
    if len(np.unique(m["position"][moving] % 2)) == 2:
        out += report({k: v[moving] for k, v in m.items()}, args.bins,
                      f"positions whose mu at t+1 scores under {args.below:g} dB")
    text = "\n".join(out)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
