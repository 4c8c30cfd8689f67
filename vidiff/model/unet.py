"""The backbone: a temporal U-Net over a short window of frames. It knows nothing of noise schedules.

Conventions:
- ``forward(x, c_noise, cond)``: ``x`` is the (c_in-scaled) noisy scaled residual ``b 3 t h w``,
  zeros at known frames; ``c_noise`` is ``(b,)``; ``cond`` a :class:`~vidiff.model.cond.Cond` with
  known frames (zeros where unknown), mu (both in [0, 1]), the known/unknown mask and frame times.
  Returns ``b 3 t h w``.
- Per frame the network sees 10 input channels: noisy residual, mu, known frame and the mask. The
  mask channel is constant over a frame, so its path through the linear stem is a per-frame bias;
  it is implemented as exactly that (``mask_bias``) instead of a full-resolution channel.
- Frame time is in units of the input frame interval; only differences matter: times are
  re-centred on the mean of each window's known times before the sinusoidal embedding, which is
  added to the noise-level embedding (and a known/unknown embedding) per frame.
- Any frame size: frames are replicate-padded to a multiple of ``config.stem`` (at most stem - 1
  pixels), odd feature maps are replicate-padded by one before each 2x downsampling, and the
  upsampled maps and the output are cropped back.
- Shape: stem = ``stem x stem`` stride-``stem`` conv (pixel-unshuffle + 1x1 conv in one op) to
  ``channels[0]``; per level, residual blocks (GroupNorm, SiLU, embedding scale-shift), each followed
  by a temporal layer: attention across the window's frames at every pixel from level
  ``config.temporal_attention_from`` down, a cheap mean-over-frames exchange above it (the widest
  maps, where attention's reshapes cost most). 2x2 stride-2 conv down, 2x2 stride-2 transposed conv
  up, skips merged by addition; optional spatial attention at the lowest level; a zero-initialised
  GroupNorm-SiLU-1x1 head and pixel-shuffle back to full resolution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .config import ModelConfig
from .layers import EmbeddingMLP, ResBlock, SpatialAttention, TemporalAttention, TemporalMix


class Stage(nn.Module):
    """Residual blocks, each followed by a temporal layer, at one resolution."""

    def __init__(self, ch: int, n: int, attention: bool, cfg: ModelConfig, spatial: bool = False):
        super().__init__()
        self.res = nn.ModuleList(ResBlock(ch, ch, cfg.emb_dim, cfg.groups) for _ in range(n))
        self.temporal = nn.ModuleList(
            TemporalAttention(ch, cfg.emb_dim, cfg.head_dim, cfg.groups)
            if attention
            else TemporalMix(ch, cfg.groups)
            for _ in range(n)
        )
        self.spatial = SpatialAttention(ch, cfg.head_dim, cfg.groups) if spatial else None

    def forward(self, x: Tensor, emb: Tensor, t: int) -> Tensor:
        for res, temporal in zip(self.res, self.temporal, strict=True):
            x = res(x, emb)
            if self.spatial is not None:
                x = self.spatial(x)
            x = temporal(x, emb, t)
        return x


def pad_to(x: Tensor, multiple: int) -> Tensor:
    ph, pw = -x.shape[-2] % multiple, -x.shape[-1] % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


class VideoUNet(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        cfg = self.config = config
        ch, s, e = cfg.channels, cfg.stem, cfg.emb_dim
        self.noise_emb = EmbeddingMLP(e, 1.0, 64.0)  # c_noise = ln(sigma)/4 spans about [-2, 1]
        self.time_emb = EmbeddingMLP(e, 0.25, 16.0)  # re-centred times, about [-4, 4] frames
        self.mask_emb = nn.Embedding(2, e)
        self.stem = nn.Conv2d(9, ch[0], s, stride=s)
        self.mask_bias = nn.Embedding(2, ch[0])
        nn.init.zeros_(self.mask_bias.weight)
        levels = range(len(ch))
        attn = [i >= cfg.temporal_attention_from for i in levels]
        self.down_stages = nn.ModuleList(Stage(ch[i], cfg.blocks[i], attn[i], cfg) for i in levels)
        self.downs = nn.ModuleList(
            nn.Conv2d(ch[i], ch[i + 1], 2, stride=2) for i in range(len(ch) - 1)
        )
        self.mid = Stage(ch[-1], 1, True, cfg, spatial=cfg.spatial_attention)
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(ch[i + 1], ch[i], 2, stride=2) for i in range(len(ch) - 1)
        )
        self.up_stages = nn.ModuleList(
            Stage(ch[i], max(1, cfg.blocks[i]), attn[i], cfg) for i in levels
        )
        self.head_norm = nn.GroupNorm(cfg.groups, ch[0])
        self.head = nn.Conv2d(ch[0], 3 * s * s, 1)
        nn.init.zeros_(self.head.weight)  # graceful start: zero output = zero residual = mu
        nn.init.zeros_(self.head.bias)

    def embed(self, c_noise: Tensor, times: Tensor, mask: Tensor) -> Tensor:
        """Per-frame embedding ``(b t) e``: noise level + re-centred frame time + known/unknown."""
        m = mask.to(times.dtype)
        centre = (times * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
        t = self.time_emb(times - centre) + self.mask_emb(mask.long())
        emb = t + self.noise_emb(c_noise)[:, None, :]
        return F.silu(rearrange(emb, "b t e -> (b t) e"))

    def cond_features(self, cond) -> Tensor:
        """The stem's output from mu, the known frames and the mask (the input channels that do
        not change between sampler steps): the stem is linear, so this part is computed once per
        sampling run and kept in ``cond.cache`` (not while autograd records, when weights move)."""
        key = ("stem", id(self), self.stem.weight._version, self.mask_bias.weight._version)
        if key in cond.cache and not torch.is_grad_enabled():
            return cond.cache[key]
        parts = (cond.mu, cond.frames)  # Cond zeroes frames where unknown
        inp = torch.cat([rearrange(p, "b c t h w -> (b t) c h w") for p in parts], 1)
        s = self.config.stem
        feat = F.conv2d(pad_to(inp, s), self.stem.weight[:, 3:], self.stem.bias, stride=s)
        feat = feat + self.mask_bias(cond.mask.flatten().long())[:, :, None, None]
        if not torch.is_grad_enabled():
            cond.cache.clear()
            cond.cache[key] = feat
        return feat

    def forward(self, x: Tensor, c_noise: Tensor, cond) -> Tensor:
        b, _, t, h, w = x.shape
        s = self.config.stem
        emb = self.embed(c_noise, cond.times.to(x.dtype), cond.mask)
        inp = pad_to(rearrange(x, "b c t h w -> (b t) c h w"), s)
        hid = F.conv2d(inp, self.stem.weight[:, :3], None, stride=s) + self.cond_features(cond)
        skips = []
        for i, stage in enumerate(self.down_stages):
            hid = stage(hid, emb, t)
            skips.append(hid)
            if i < len(self.downs):
                hid = self.downs[i](pad_to(hid, 2))
        hid = self.mid(hid, emb, t)
        for i in reversed(range(len(self.up_stages))):
            if i < len(self.ups):
                skip = skips[i]
                hid = self.ups[i](hid)[..., : skip.shape[-2], : skip.shape[-1]] + skip
            hid = self.up_stages[i](hid, emb, t)
        return self.output(hid, cond.mask, b, t, h, w)

    def output(self, hid: Tensor, mask: Tensor, b: int, t: int, h: int, w: int) -> Tensor:
        """Head + pixel-shuffle, computed for the unknown frames only (known frames get 0, which
        the denoiser would multiply in anyway). The 1x1 conv runs as a matmul straight into the
        shuffled layout: on a CPU this beats conv + pixel_shuffle several times over."""
        s = self.config.stem
        unknown = (~mask).flatten().nonzero().squeeze(1)
        hid = F.silu(self.head_norm(hid[unknown]))
        y = torch.matmul(self.head.weight.flatten(1), hid.flatten(2)) + self.head.bias[:, None]
        y = rearrange(y, "n (c i j) (h w) -> n c (h i) (w j)", i=s, j=s, h=hid.shape[-2])
        out = y.new_zeros(b * t, 3, h, w)
        out[unknown] = y[:, :, :h, :w]
        return rearrange(out, "(b t) c h w -> b c t h w", b=b)
