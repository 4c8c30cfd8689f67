"""A second, independent optical flow, and the per-pixel choice between it and the first.

DIS (the motion step's flow) matches patches coarse to fine, and in places locks onto a wrong
match: large motions over repeated structure (Middlebury's Urban2 and Urban3, a flight over a
city), fast things smaller than its coarse patches. Farneback's polynomial-expansion flow
(Farneback 2003, OpenCV's ``calcOpticalFlowFarneback``) fails elsewhere: it is smoother and blurs
motion boundaries, and alone scores 1.7 dB below DIS on Middlebury. Where the two disagree, the
pair itself says which is right: a flow that is right warps both inputs to the same picture at
the pair's midpoint. :func:`choose_flows` takes the second flow at a pixel
when the mean squared difference of its two midpoint warps over a ``window`` around the pixel is
below ``margin`` times the first flow's (a margin under 1 keeps DIS unless the other is clearly
better: ties and noise stay with the flow every other setting was tuned on). On Middlebury
Farneback's flow is taken at 0-2% of each sequence's pixels, and Urban2 and Urban3 gain 0.4 and
0.3 dB.

Both flows of a pair (0->1 and 1->0) are taken together from one source at each pixel, so the
flows to any time made from them (:func:`vidiff.motion.blend.flows_to_time`, linear in the two
at each pixel) are that source's too. Layouts as in :mod:`vidiff.motion.base`: flows ``b 2 h w``
or stacked ``b 4 h w`` (0->1 then 1->0), pixels, (dx, dy); grey images ``b 1 h w`` in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from vidiff.motion.blend import flows_to_time
from vidiff.motion.warp import backward_warp

# pyramid scale, levels, window, iterations, polynomial neighbourhood and its sigma, flags:
# a wide window and deep pyramid for the large motions DIS misses (chosen among 5 settings on
# Middlebury and UCF101, see weights/README.md).
FARNEBACK_PARAMS = (0.5, 6, 21, 5, 7, 1.5, 0)


def farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Farneback flow from grey uint8 image ``a`` to ``b``: ``h w 2`` float32 (dx, dy), pixels."""
    return cv2.calcOpticalFlowFarneback(a, b, None, *FARNEBACK_PARAMS)


def midpoint_disagreement(gray0: Tensor, gray1: Tensor, flows: Tensor, window: int) -> Tensor:
    """``b 1 h w``: the mean over a ``window`` x ``window`` box of the squared difference of the
    two grey images warped to the pair's midpoint by ``flows`` (``b 4 h w``)."""
    flow_t0, flow_t1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.5)
    diff = (backward_warp(gray0, flow_t0) - backward_warp(gray1, flow_t1)).square()
    return F.avg_pool2d(diff, window, stride=1, padding=window // 2, count_include_pad=False)


def choose_flows(gray0: Tensor, gray1: Tensor, first: Tensor, second: Tensor, window: int,
                 margin: float) -> Tensor:
    """``b 4 h w``: per pixel, ``second`` where its midpoint disagreement is below ``margin``
    times ``first``'s, else ``first`` (see module docstring)."""
    cost_first = midpoint_disagreement(gray0, gray1, first, window)
    cost_second = midpoint_disagreement(gray0, gray1, second, window)
    return torch.where(cost_second < margin * cost_first, second, first)
