"""ModelConfig: every size and constant of the network and its diffusion, in one frozen dataclass.

The config travels inside each weights file (JSON in the safetensors metadata), so a file alone
rebuilds the model. ``from_dict`` is strict: an unknown key is an error that names the key.

Residual scale and sigma_data (documented choice): the diffusion runs on the *scaled residual*
``r = (x - mu) / residual_scale`` of the unknown frames (x, mu in [0, 1]). With a decent optical-flow
estimate the per-pixel residual std is about 0.03-0.08 (larger at occlusions, heavy-tailed), so
``residual_scale = 0.1`` puts the scaled residual at std ~0.3-0.8, and ``sigma_data = 0.5`` (EDM's
value for images) fits it; EDM's tuned training distribution (P_mean -1.2, P_std 1.2) then applies
unchanged. ``sigma_max = 10`` is far above the residual's spread (EDM's 80 is for whole images),
which keeps few-step schedules dense where the residual lives.

Cost of ``default()`` (tools/bench_model.py): 2.16 M parameters (4.1 MiB as fp16), 4.45 GFLOPs per
frame at 1280x720 (multiply-add = 2). Most of the compute sits at 1/8 and 1/16 resolution; the
1/4-resolution level (16 channels) has one decoder block only, because on a CPU the widest maps
cost in memory traffic far more than their FLOPs suggest.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ..errors import OptionError

PARAMETRIZATIONS = ("x0", "edm")


@dataclass(frozen=True)
class ModelConfig:
    # network
    channels: tuple[int, ...] = (16, 32, 48, 96, 128)  # per U-Net level; level 0 at 1/stem res
    blocks: tuple[int, ...] = (0, 1, 1, 1, 1)  # residual blocks per level (encoder; decoder >= 1)
    stem: int = 4  # pixel-unshuffle factor of the stem (and pixel-shuffle of the head)
    emb_dim: int = 128  # noise-level + frame-time embedding width
    head_dim: int = 32  # channels per head of the temporal (and spatial) attention
    temporal_attention_from: int = 1  # levels >= this use temporal attention, above: TemporalMix
    groups: int = 8  # GroupNorm groups (must divide every channel count)
    spatial_attention: bool = False  # self-attention over pixels at the lowest level
    # diffusion (see module docstring)
    residual_scale: float = 0.1
    sigma_data: float = 0.5
    sigma_min: float = 0.002
    sigma_max: float = 10.0
    rho: float = 7.0
    p_mean: float = -1.2
    p_std: float = 1.2
    parametrization: str = "x0"  # "x0": c_skip = 0 (exact mu at init); "edm": EDM's c_skip

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "blocks", tuple(int(b) for b in self.blocks))
        if not self.channels or len(self.blocks) != len(self.channels):
            raise OptionError(
                f"ModelConfig: channels {self.channels} and blocks {self.blocks} need the same "
                "non-zero length (one entry per U-Net level)"
            )
        for c in self.channels:
            if c <= 0 or c % self.groups or c % max(1, c // self.head_dim):
                raise OptionError(
                    f"ModelConfig: channel count {c} must be positive, divisible by groups "
                    f"{self.groups} and by its number of attention heads (c // head_dim)"
                )
        if any(b < 0 for b in self.blocks):
            raise OptionError(f"ModelConfig: blocks must be >= 0, got {self.blocks}")
        if self.stem < 1:
            raise OptionError(f"ModelConfig: stem must be >= 1, got {self.stem}")
        if self.parametrization not in PARAMETRIZATIONS:
            raise OptionError(
                f"ModelConfig: parametrization must be one of {PARAMETRIZATIONS}, "
                f"got {self.parametrization!r}"
            )
        if not (0 < self.sigma_min < self.sigma_max):
            raise OptionError(
                f"ModelConfig: need 0 < sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}"
            )
        if self.residual_scale <= 0 or self.sigma_data <= 0:
            raise OptionError("ModelConfig: residual_scale and sigma_data must be positive")

    @property
    def factor(self) -> int:
        """Frame sizes are padded (replicate) to a multiple of this inside, then cropped back."""
        return self.stem

    @classmethod
    def tiny(cls) -> ModelConfig:
        """A few thousand parameters, for tests."""
        return cls(channels=(8, 16, 16), blocks=(1, 1, 1), stem=2, emb_dim=32, head_dim=8, groups=4)

    @classmethod
    def default(cls) -> ModelConfig:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["channels"] = list(self.channels)
        out["blocks"] = list(self.blocks)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        if not isinstance(data, dict):
            raise OptionError(f"ModelConfig.from_dict needs a dict, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise OptionError(
                f"ModelConfig: unknown key {unknown[0]!r} (known keys: {', '.join(sorted(names))})"
            )
        try:
            return cls(**data)
        except TypeError as exc:
            raise OptionError(f"ModelConfig: bad value: {exc}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))
