"""Training the refiner's fallback share harder: where the plain blend beats the motion estimate.

The fallback output (:class:`vidiff.model.refiner.RefinerConfig`) mixes a per-pixel share ``f``
of the plain time-weighted blend ``B = lerp(frame0, frame1, t)`` into the refined frame ``U``:
``U + f (B - U)``. On UCF101 the better of mu and the blend per triplet, truth in hand, is worth
+0.31 dB over mu; the shipped refiner takes less than half of it. Two ways to push it further:

- :func:`blend_wins`: the training samples in which the blend beats mu, so that a share of each
  batch can be drawn from them (``RefinerTrain.blend_wins``), rather than from all samples, where
  such cases are a minority whose gains are mostly small;
- :func:`share_loss`: a direct loss on the share, with the least-squares best share over each
  ``window`` x ``window`` patch as its target (``RefinerTrain.share_loss``). The frame loss
  reaches the share only through ``sigmoid(z - 4)``, whose slope at the start is 0.018, and so
  barely shapes the features the share is decided from; a cross-entropy on the logit has a slope
  of ``f - f*`` everywhere. Each patch counts by how much the choice matters there
  (``mean |B - U|^2``), so flat patches, where blend and frame agree, count for nothing.

Layouts: ``b c h w`` float frames in [0, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from vidiff.model.refiner import FALLBACK_BIAS
from vidiff.motion.warp import backward_warp

from .triplets import Triplets, to_tensors

# A patch whose blend and frame differ by less than about one grey level per pixel gets a best
# share pulled towards 0 (keep the refined frame): there the "best" share is noise.
SHARE_EPS = (1.0 / 255.0) ** 2


@torch.no_grad()
def blend_wins(pack: Triplets, indices: np.ndarray, warp: str = "bicubic",
               batch: int = 64) -> np.ndarray:
    """The entries of ``indices`` (samples of ``pack``) whose plain time-weighted blend of frame0
    and frame1 is closer to the target than the motion estimate mu (the two backward warps by the
    stored flows, blended by time; ``warp`` as the refiner samples), in mean squared error over
    the whole sample. Prediction samples (times past frame1) are never counted: their blend is
    not a frame anyone would show."""
    keep = []
    indices = np.asarray(indices)
    for a in range(0, len(indices), batch):
        sel = np.sort(indices[a : a + batch])
        b = to_tensors(np.asarray(pack.frames[sel]), np.asarray(pack.flows[sel], np.float32),
                       np.asarray(pack.times[sel]))
        s = b["t"].clamp(0, 1).view(-1, 1, 1, 1)
        mu = torch.lerp(backward_warp(b["frame0"], b["flow_t0"], mode=warp),
                        backward_warp(b["frame1"], b["flow_t1"], mode=warp), s)
        blend = torch.lerp(b["frame0"], b["frame1"], s)
        err_mu = (mu.clamp(0, 1) - b["target"]).square().flatten(1).mean(1)
        err_blend = (blend - b["target"]).square().flatten(1).mean(1)
        keep.append(sel[((err_blend < err_mu) & (b["t"] < 1)).numpy()])
    return np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)


def best_share(unmixed: Tensor, blend: Tensor, target: Tensor, window: int = 8,
               ) -> tuple[Tensor, Tensor]:
    """The least-squares best constant share of ``blend`` to mix into ``unmixed`` over each
    ``window`` x ``window`` patch (``clamp(sum (T - U)(B - U) / (sum |B - U|^2 + eps), 0, 1)``)
    and each patch's stake (``mean |B - U|^2``: the error a wrong share costs), both ``b 1 h w``
    at full resolution (each pixel gets its patch's values; patches align to the top left, the
    last ones may be partial)."""
    diff = blend - unmixed
    num = ((target - unmixed) * diff).sum(1, keepdim=True)
    den = diff.square().sum(1, keepdim=True)
    h, w = den.shape[-2:]
    pool = dict(kernel_size=window, stride=window, ceil_mode=True)
    num_p, den_p = F.avg_pool2d(num, **pool), F.avg_pool2d(den, **pool)
    share = (num_p / (den_p + 3 * SHARE_EPS)).clamp(0, 1)
    up = dict(scale_factor=window, mode="nearest")
    return F.interpolate(share, **up)[..., :h, :w], F.interpolate(den_p / 3, **up)[..., :h, :w]


def share_loss(res: dict, target: Tensor, window: int = 8, per_sample: bool = False,
               floor: float = 1e-6) -> Tensor:
    """Stake-weighted binary cross-entropy between the refiner's fallback share (through its
    logit, ``res["fallback_logit"]``) and :func:`best_share` of its own frame before the mix (no
    gradient through the target). A share of 0 at a logit of ``-inf`` is read as the sigmoid's
    ``p``, so the target ``f*`` becomes ``low + f* (1 - low)``, as
    :func:`vidiff.model.refiner.fallback_share` maps.

    Pooled over the batch (``per_sample=False``, s2 and s5), the worst samples dominate, as in a
    batch MSE: a small share of blend everywhere lowers their error more than it raises the
    easy ones', so the share learns to hedge, which lowers the mean per-sample PSNR the
    benchmarks average. With ``per_sample`` each sample counts by ``1 / its own error`` (the
    refined frame's MSE plus ``floor``, no gradient), as :func:`.refine_loop.log_mse` weighs
    them; the weights are normalised like the stakes, so the loss stays a weighted mean BCE."""
    return _towards_best(res["fallback_logit"], res["unmixed"], res["blend"], res["frame"],
                         target, window, per_sample, floor)


def choice_loss(res: dict, target: Tensor, window: int = 8, per_sample: bool = False,
                floor: float = 1e-6) -> Tensor:
    """:func:`share_loss` for the choice of the alternate flows (``RefinerConfig.alternate``):
    the choice's logit ``res["alternate_logit"]`` towards the best constant share of
    ``by_alternate`` to mix into ``by_chosen`` over each patch (the refined frame is linear in the
    choice: ``lerp(by_chosen, by_alternate, a)`` before the fallback). As with the fallback, the
    frame loss reaches the choice through a sigmoid's slope of 0.018 at the start; and where the
    two flows agree the stake is nil."""
    return _towards_best(res["alternate_logit"], res["by_chosen"], res["by_alternate"],
                         res["frame"], target, window, per_sample, floor)


def _towards_best(logit: Tensor, start: Tensor, end: Tensor, frame: Tensor, target: Tensor,
                  window: int, per_sample: bool, floor: float) -> Tensor:
    """Stake-weighted BCE of a share's ``logit`` (with :data:`FALLBACK_BIAS` in it) towards
    :func:`best_share` of ``end`` mixed into ``start``; ``per_sample``: each sample weighed by
    ``1 / (MSE of frame + floor)``."""
    with torch.no_grad():
        share, stake = best_share(start, end, target, window)
        low = torch.sigmoid(torch.tensor(FALLBACK_BIAS))
        p = low + share * (1 - low)
        if per_sample:
            err = (frame - target).square().flatten(1).mean(1) + floor
            stake = stake / err.view(-1, 1, 1, 1)
    bce = F.binary_cross_entropy_with_logits(logit, p, reduction="none")
    return (bce * stake).sum() / stake.sum().clamp(min=1e-8)
