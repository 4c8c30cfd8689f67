"""Backward warping with ``torch.nn.functional.grid_sample`` (runs on the tensors' device).

Layout ``b c h w``; flow ``b 2 h w`` in pixels, channel 0 = dx, channel 1 = dy (see
:mod:`vidiff.motion.base`). ``backward_warp(image, flow)[..., y, x] = image(x + dx, y + dy)``,
sampled bicubically (``mode="bicubic"``, Keys' kernel with a = -0.75, as both OpenCV and
``grid_sample`` use) or bilinearly (``"bilinear"``). Bilinear sampling at a sub-pixel position
is a low-pass filter: a frame warped by 0.5 px loses its finest detail, which is why the motion
estimate warps bicubically (Middlebury +0.98 dB for the same flows; ``FlowMotionConfig.warp``).
Bicubic samples may overshoot the input's range a little at sharp edges; callers clamp.

Pixel centres: pixel ``i`` is at coordinate ``i``, and the sampling grid is normalised with
``align_corners=True`` (``-1`` and ``+1`` are the centres of the first and last pixel), which maps
pixel coordinates exactly without a half-pixel offset. Samples outside the image take the nearest
edge pixel (``padding_mode="border"``), the least visible choice for content entering the frame.

On the CPU (tensors that need no gradient) the same sampling runs through OpenCV's ``remap``
(same kernel, replicated border, same pixel-centre convention), which is about twice as fast as
``grid_sample`` there; OpenCV quantises the sub-pixel position to 1/32 pixel, so the two paths
agree to about 1e-3 on [0, 1] images. ``grid_sample`` is used everywhere else (GPU, autograd).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F


@functools.lru_cache(maxsize=8)
def base_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Pixel coordinates ``(1, 2, h, w)``: channel 0 = x, channel 1 = y (cached; do not modify)."""
    ys = torch.arange(height, device=device, dtype=dtype)
    xs = torch.arange(width, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy)).unsqueeze(0)


WARP_MODES = ("bilinear", "bicubic")


def backward_warp(
    image: Tensor, flow: Tensor, offset: tuple[int, int] = (0, 0), mode: str = "bilinear"
) -> Tensor:
    """Sample ``image`` (b c h w) at ``pixel + flow`` (b 2 h w, pixels); border padding;
    ``mode`` one of :data:`WARP_MODES`.

    ``offset`` ``(x0, y0)``: the flow covers only the window of the image whose top-left pixel
    is ``(x0, y0)`` (a tile; the output has the flow's size); samples still come from anywhere
    in the whole image."""
    if mode not in WARP_MODES:
        raise ValueError(f"warp mode must be one of {WARP_MODES}, got {mode!r}")
    if _use_opencv(image, flow):
        return _remap_cpu(image, flow, offset, mode)
    b, _, h, w = image.shape
    pos = base_grid(*flow.shape[-2:], flow.device, flow.dtype) + flow
    if offset != (0, 0):
        pos = pos + torch.tensor(offset, device=flow.device, dtype=flow.dtype).view(1, 2, 1, 1)
    # Normalise to [-1, 1] with align_corners=True: x = 0 -> -1, x = w - 1 -> +1.
    scale = torch.tensor(
        [2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=flow.device, dtype=flow.dtype
    ).view(1, 2, 1, 1)
    grid = (pos * scale - 1.0).permute(0, 2, 3, 1)
    return F.grid_sample(
        image, grid.to(image.dtype), mode=mode, padding_mode="border", align_corners=True
    )


def _use_opencv(*tensors: Tensor) -> bool:
    return all(
        t.device.type == "cpu" and t.dtype == torch.float32 and not t.requires_grad
        for t in tensors
    )


def _remap_cpu(
    image: Tensor, flow: Tensor, offset: tuple[int, int] = (0, 0), mode: str = "bilinear"
) -> Tensor:
    """:func:`backward_warp` with ``cv2.remap`` plane by plane (CPU float32, no autograd)."""
    b, c = image.shape[:2]
    h, w = flow.shape[-2:]
    src = image.contiguous().numpy()
    fl = flow.numpy()  # strided views are fine: the maps below are fresh arrays
    xs = np.arange(w, dtype=np.float32)[None, :] + offset[0]
    ys = np.arange(h, dtype=np.float32)[:, None] + offset[1]
    out = np.empty((b, c, h, w), dtype=np.float32)
    map_x = np.empty((h, w), dtype=np.float32)
    map_y = np.empty((h, w), dtype=np.float32)
    interpolation = cv2.INTER_CUBIC if mode == "bicubic" else cv2.INTER_LINEAR
    for i in range(b):
        np.add(fl[i, 0], xs, out=map_x)
        np.add(fl[i, 1], ys, out=map_y)
        for ch in range(c):
            cv2.remap(
                src[i, ch], map_x, map_y, interpolation, dst=out[i, ch],
                borderMode=cv2.BORDER_REPLICATE,
            )
    return torch.from_numpy(out)
