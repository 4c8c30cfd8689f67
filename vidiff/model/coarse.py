"""The refiner's coarse flow pass: a learned correction of the flows to time t at 1/k size.

The refiner's full-resolution U-Net sees about 60 px around each pixel and corrects each flow by a
few pixels: enough for a sub-pixel error or an occlusion edge, not for a flow that DIS got wrong
over a whole object moving 20 px. This pass looks at the pair ``factor`` times smaller (``factor``
4: about 240 px of the frame around each pixel) and returns an additive correction of each flow to
time t, in full-resolution pixels, which the refiner adds before it warps and refines (as the
coarse-to-fine stages of learned interpolators do, on top of a classical flow here).

Inputs at 1/k (area-averaged): frame0, frame1, each warped to t by the downscaled flows (bilinear:
it decides motion, not texture), the flows to t (divided by ``flow_scale`` full-resolution px) and
the time the refiner sees; 17 channels. Output: ``b 4 h w`` (dx, dy to frame0, then to frame1),
network output 1 = ``correction`` px, upsampled bilinearly to the frame's size. Its head starts at
zero, so a refiner grown with this pass starts as the network it grew from. It always runs on the
whole frame (1/k^2 of the pixels, before any tiling of the refiner), so tiled and untiled frames
get the same correction.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..motion.warp import backward_warp
from .flat_unet import FlatUNet

COARSE_IN = 3 + 3 + 3 + 3 + 2 + 2 + 1  # frame0, frame1, warp0, warp1, flow_t0, flow_t1, t


class CoarseFlow(nn.Module):
    def __init__(self, factor: int, channels: tuple[int, ...], correction: float,
                 flow_scale: float):
        super().__init__()
        self.factor, self.correction, self.flow_scale = int(factor), float(correction), float(flow_scale)
        self.net = FlatUNet(COARSE_IN, tuple(channels), 4)

    def forward(self, frame0: Tensor, frame1: Tensor, flow_t0: Tensor, flow_t1: Tensor,
                seen: Tensor) -> Tensor:
        """``b 4 h w``: the corrections of ``flow_t0`` and ``flow_t1`` (pixels of the frames'
        size); ``seen`` (``b 1 1 1``) is the time the refiner's network sees."""
        b, _, h, w = flow_t0.shape
        size = (max(1, math.ceil(h / self.factor)), max(1, math.ceil(w / self.factor)))
        small = F.interpolate(torch.cat([frame0, frame1, flow_t0, flow_t1], dim=1), size=size,
                              mode="area")
        f0, f1, flows = small[:, :3], small[:, 3:6], small[:, 6:]
        to_small = flows.new_tensor([size[1] / w, size[0] / h] * 2).view(1, 4, 1, 1)
        px = flows * to_small  # the flows in pixels of the small frames
        warp0 = backward_warp(f0, px[:, :2], mode="bilinear")
        warp1 = backward_warp(f1, px[:, 2:], mode="bilinear")
        x = torch.cat([f0, f1, warp0, warp1, flows / self.flow_scale,
                       seen.expand(b, 1, *size)], dim=1)
        out = self.net.unet(x) * self.correction
        return F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
