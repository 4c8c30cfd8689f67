"""Building blocks of the temporal U-Net.

Layout: feature maps are ``(b t) c h w`` (frames folded into the batch) so every spatial op is a
plain 2D op; temporal layers unfold them with einops to mix information across the ``t`` frames of
each window. Embeddings are one vector per frame, ``(b t) e``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


def sinusoidal(x: Tensor, dim: int, min_freq: float, max_freq: float) -> Tensor:
    """``(...,) -> (..., dim)`` sin/cos features at geometrically spaced angular frequencies."""
    half = dim // 2
    freqs = torch.exp(torch.linspace(math.log(min_freq), math.log(max_freq), half, device=x.device))
    angles = x.float()[..., None] * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def conv1x1(x: Tensor, conv: nn.Conv2d) -> Tensor:
    """``conv(x)`` for a 1x1 conv, as one batched matmul: PyTorch's CPU conv dispatch sends many
    1x1 shapes to a slow generic kernel, while the matmul runs at BLAS speed."""
    weight = conv.weight.flatten(1)
    y = torch.bmm(weight.expand(x.shape[0], *weight.shape), x.flatten(2))
    if conv.bias is not None:
        y = y + conv.bias[:, None]
    return y.view(x.shape[0], weight.shape[0], *x.shape[2:])


class EmbeddingMLP(nn.Module):
    """Sinusoidal features of a scalar followed by a two-layer MLP."""

    def __init__(self, dim: int, min_freq: float, max_freq: float):
        super().__init__()
        self.dim, self.min_freq, self.max_freq = dim, min_freq, max_freq
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        features = sinusoidal(x, self.dim, self.min_freq, self.max_freq)  # float32 for accuracy
        return self.mlp(features.to(self.mlp[0].weight.dtype))


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, scale-shift from the per-frame embedding, 1x1 skip if needed."""

    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = rearrange(self.emb(emb), "n (k c) -> k n c 1 1", k=2)
        h = F.silu(torch.addcmul(shift, self.norm2(h), scale + 1))
        return self.skip(x) + self.conv2(h)


class TemporalAttention(nn.Module):
    """Self-attention over the frames of a window, independently at every pixel.

    Order-free (the frames' times enter through the embedding added before it), so the window may
    list known frames first and unknown ones after, in any order.
    """

    def __init__(self, ch: int, emb_dim: int, head_dim: int, groups: int):
        super().__init__()
        self.heads = max(1, ch // head_dim)
        self.norm = nn.GroupNorm(groups, ch)
        self.emb = nn.Linear(emb_dim, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)

    def forward(self, x: Tensor, emb: Tensor, t: int) -> Tensor:
        h = self.norm(x) + self.emb(emb)[:, :, None, None]
        # per pixel: '(b t) c h w -> (b h w) t c' attention, written with broadcasting in the
        # conv layout (views, no transposes): windows are a handful of frames, and batched
        # matmuls over millions of 3x3 problems are far slower on a CPU than these products.
        q, k, v = rearrange(
            conv1x1(h, self.qkv), "(b t) (k n d) h w -> k b t n d (h w)", t=t, k=3, n=self.heads
        )
        scores = (q[:, :, None] * k[:, None]).sum(4) * q.shape[3] ** -0.5  # b t(q) t(k) n hw
        weights = scores.softmax(2)
        a = (weights[:, :, :, :, None] * v[:, None]).sum(2)  # b t n d hw
        a = rearrange(a, "b t n d (h w) -> (b t) (n d) h w", h=x.shape[-2])
        return x + conv1x1(a, self.out)


class TemporalMix(nn.Module):
    """Cheap order-free temporal exchange for the full-width level: each frame gets a learned
    projection of the window's mean feature map added (a DeepSets layer over frames)."""

    def __init__(self, ch: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x: Tensor, emb: Tensor, t: int) -> Tensor:
        frames = rearrange(x, "(b t) c h w -> b t c h w", t=t)
        out = frames + conv1x1(self.norm(frames.mean(1)), self.proj)[:, None]
        return rearrange(out, "b t c h w -> (b t) c h w")


class SpatialAttention(nn.Module):
    """Self-attention over the pixels of each frame (used at the lowest resolution only)."""

    def __init__(self, ch: int, head_dim: int, groups: int):
        super().__init__()
        self.heads = max(1, ch // head_dim)
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.out = nn.Conv2d(ch, ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        qkv = rearrange(
            conv1x1(self.norm(x), self.qkv), "b (k n d) h w -> k b n (h w) d", k=3, n=self.heads
        )
        a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        a = rearrange(a, "b n (h w) d -> b (n d) h w", h=x.shape[-2])
        return x + conv1x1(a, self.out)
