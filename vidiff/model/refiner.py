"""The learned mean: a deterministic network that corrects the motion estimate before any diffusion.

What it sees is what the motion step knows. For one in-between time ``t`` of a pair
(or, for a *predictor*, a time ``t > 1`` past frame1, as ``vidiff generate`` asks):
``frame0``, ``frame1`` (``b 3 h w`` in [0, 1]), the flows from time ``t`` to each input
(``flow_t0``, ``flow_t1``: ``b 2 h w`` in pixels, as :func:`vidiff.motion.flows_to_time` gives
them), the two backward warps those flows make and ``t`` itself; with ``visibility``, also the
forward-backward visibility of each side's pixels (:func:`vidiff.motion.visibility` of the
full flows 0->1 and 1->0, carried to time ``t`` by the flow to each side). The flows to ``t``
alone cannot tell where the two full flows disagree: at ``t = 0.5`` Super SloMo's flows to
time are ``+-(F10 - F01) / 4``, which has lost ``F01 + F10``, the classical sign of an occlusion
or a wrong flow. What it returns is three
corrections, each zero when the network outputs zero (its head is zero-initialised, so an untrained
refiner returns the motion estimate exactly):

- a flow correction for each side (``b 2 h w`` pixels), after which both frames are warped again
  (with ``flow_gain``, each side's flow is first scaled by a per-pixel factor in (0, 2), 1 at
  zero: a predictor extrapolating 4 frames ahead must be able to damp a whole flow it cannot
  trust, which an additive correction of a few pixels cannot);
- a blend weight per pixel (``sigmoid(logit + logit(1 - s))``, so ``1 - s`` at zero): occlusions
  are where one side must win;
- a colour residual (``b 3 h w``, scaled by ``residual_scale``) for what no warp can supply
  (``residual_scale = 0``: none; its head channels stay, unused, so weights move both ways);
- with ``fallback``, a per-pixel share ``f`` of the plain time-weighted blend of the two input
  frames, in (-0.02, 1) and 0 at zero: where the flow cannot be trusted at all (sub-pixel noise
  in a still scene, flicker, compression), the blend is often the better frame, and a direct
  route to it learns faster than damping both flows through the warps' local gradients;
- with ``alternate``, a per-pixel share ``a`` (as the fallback's, 0 at zero) of the *alternate*
  flows: the motion step's second flow (Farneback's, :mod:`vidiff.motion.second_flow`) before
  its fixed per-pixel rule chose between it and DIS. The network sees both pairs of warps and
  flows; each side's frame is warped by both flows (each with the same gain and correction) and
  mixed, ``lerp(warp(frame0, flow_t0'), warp(frame0, alt_t0'), a)``, so that the choice gets the
  direct gradient of the two warps' difference. The rule takes the second flow at 0-2% of
  pixels; choosing per 16x16 block with the truth would gain five times what it does.

``frame = m * warp(frame0, flow_t0') + (1 - m) * warp(frame1, flow_t1') + residual``, then
``frame + f * (lerp(frame0, frame1, t) - frame)`` with ``fallback``. Every warp
samples as ``RefinerConfig.warp`` says: bicubic by default, as the motion step does for
in-between times; ``configs/predictor.toml`` sets bilinear, as the motion step does past the
pair; weights saved before the key existed were trained bilinear and load so. This is the
structure of Super SloMo's refinement stage and of the last stages of RIFE/IFRNet, on top of a
classical flow instead of a learned one.

With ``history`` (a predictor's), two more inputs: the backtest of the pair's motion on the known
frame before it (:mod:`vidiff.motion.history`: per pixel the factor on the flow that carried
frame0 on to frame1 best, and 1 where there was a frame before; factor 1 and 0 from two seeds).
The flow 1->0 it is given is already damped by that backtest; what the input adds is whether the
flow was confirmed, which the flow alone cannot tell.

Network: a 4-level U-Net (:mod:`.flat_unet`: 3x3 convs, PReLU), full resolution at level 0 so
that thin things and occlusion edges can be drawn, stride-2 convs down, bilinear upsampling with
projected skips added. Frames are replicate-padded to a multiple of 8 and cropped back. Flows
enter divided by ``flow_scale`` pixels so that typical motion sits near unit range. With
``coarse``, a second U-Net first corrects both flows to t from the pair seen at 1/``coarse`` size
(:mod:`.coarse`: errors over a whole moving object, beyond this network's view); ``mu`` stays
the estimate of the flows as given.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from ..errors import OptionError
from ..motion.blend import flows_to_time, visibility
from ..motion.flow import FlowMotionConfig
from ..motion.history import history_input
from ..motion.warp import WARP_MODES, backward_warp
from .coarse import CoarseFlow
from .flat_unet import FlatUNet
from .tiling import Tile, TilePlan, run_tiled


@dataclass(frozen=True)
class RefinerConfig:
    channels: tuple[int, ...] = (16, 32, 64, 128)  # per level; level 0 at full resolution
    flow_scale: float = 20.0  # flows enter the network divided by this (pixels)
    flow_correction: float = 4.0  # network output 1 = this many pixels of flow correction
    residual_scale: float = 0.1  # network output 1 = this much colour residual (frames in [0, 1]); 0: none
    flow_gain: bool = False  # two more outputs: a factor in (0, 2) on each side's flow to time
    warp: str = "bicubic"  # how it samples the frames (vidiff.motion.warp), as the motion step
    fallback: bool = False  # one more output: a per-pixel share of the plain blend of the frames
    visibility: bool = False  # two more inputs: each side's forward-backward visibility at t
    summary: bool = False  # three more inputs, constant over the frame: see frame_summary()
    coarse: int = 0  # > 0: a coarse flow pass at 1/coarse size first (vidiff.model.coarse)
    coarse_channels: tuple[int, ...] = (24, 48, 96, 192)  # its U-Net's channels per level
    coarse_correction: float = 8.0  # its output 1 = this many (full-size) pixels of flow
    alternate: bool = False  # ten more inputs and one more output: a choice of the second flow
    history: bool = False  # two more inputs (a predictor's): the backtest on the frame before

    def __post_init__(self) -> None:
        for name in ("channels", "coarse_channels"):
            value = tuple(int(c) for c in getattr(self, name))
            object.__setattr__(self, name, value)
            if len(value) < 2 or any(c <= 0 for c in value):
                raise OptionError(
                    f"RefinerConfig: {name} needs at least two positive entries, got {value}"
                )
        if self.coarse not in (0, 2, 4, 8, 16):
            raise OptionError(f"RefinerConfig: coarse must be 0 (none), 2, 4, 8 or 16, got {self.coarse}")
        if self.alternate and self.coarse:
            raise OptionError("RefinerConfig: alternate and coarse cannot be combined (the "
                              "coarse pass corrects the chosen flows only)")
        if self.warp not in WARP_MODES:
            raise OptionError(f"RefinerConfig: warp must be one of {list(WARP_MODES)}")
        for name in ("flow_scale", "flow_correction", "coarse_correction"):
            if not getattr(self, name) > 0:
                raise OptionError(f"RefinerConfig: {name} must be positive")
        if not self.residual_scale >= 0:
            raise OptionError("RefinerConfig: residual_scale must be 0 (no colour residual) or positive")

    # Keys that weights files saved before the key existed lack, with the value those weights were
    # trained with (not today's default): bilinear warps until 2026-12-01.
    SAVED_BEFORE: ClassVar[dict[str, Any]] = {"warp": "bilinear"}

    @property
    def factor(self) -> int:
        return 2 ** (len(self.channels) - 1)

    @classmethod
    def tiny(cls) -> RefinerConfig:
        return cls(channels=(4, 8, 8))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["channels"] = list(self.channels)
        out["coarse_channels"] = list(self.coarse_channels)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RefinerConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise OptionError(f"RefinerConfig: unknown key {unknown[0]!r}")
        return cls(**data)

    @property
    def in_channels(self) -> int:
        return (IN_CHANNELS + (2 if self.visibility else 0)
                + (SUMMARY_CHANNELS if self.summary else 0)
                + (ALTERNATE_CHANNELS if self.alternate else 0)
                + (HISTORY_CHANNELS if self.history else 0))

    @property
    def input_groups(self) -> tuple[str, ...]:
        """The optional inputs, in the order they follow the base inputs."""
        return tuple(g for g in ("visibility", "summary", "alternate", "history")
                     if getattr(self, g))

    @property
    def out_channels(self) -> int:
        return (OUT_CHANNELS + (2 if self.flow_gain else 0) + (1 if self.fallback else 0)
                + (1 if self.alternate else 0))

    @property
    def output_slices(self) -> dict[str, slice]:
        """Where each output lies among the head's channels: ``correction`` (both sides' flow
        corrections), ``blend`` (the blend logit), ``residual``, and ``gain``, ``fallback`` and
        ``alternate`` where the config has them. Each is a correction that is zero at zero;
        :meth:`Refiner._refine` reads the head through this."""
        out = {"correction": slice(0, 4), "blend": slice(4, 5), "residual": slice(5, 8)}
        at = OUT_CHANNELS
        for name, size in (("gain", 2 if self.flow_gain else 0), ("fallback", int(self.fallback)),
                           ("alternate", int(self.alternate))):
            if size:
                out[name] = slice(at, at + size)
                at += size
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


IN_CHANNELS = 3 + 3 + 3 + 3 + 2 + 2 + 1  # frame0, frame1, warp0, warp1, flow_t0, flow_t1, t
OUT_CHANNELS = 2 + 2 + 1 + 3  # flow corrections, blend logit, colour residual
ALTERNATE_CHANNELS = 3 + 3 + 2 + 2  # the alternate flows' warps and flows to t
HISTORY_CHANNELS = 2  # the backtest's best factor, 1 where there was one (motion.history)
SUMMARY_CHANNELS = 3  # frame-level: inputs' difference, warps' disagreement, motion (frame_summary)
FALLBACK_BIAS = -4.0  # the fallback share's sigmoid offset: 0 at zero, gradient ~0.018 there
# the soft visibility's tolerances (relative, absolute px^2): the motion step's defaults
VIS_ALPHA, VIS_BETA = FlowMotionConfig.occlusion_alpha, FlowMotionConfig.occlusion_beta


def fallback_share(logit: Tensor) -> Tensor:
    """Share of the blend, in (-exp(FALLBACK_BIAS), 1): exactly 0 at zero, smooth everywhere."""
    low = torch.sigmoid(torch.tensor(FALLBACK_BIAS, dtype=logit.dtype, device=logit.device))
    return (torch.sigmoid(logit + FALLBACK_BIAS) - low) / (1 - low)


def frame_stats(frame0: Tensor, frame1: Tensor, warp0: Tensor, warp1: Tensor,
                flow_t0: Tensor, flow_t1: Tensor) -> Tensor:
    """``b 3``: the raw numbers :func:`frame_summary` encodes: the mean absolute difference of the
    two inputs and of the two warps to time t (frames in [0, 1]) and the mean flow length (pixels,
    both sides). A triplet pack stores them for the whole frame each crop was cut from
    (:mod:`vidiff.train.triplets`), so that training can show a crop its frame's numbers."""
    d_in = (frame1 - frame0).abs().mean(dim=(1, 2, 3))
    d_warp = (warp1 - warp0).abs().mean(dim=(1, 2, 3))
    motion = (flow_t0.square().sum(1).sqrt() + flow_t1.square().sum(1).sqrt()).mean(dim=(1, 2))
    return torch.stack([d_in, d_warp, motion], dim=1)


