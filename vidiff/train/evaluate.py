"""Evaluation during training: PSNR of mu and of the (EMA) model on fixed held-back windows.

A batch is the dict of :mod:`.batches` (``target`` and the Cond fields) already on the model's
device. PSNR (:func:`vidiff.metrics.psnr`, 0..255 scale) is averaged over the unknown frames; the
model samples with ``steps`` steps of the default sampler and a fixed seed, in fp32.
Sample grids: per window four rows (known frames with unknown ones black, mu, model, truth), one
column per frame, 2-pixel gaps, written as PNG.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch
from einops import rearrange

from vidiff.metrics import psnr

from .batches import batch_to_cond


@torch.no_grad()
def predict(model, batch: dict, steps: int, seed: int = 0, chunk: int = 8) -> torch.Tensor:
    """Model output ``b 3 t h w`` for every window of ``batch`` (sampled in chunks)."""
    from vidiff.model import sample

    device = batch["target"].device
    target, cond = batch_to_cond(batch, device)
    outs = []
    for i in range(0, target.shape[0], chunk):
        part = _slice_cond(cond, slice(i, i + chunk))
        generator = torch.Generator(device=device).manual_seed(seed + i)
        outs.append(sample(model, part, steps=steps, generator=generator).float())
    return torch.cat(outs)


def _slice_cond(cond, sl):
    import dataclasses

    return type(cond)(**{f.name: getattr(cond, f.name)[sl] for f in dataclasses.fields(cond)})


STATIC_DIFF = 1.0  # mean |frame - nearest known frame| (0..255) below which a frame is static


def evaluate(model, batch: dict, steps: int, seed: int = 0) -> dict[str, float | None]:
    """PSNR of mu and of the model over the unknown frames, with motion and static apart.

    Keys: ``psnr_gain`` (mean over frames *with motion* of the per-frame PSNR gain of the model
    over mu: the figure to watch), ``psnr_mu`` and ``psnr_model`` (mean per-frame PSNR over frames
    with motion), ``eval_frames`` (their number), and the same with a ``static_`` prefix for the
    frames that equal their nearest known frame within ``STATIC_DIFF`` (mean absolute difference
    on 0..255), where a per-frame PSNR says nothing about interpolation.
    """
    output = predict(model, batch, steps, seed)
    target, mu, mask, times = batch["target"], batch["mu"], batch["mask"], batch["times"]
    groups: dict[str, tuple[list, list]] = {"": ([], []), "static_": ([], [])}
    for b, j in (~mask).nonzero().tolist():
        known = mask[b].nonzero().flatten()
        nearest = int(known[(times[b, known] - times[b, j]).abs().argmin()])
        diff = float((target[b, :, j] - target[b, :, nearest]).abs().mean()) * 255.0
        scores = groups["static_" if diff < STATIC_DIFF else ""]
        scores[0].append(min(psnr(mu[b, :, j], target[b, :, j]), 99.0))
        scores[1].append(min(psnr(output[b, :, j], target[b, :, j]), 99.0))
    out: dict[str, float | None] = {}
    for prefix, (mus, models) in groups.items():
        out[prefix + "psnr_mu"] = float(np.mean(mus)) if mus else None
        out[prefix + "psnr_model"] = float(np.mean(models)) if mus else None
        out[prefix + "psnr_gain"] = float(np.mean(np.subtract(models, mus))) if mus else None
        out[prefix + "eval_frames"] = len(mus)
    return out


def eval_line(m: dict) -> str:
    """One log line for :func:`evaluate`'s result."""
    parts = []
    if m["eval_frames"]:
        parts.append(
            f"gain over mu {m['psnr_gain']:+.3f} dB on {m['eval_frames']} frames with motion "
            f"(mu {m['psnr_mu']:.2f}, model {m['psnr_model']:.2f})"
        )
    if m["static_eval_frames"]:
        parts.append(f"static frames {m['static_psnr_gain']:+.3f} dB ({m['static_eval_frames']})")
    return "; ".join(parts) or "no unknown frames"


def write_sample_grid(
    path: Path, model, batch: dict, steps: int, seed: int = 0, windows: int = 4
) -> Path:
    """PNG grid of the first ``windows`` windows: known / mu / model / truth rows."""
    part = {k: v[:windows] for k, v in batch.items()}
    output = predict(model, part, steps, seed)
    known = part["frames"] * part["mask"][:, None, :, None, None]
    rows = torch.stack([known, part["mu"].float(), output, part["target"]], dim=1)  # b r c t h w
    rows = torch.nn.functional.pad(rows.clamp(0, 1), (0, 2, 0, 2), value=1.0)
    grid = rearrange(rows, "b r c t h w -> (b r h) (t w) c")
    image = (grid.cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.vidiff-tmp-{os.getpid()}.png")
    cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    os.replace(tmp, path)
    return path
