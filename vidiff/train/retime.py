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

from vidiff.errors import OutputError

from .triplets import FILES, read_triplets


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


def retime_triplets(source: Path, out: Path, log: Callable[[str], None] = print) -> dict:
    """Write pack ``out``: pack ``source`` with each sample's time replaced by its fitted time.
    Returns statistics of the shift (fitted minus nominal time)."""
    source, out = Path(source), Path(out)
    if out.exists():
        raise OutputError(f"{out} exists; remove it or choose another --out")
    pack = read_triplets(source)
    times = np.empty(len(pack), dtype=np.float32)
    for i in range(len(pack)):
        times[i] = fit_time(pack.frames[i], pack.flows[i])
        if (i + 1) % 1000 == 0:
            log(f"retime: {i + 1}/{len(pack)}")
    shift = times - np.asarray(pack.times, dtype=np.float32)
    stats = {"samples": len(pack), "mean_abs_shift": float(np.abs(shift).mean()),
             "share_over_0.15": float((np.abs(shift) > 0.15).mean())}
    tmp = out.with_name(out.name + ".vidiff-tmp")
    tmp.mkdir(parents=True, exist_ok=False)
    for k in FILES:
        if k == "times":
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