def encode_stats(stats: Tensor) -> Tensor:
    """``b 3`` raw :func:`frame_stats` -> the summary inputs, on a log scale near unit range."""
    d_in, d_warp, motion = stats.unbind(1)
    return torch.stack([(torch.log(d_in + 1e-3) + 4) / 3, (torch.log(d_warp + 1e-3) + 4) / 3,
                        torch.log1p(motion) / 3], dim=1)


def frame_summary(frame0: Tensor, frame1: Tensor, warp0: Tensor, warp1: Tensor,
                  flow_t0: Tensor, flow_t1: Tensor) -> Tensor:
    """``b 3``: what the whole frame says about trusting the flow, on a log scale near unit range.

    The mean absolute difference of the two inputs (what the plain blend has to hide), of the
    two warps to time t (what the flow leaves unexplained) and the mean flow length (pixels,
    both sides). A 3x3 U-Net decides the blend's share from what it sees around each pixel,
    about 60 px; whether the flow can be trusted at all is often a property of the whole frame
    (a still shot with compression noise, flicker), which these carry to every pixel. Means are
    over whatever the refiner is given whole: a frame at inference (before any tiling, so that
    tiled and untiled frames see the same values), a training crop unless its pack knows its
    frame's numbers (``summary=`` of :meth:`Refiner.forward`)."""
    return encode_stats(frame_stats(frame0, frame1, warp0, warp1, flow_t0, flow_t1))


