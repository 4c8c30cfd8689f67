"""Re-time the samples of a footage pack: the time at which the motion says the target sits.

Real footage does not move at constant speed between two frames (hand-held cameras, easing,
frame-rate conversions, rolling shutter), so the target of a footage triplet is often not where
linear motion puts it at the nominal time ``t``. Measured on the clean footage pack (600 samples):
the motion estimate at the best-fitting time is 0.88 dB closer to the target on average than at
the nominal ``t``, and for 24% of the samples that best time is more than 0.15 away. No two-frame
model can know that shift, so the nominal time is label noise that teaches blur. Indexing a sample
by how far along its motion path the target is, rather than by its clock time, is what "distance
indexing" (Zhong et al. 2023, velocity ambiguity in frame interpolation) does; here the distance is
read off the motion estimate: the ``t`` whose estimate is closest to the target (PSNR), searched on
a coarse grid and refined around the best point.

The re-timed pack shares the original's arrays (hard links where possible) except ``times.npy``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from vidiff.errors import OptionError, OutputError

from .triplets import FILES, OPTIONAL, read_triplets


def _errors(frames: torch.Tensor, flows: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the motion estimate at each of ``times`` against the target."""
    from vidiff.motion import FlowMotionConfig
    from vidiff.motion.blend import blend_warped, flows_to_time

    k = times.shape[0]
    f0, gt, f1 = (frames[i : i + 1].expand(k, -1, -1, -1) for i in range(3))
    fl = flows[None].expand(k, -1, -1, -1)
    ft0, ft1 = flows_to_time(fl[:, :2], fl[:, 2:], times)
    w1 = times.view(-1, 1, 1, 1)
    mu = blend_warped(f0, f1, ft0, ft1, 1.0 - w1, w1, mode=FlowMotionConfig.warp)
    return (mu - gt).square().mean((1, 2, 3))


def fit_time(frames: np.ndarray, flows: np.ndarray, coarse: int = 19, fine: float = 0.01,
             lo: float = 0.02, hi: float = 0.98) -> float:
    """The time in ``[lo, hi]`` at which the motion estimate is closest to the target.

    ``frames``: uint8 ``3 h w 3`` (frame0, target, frame1); ``flows``: ``4 h w`` (pixels)."""
    f = torch.from_numpy(np.array(frames, dtype=np.float32) / 255.0).permute(0, 3, 1, 2)
    fl = torch.from_numpy(np.array(flows, dtype=np.float32))
    grid = torch.linspace(lo, hi, coarse)
    best = float(grid[int(_errors(f, fl, grid).argmin())])
    step = float(grid[1] - grid[0])
    near = torch.arange(best - step, best + step + fine / 2, fine).clamp(lo, hi)
    return float(near[int(_errors(f, fl, near).argmin())])


def _fit_times(source: Path, indices: range, log: Callable[[str], None] | None = None,
               threads: int = 0) -> np.ndarray:
    """Fitted times of the samples ``indices`` of pack ``source`` (one worker's share)."""
    if threads:
        torch.set_num_threads(threads)
    pack = read_triplets(source)
    times = np.empty(len(indices), dtype=np.float32)
    for n, i in enumerate(indices):
        times[n] = fit_time(pack.frames[i], pack.flows[i])
        if log is not None and (n + 1) % 1000 == 0:
            log(f"retime: {n + 1}/{len(indices)}")
    return times


def retime_triplets(source: Path, out: Path, log: Callable[[str], None] = print,
                    workers: int = 1) -> dict:
    """Write pack ``out``: pack ``source`` with each sample's time replaced by its fitted time.
    ``workers`` > 1 fits contiguous shares in that many processes (spawned, one thread each; the
    result does not depend on it). Returns statistics of the shift (fitted minus nominal time)."""
    source, out = Path(source), Path(out)
    if out.exists():
        raise OutputError(f"{out} exists; remove it or choose another --out")
    if workers < 1:
        raise OptionError(f"workers must be at least 1, got {workers}")
    pack = read_triplets(source)
    n = len(pack)
    if workers == 1:
        times = _fit_times(source, range(n), log)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        bounds = np.linspace(0, n, workers + 1).astype(int)
        shares = [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        log(f"retime: {n} samples in {workers} processes")
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(_fit_times, [source] * workers, shares, [None] * workers,
                                  [1] * workers))
        times = np.concatenate(parts)
    shift = times - np.asarray(pack.times, dtype=np.float32)
    stats = {"samples": len(pack), "mean_abs_shift": float(np.abs(shift).mean()),
             "share_over_0.15": float((np.abs(shift) > 0.15).mean())}
    tmp = out.with_name(out.name + ".vidiff-tmp")
    tmp.mkdir(parents=True, exist_ok=False)
    # frame_stats (if any) stays as made at the nominal time: the pack lacks the whole frames
    # to remake it at the fitted one, and a shift of ~0.1 moves a frame's means little; true
    # flows to t (a synthetic pack's) would be wrong at another t, and are left out
    for k in FILES + tuple(k for k in OPTIONAL if (source / f"{k}.npy").is_file()):
        if k in ("times", "true_flows"):
            continue
        try:
            os.link(source / f"{k}.npy", tmp / f"{k}.npy")
        except OSError:
            shutil.copyfile(source / f"{k}.npy", tmp / f"{k}.npy")
    np.save(tmp / "times.npy", times)
    np.save(tmp / "nominal_times.npy", np.asarray(pack.times, dtype=np.float32))
    index = json.loads((source / "index.json").read_text())
    index["settings"] = {**index.get("settings", {}), "retimed_from": str(source), **stats}
    (tmp / "index.json").write_text(json.dumps(index, indent=1))
    os.replace(tmp, out)
    return stats
