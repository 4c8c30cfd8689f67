"""The refiner's 2D U-Net body, shared by the refiner and its coarse flow pass.

Layout ``b c h w`` throughout. Levels: full resolution at level 0, each further level at half the
size of the one above (stride-2 3x3 convs down), two 3x3 convs with PReLU per level, bilinear
upsampling with a 1x1 projection added to the skip on the way up, and a zero-initialised 3x3 head,
so an untrained network outputs zero everywhere. Inputs of any size are replicate-padded to a
multiple of ``factor`` (``2 ** (levels - 1)``) and the output cropped back.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

UPSAMPLE = "bilinear"


def conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.PReLU(cout))


class FlatUNet(nn.Module):
    """``b in_channels h w`` -> ``b out_channels h w``; the state dict keys are ``enc.*``,
    ``proj.*``, ``dec.*`` and ``head.*`` (what every refiner weights file holds)."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], out_channels: int):
        super().__init__()
        ch = channels
        self.levels = len(ch)
        self.enc = nn.ModuleList([nn.Sequential(conv(in_channels, ch[0]), conv(ch[0], ch[0]))])
        for i in range(1, len(ch)):
            self.enc.append(nn.Sequential(conv(ch[i - 1], ch[i], 2), conv(ch[i], ch[i])))
        self.proj = nn.ModuleList(nn.Conv2d(ch[i + 1], ch[i], 1) for i in range(len(ch) - 1))
        self.dec = nn.ModuleList(conv(ch[i], ch[i]) for i in range(len(ch) - 1))
        self.head = nn.Conv2d(ch[0], out_channels, 3, 1, 1)
        nn.init.zeros_(self.head.weight)  # untrained: outputs zero
        nn.init.zeros_(self.head.bias)

    def unet(self, x: Tensor) -> Tensor:
        """The network itself: ``b in_channels h w`` -> ``b out_channels h w``."""
        h, w = x.shape[-2:]
        m = 2 ** (self.levels - 1)
        ph, pw = -h % m, -w % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x)
            if i < len(self.enc) - 1:
                skips.append(x)
        for i in reversed(range(len(self.dec))):
            up = F.interpolate(self.proj[i](x), scale_factor=2.0, mode=UPSAMPLE)
            x = self.dec[i](up + skips[i])
        return self.head(x)[..., :h, :w]