def warped_stats(frame0: Tensor, frame1: Tensor, flow_t0: Tensor, flow_t1: Tensor,
                 mode: str) -> Tensor:
    """:func:`frame_stats` of a pair, warping both frames to t first (``mode``: how to sample)."""
    warp0 = backward_warp(frame0, flow_t0, mode=mode)
    warp1 = backward_warp(frame1, flow_t1, mode=mode)
    return frame_stats(frame0, frame1, warp0, warp1, flow_t0, flow_t1)


def seen_time(t: Tensor | float, like: Tensor) -> tuple[Tensor, Tensor]:
    """``(s, seen)``, each ``b 1 1 1`` for the batch of ``like``: the blend's time ``s`` (``t``
    clamped inside (0, 1)) and the time the network sees (``s``; past frame1, for a predictor,
    ``t`` itself)."""
    b = like.shape[0]
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device).reshape(-1).expand(b)
    t = t.reshape(b, 1, 1, 1)
    s = t.clamp(1e-3, 1 - 1e-3)
    return s, torch.where(t > 1, t, s)


class Refiner(FlatUNet):
    def __init__(self, config: RefinerConfig | None = None):
        cfg = config if config is not None else RefinerConfig()
        super().__init__(cfg.in_channels, cfg.channels, cfg.out_channels)
        self.config = cfg
        self.coarse = (CoarseFlow(cfg.coarse, cfg.coarse_channels, cfg.coarse_correction,
                                  cfg.flow_scale) if cfg.coarse else None)

    def forward(
        self, frame0: Tensor, frame1: Tensor, flow_t0: Tensor, flow_t1: Tensor, t: Tensor | float,
        plan: TilePlan | None = None, flows: Tensor | None = None, summary: Tensor | None = None,
        alt_flows: Tensor | None = None, window: Tile | None = None,
        history: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Refined frame at ``t`` and its parts (see module docstring); every tensor ``b c h w``.

        ``t`` is a float or a ``(b,)`` tensor: in (0, 1) for the refiner; above 1 for a
        predictor (a refiner trained past frame1, where the blend starts at frame1's side).
        Keys: ``frame`` (not clamped), ``mu``
        (the unrefined time-weighted blend), ``flow_t0``, ``flow_t1``, ``weight0``, ``residual``,
        and with ``fallback`` the blend's share ``fallback``, its logit ``fallback_logit`` (the
        sigmoid's argument, :func:`fallback_share`), the plain blend ``blend`` and the frame before
        the blend is mixed in, ``unmixed`` (what a share loss needs, :mod:`vidiff.train.share`);
        with ``alternate`` the alternate flows' share ``alternate``, its logit ``alternate_logit``
        and the frames each flow alone gives, ``by_chosen`` and ``by_alternate`` (before the
        fallback; what a choice loss needs, :func:`vidiff.train.share.choice_loss`).
        ``plan`` (:mod:`.tiling`) refines tile by tile to bound the memory, and then returns
        ``frame`` only: each tile's warps still sample the whole frames (a flow may point
        anywhere), and everything else is per pixel or inside the U-Net's tile.
        ``flows`` (``b 4 h w``: the full flows 0->1 and 1->0, pixels, as
        :meth:`vidiff.motion.FlowMotion.full_flows` gives them) is needed with ``visibility``
        (the visibilities are made on the whole frame, before any tiling) and unused without.
        ``summary`` (``b 3``, as :func:`frame_summary` gives it) replaces the summary of what the
        refiner is given, for a crop whose whole frame is known; unused without ``summary``.
        ``alt_flows`` (``b 4 h w``, laid out as ``flows``: the second flow's own pair, as
        :meth:`vidiff.motion.FlowMotion.full_flow_candidates` gives it) is what ``alternate``
        chooses from; without it (a motion step with no second flow) the alternate is the
        chosen flow itself, and the choice changes nothing. Unused without ``alternate``.
        ``window`` (a :class:`~.tiling.Tile`) refines that window of the frame only, as one tile
        of ``plan`` is refined, and returns every key for it (``b c window.h window.w``): the
        flows, the inputs and the summary are the whole frame's, and the warps sample it whole.
        Training uses it to show a crop the surroundings its flows point into
        (:class:`vidiff.train.refine_sampler.Sampler`'s ``context``); not with ``plan``.
        ``history`` (``b 2 h w``, :func:`vidiff.motion.history.history_input`: the backtest of
        the pair's motion on the known frame before it) is what a predictor with ``history``
        sees of it; without it (two seeds), the input of no backtest. Unused without ``history``.
        """
        vis = self.visibility_at_t(flows, flow_t0, flow_t1)
        hist = self.history_at(history, flow_t0)
        delta = self.coarse_correction(frame0, frame1, flow_t0, flow_t1, t)
        alt = self.alternate_at_t(alt_flows, flow_t0, flow_t1, t)
        tiled = plan is not None and not plan.single
        if window is not None and tiled:
            raise OptionError("Refiner: a window and a tile plan cannot be combined")
        if tiled or window is not None:
            if self.config.summary and summary is None:  # of the whole frame, before the tiles
                ft0, ft1 = ((flow_t0, flow_t1) if delta is None
                            else (flow_t0 + delta[:, :2], flow_t1 + delta[:, 2:]))
                summary = encode_stats(warped_stats(frame0, frame1, ft0, ft1, self.config.warp))
        if window is not None:
            vis, delta, alt, hist = (None if x is None else window.crop(x)
                                     for x in (vis, delta, alt, hist))
            return self._refine(frame0, frame1, window.crop(flow_t0), window.crop(flow_t1), t, vis,
                                window, summary, delta, alt, hist)
        if tiled:
            named = {k: x for k, x in (("vis", vis), ("delta", delta), ("alt", alt), ("hist", hist))
                     if x is not None}

            def refine_tile(tile, ft0, ft1, *rest):
                parts = dict(zip(named, rest))
                return self._refine(frame0, frame1, ft0, ft1, t, parts.get("vis"), tile, summary,
                                    parts.get("delta"), parts.get("alt"), parts.get("hist"))["frame"]

            return {"frame": run_tiled(refine_tile, [flow_t0, flow_t1, *named.values()], plan)}
        return self._refine(frame0, frame1, flow_t0, flow_t1, t, vis, summary=summary, delta=delta,
                            alt=alt, hist=hist)

    def history_at(self, history: Tensor | None, like: Tensor) -> Tensor | None:
        """``b 2 h w``: the history input as given (that of no backtest when ``None``); ``None``
        without ``history``."""
        if not self.config.history:
            return None
        b, _, h, w = like.shape
        if history is None:
            return history_input(None, h, w, b).to(like)
        if history.shape != (b, HISTORY_CHANNELS, h, w):
            raise OptionError(f"history must be b {HISTORY_CHANNELS} h w, the size of the flows "
                              f"to t ({tuple(like.shape)}), got {tuple(history.shape)}")
        return history.to(like)

    def alternate_at_t(self, alt_flows: Tensor | None, flow_t0: Tensor, flow_t1: Tensor,
                       t: Tensor | float) -> Tensor | None:
        """``b 4 h w``: the alternate flows to t (frame0's side, then frame1's), the chosen ones
        when there are none; ``None`` without ``alternate``."""
        if not self.config.alternate:
            return None
        if alt_flows is None:
            return torch.cat([flow_t0, flow_t1], dim=1)
        if alt_flows.shape[1] != 4 or alt_flows.shape[-2:] != flow_t0.shape[-2:]:
            raise OptionError("alt_flows must be b 4 h w, the size of the flows to t")
        return torch.cat(flows_to_time(alt_flows[:, :2], alt_flows[:, 2:], t), dim=1)

    def coarse_correction(self, frame0: Tensor, frame1: Tensor, flow_t0: Tensor, flow_t1: Tensor,
                          t: Tensor | float) -> Tensor | None:
        """``b 4 h w``: the coarse pass's correction of the flows to t (whole frame); ``None``
        without ``coarse``."""
        if self.coarse is None:
            return None
        return self.coarse(frame0, frame1, flow_t0, flow_t1, seen_time(t, flow_t0)[1])

    def visibility_at_t(self, flows: Tensor | None, flow_t0: Tensor, flow_t1: Tensor) -> Tensor | None:
        """``b 2 h w``: the visibility of frame0's and frame1's pixels in the other frame, seen
        from time t (warped there by each side's flow to t); ``None`` without ``visibility``."""
        if not self.config.visibility:
            return None
        if flows is None or flows.shape[1] != 4 or flows.shape[-2:] != flow_t0.shape[-2:]:
            raise OptionError("this refiner has visibility inputs: it needs the full flows "
                              "(b 4 h w, the size of the flows to t)")
        flow01, flow10 = flows[:, :2], flows[:, 2:]
        vis0 = visibility(flow01, flow10, VIS_ALPHA, VIS_BETA)
        vis1 = visibility(flow10, flow01, VIS_ALPHA, VIS_BETA)
        return torch.cat([backward_warp(vis0, flow_t0), backward_warp(vis1, flow_t1)], dim=1)

    def _refine(self, frame0, frame1, flow_t0, flow_t1, t, vis=None, tile=None,
                summary=None, delta=None, alt=None, hist=None) -> dict[str, Tensor]:
        """:meth:`forward` for the window ``tile`` (``None``: the whole frame) of the flows and
        outputs; the frames are whole. ``summary`` (``b 3``, :func:`frame_summary` of the whole
        frame) is made here from the whole frame when ``tile`` is ``None``. ``delta`` (``b 4 h
        w``, the window's part of :meth:`coarse_correction`) is added to the flows first; ``mu``
        stays the estimate of the flows as given. ``alt`` (``b 4 h w``, the window's part of
        :meth:`alternate_at_t`) is needed with ``alternate``, ``hist`` (the window's part of
        :meth:`history_at`) with ``history``."""
        cfg = self.config
        b, _, h, w = flow_t0.shape
        at = (tile.x, tile.y) if tile is not None else (0, 0)
        s, seen = seen_time(t, flow_t0)
        warp0 = backward_warp(frame0, flow_t0, at, cfg.warp)
        warp1 = backward_warp(frame1, flow_t1, at, cfg.warp)
        mu = torch.lerp(warp0, warp1, s)  # what the gains are measured against
        if delta is not None:  # the coarse pass's flows, which the network sees and corrects
            flow_t0, flow_t1 = flow_t0 + delta[:, :2], flow_t1 + delta[:, 2:]
            warp0 = backward_warp(frame0, flow_t0, at, cfg.warp)
            warp1 = backward_warp(frame1, flow_t1, at, cfg.warp)
        crop0, crop1 = (tile.crop(f) if tile is not None else f for f in (frame0, frame1))
        extra = [vis] if vis is not None else []
        if cfg.summary:
            if summary is None:
                if tile is not None:
                    raise ValueError("_refine: a tile needs the whole frame's summary")
                summary = frame_summary(frame0, frame1, warp0, warp1, flow_t0, flow_t1)
            extra.append(summary.view(b, SUMMARY_CHANNELS, 1, 1).expand(b, SUMMARY_CHANNELS, h, w))
        if cfg.alternate:
            alt_warp0 = backward_warp(frame0, alt[:, :2], at, cfg.warp)
            alt_warp1 = backward_warp(frame1, alt[:, 2:], at, cfg.warp)
            extra += [alt_warp0, alt_warp1, alt / cfg.flow_scale]
        if cfg.history:
            extra.append(hist)
        x = torch.cat(
            [crop0, crop1, warp0, warp1, flow_t0 / cfg.flow_scale, flow_t1 / cfg.flow_scale,
             seen.expand(b, 1, h, w)] + extra,
            dim=1,
        )
        out = self.unet(x)
        part = {name: out[:, sl] for name, sl in cfg.output_slices.items()}
        d0 = part["correction"][:, :2] * cfg.flow_correction
        d1 = part["correction"][:, 2:] * cfg.flow_correction
        gain0 = gain1 = 1.0
        if cfg.flow_gain:  # scale each flow first (1 at zero): damp motion it cannot trust
            gain0, gain1 = (2 * torch.sigmoid(part["gain"])).split(1, dim=1)
        flow_t0, flow_t1 = flow_t0 * gain0 + d0, flow_t1 * gain1 + d1
        warp0 = backward_warp(frame0, flow_t0, at, cfg.warp)
        warp1 = backward_warp(frame1, flow_t1, at, cfg.warp)
        weight0 = torch.sigmoid(part["blend"] + torch.log((1 - s) / s))
        residual = part["residual"] * cfg.residual_scale
        frame = warp1 + weight0 * (warp0 - warp1) + residual
        res = {"mu": mu, "weight0": weight0, "residual": residual}
        if cfg.alternate:  # the same gain and correction on the alternate flows, then the choice
            logit = part["alternate"]
            choice = res["alternate"] = fallback_share(logit)
            res["alternate_logit"] = logit + FALLBACK_BIAS
            alt_t0, alt_t1 = alt[:, :2] * gain0 + d0, alt[:, 2:] * gain1 + d1
            alt_warp0 = backward_warp(frame0, alt_t0, at, cfg.warp)
            alt_warp1 = backward_warp(frame1, alt_t1, at, cfg.warp)
            by_alt = alt_warp1 + weight0 * (alt_warp0 - alt_warp1) + residual
            res["by_chosen"], res["by_alternate"] = frame, by_alt  # what a choice loss needs
            frame = torch.lerp(frame, by_alt, choice)  # = the blend of the mixed warps
            flow_t0, flow_t1 = torch.lerp(flow_t0, alt_t0, choice), torch.lerp(flow_t1, alt_t1, choice)
        res["flow_t0"], res["flow_t1"] = flow_t0, flow_t1
        if delta is not None:
            res["coarse"] = delta
        if cfg.fallback:
            logit = part["fallback"]
            share = res["fallback"] = fallback_share(logit)
            res["fallback_logit"] = logit + FALLBACK_BIAS
            blend = res["blend"] = torch.lerp(crop0, crop1, s)
            res["unmixed"] = frame
            frame = frame + share * (blend - frame)
        res["frame"] = frame
        return res


def without_outputs(refiner: Refiner, groups) -> Refiner:
    """A copy of ``refiner`` whose head gives zero for each named output group
    (:attr:`RefinerConfig.output_slices`): what the refiner gives without that correction, for
    probes (``tools/eval_refiner.py --without``)."""
    slices = refiner.config.output_slices
    unknown = sorted(set(groups) - set(slices))
    if unknown:
        raise OptionError(f"this refiner has no output {unknown[0]!r} (it has {', '.join(slices)})")
    out = copy.deepcopy(refiner)
    with torch.no_grad():
        for name in groups:
            out.head.weight[slices[name]] = 0
            out.head.bias[slices[name]] = 0
    return out
