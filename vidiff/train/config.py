"""Training configuration: one typed tree read from a TOML file.

A run config (``configs/NAME.toml``) has three sections, each a frozen dataclass with defaults:
``[model]`` (-> :class:`vidiff.model.ModelConfig`, optionally starting from ``preset = "tiny"`` or
``"default"``), ``[train]`` (:class:`TrainConfig`: optimiser, precision, intervals, seed) and
``[data]`` (:class:`DataConfig`: decoding, windows, task mix, augmentation). Unknown sections or
keys are :class:`~vidiff.errors.OptionError` naming the key. The resolved tree
(:meth:`TrainRun.to_dict`) is written with every run and checkpoint.

Frame spacing and times are in source frames: a window with spacing ``s`` takes every ``s``-th
frame, and frame times inside a window are in units of that spacing (see :mod:`.windows`).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidiff.errors import OptionError

from .schedules import schedule_problem

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
TASKS = ("interpolation", "prediction", "infill")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise OptionError(message)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping (``[train]``). Intervals are in optimiser steps; 0 = never."""

    steps: int = 100_000  # total steps of the run (``--steps`` overrides)
    batch_size: int = 8  # windows per step and per process (each GPU draws its own)
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.01
    warmup_steps: int = 1000  # linear LR warm-up from 0
    lr_decay_steps: int = 0  # 0: constant LR after warm-up; N: cosine to lr*min_lr_ratio at step N
    min_lr_ratio: float = 0.1
    ema_decay: float = 0.999  # capped early on by (1 + step) / (10 + step)
    grad_clip: float = 1.0  # max global grad norm; 0 = off
    precision: str = "auto"  # auto: bf16 on CUDA when supported, else fp16 on CUDA, fp32 on CPU
    seed: int = 0
    log_interval: int = 50  # mean loss over the interval -> metrics.jsonl
    checkpoint_interval: int = 1000  # checkpoint.pt + last.safetensors (also at the end)
    eval_interval: int = 1000  # PSNR of mu vs EMA model on held-back windows
    sample_interval: int = 5000  # PNG grid: known, mu, model, truth
    eval_windows: int = 16
    eval_sample_steps: int = 4  # sampler steps for evaluation and sample grids
    num_workers: int = 4  # DataLoader workers (mu is computed in them)
    max_minutes: float = 0.0  # wall-clock budget of one call; stops cleanly with a checkpoint

    def __post_init__(self) -> None:
        for name in (
            "steps",
            "warmup_steps",
            "lr_decay_steps",
            "log_interval",
            "eval_windows",
            "checkpoint_interval",
            "eval_interval",
            "sample_interval",
            "num_workers",
            "eval_sample_steps",
        ):
            _check(
                getattr(self, name) >= 0, f"[train] {name} must be >= 0, got {getattr(self, name)}"
            )
        _check(self.batch_size >= 1, f"[train] batch_size must be >= 1, got {self.batch_size}")
        _check(self.lr > 0, f"[train] lr must be positive, got {self.lr}")
        _check(
            len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            f"[train] betas must be two numbers in [0, 1), got {list(self.betas)}",
        )
        _check(
            self.weight_decay >= 0, f"[train] weight_decay must be >= 0, got {self.weight_decay}"
        )
        _check(
            0 <= self.ema_decay < 1, f"[train] ema_decay must be in [0, 1), got {self.ema_decay}"
        )
        _check(self.grad_clip >= 0, f"[train] grad_clip must be >= 0, got {self.grad_clip}")
        _check(
            self.precision in PRECISIONS,
            f"[train] precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}",
        )
        _check(self.max_minutes >= 0, f"[train] max_minutes must be >= 0, got {self.max_minutes}")
        problem = schedule_problem(self)
        _check(problem is None, f"[train] {problem}")


@dataclass(frozen=True)
class DataConfig:
    """Training windows (``[data]``): decoding, window layout, task mix, augmentation."""

    frame_size: int = 160  # short side of decoded frames (downscaled, never upscaled)
    crop_size: int = 128  # square random crop of each window
    window: int = 5  # frames per window (known + unknown)
    max_unknown: int = 3  # unknown frames per window at most (interpolation/prediction)
    max_spacing: int = 4  # source frames between known frames: drawn from 1..max_spacing
    interpolation: float = 0.6  # task mix weights (normalised)
    prediction: float = 0.2
    infill: float = 0.2
    hflip_prob: float = 0.5
    vflip_prob: float = 0.0
    reverse_prob: float = 0.5  # play the segment backwards
    segment_frames: int = 20  # packing: frames per stored segment
    min_segment_frames: int = 8  # shorter scene-cut-free stretches are dropped
    scene_cut_threshold: float = 0.15  # colour-histogram distance marking a cut (vidiff.scenes)
    max_decoded_mb: float = 1024.0  # memory cap for frames decoded from raw videos/folders
    holdout_every: int = 10  # every N-th segment is held back for evaluation (if >= N segments)

    def __post_init__(self) -> None:
        for name in (
            "frame_size",
            "crop_size",
            "segment_frames",
            "min_segment_frames",
            "max_spacing",
        ):
            _check(
                getattr(self, name) >= 1, f"[data] {name} must be >= 1, got {getattr(self, name)}"
            )
        _check(self.window >= 3, f"[data] window must be >= 3 frames, got {self.window}")
        _check(
            1 <= self.max_unknown <= self.window - 2,
            f"[data] max_unknown must be in 1..window-2 ({self.window - 2}), got {self.max_unknown}",
        )
        weights = [self.interpolation, self.prediction, self.infill]
        _check(
            all(w >= 0 for w in weights) and sum(weights) > 0,
            f"[data] task weights interpolation/prediction/infill must be >= 0 and not all 0, got {weights}",
        )
        for name in ("hflip_prob", "vflip_prob", "reverse_prob", "scene_cut_threshold"):
            value = getattr(self, name)
            _check(0 <= value <= 1, f"[data] {name} must be in [0, 1], got {value}")
        _check(
            self.crop_size <= self.frame_size,
            f"[data] crop_size ({self.crop_size}) must not exceed frame_size ({self.frame_size})",
        )
        _check(
            self.max_decoded_mb > 0,
            f"[data] max_decoded_mb must be positive, got {self.max_decoded_mb}",
        )
        _check(
            self.holdout_every >= 2, f"[data] holdout_every must be >= 2, got {self.holdout_every}"
        )

    def task_weights(self) -> dict[str, float]:
        total = self.interpolation + self.prediction + self.infill
        return {t: getattr(self, t) / total for t in TASKS}


@dataclass(frozen=True)
class TrainRun:
    """The whole resolved tree: model, training and data configs."""

    model: Any  # vidiff.model.ModelConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict:
        return {
            "model": self.model.to_dict(),
            "train": _plain(dataclasses.asdict(self.train)),
            "data": _plain(dataclasses.asdict(self.data)),
        }

    @classmethod
    def from_dict(cls, tree: dict, source: str = "config") -> TrainRun:
        _check(isinstance(tree, dict), f"{source}: expected a table, got {type(tree).__name__}")
        unknown = sorted(set(tree) - {"model", "train", "data"})
        if unknown:
            raise OptionError(
                f"{source}: unknown section [{unknown[0]}] (expected model, train, data)"
            )
        return cls(
            model=_model_config(tree.get("model", {}), source),
            train=_section(TrainConfig, tree.get("train", {}), "train", source),
            data=_section(DataConfig, tree.get("data", {}), "data", source),
        )


def load_config(path: str | Path) -> TrainRun:
    """Read a TOML run config; :class:`OptionError` for a missing file, bad TOML or bad keys."""
    path = Path(path)
    if not path.is_file():
        raise OptionError(
            f"--config {path} does not exist; pass a TOML file such as configs/tiny.toml"
        )
    try:
        tree = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise OptionError(f"--config {path} is not valid TOML: {exc}") from None
    return TrainRun.from_dict(tree, source=str(path))


def _model_config(table: dict, source: str):
    from vidiff.model import ModelConfig

    _check(isinstance(table, dict), f"{source}: [model] must be a table")
    table = dict(table)
    preset = table.pop("preset", None)
    if preset is not None:
        presets = {"tiny": ModelConfig.tiny, "default": ModelConfig.default}
        _check(
            preset in presets, f"{source}: [model] preset must be tiny or default, got {preset!r}"
        )
        table = {**presets[preset]().to_dict(), **table}
    try:
        return ModelConfig.from_dict(table)
    except OptionError as exc:
        raise OptionError(f"{source}: [model] {exc}") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise OptionError(f"{source}: [model] {exc}") from None


def _section(cls, table: dict, name: str, source: str):
    _check(isinstance(table, dict), f"{source}: [{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        _check(
            key in fields, f"{source}: unknown key {key!r} in [{name}] (known: {', '.join(fields)})"
        )
    values = {key: _coerce(value, fields[key], name, source) for key, value in table.items()}
    return cls(**values)


def _coerce(value, f: dataclasses.Field, section: str, source: str):
    default = f.default
    where = f"{source}: [{section}] {f.name}"
    if isinstance(default, bool):
        _check(isinstance(value, bool), f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        _check(
            isinstance(value, int) and not isinstance(value, bool),
            f"{where} must be an integer, got {value!r}",
        )
        return value
    if isinstance(default, float):
        ok = (
            isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        )
        _check(ok, f"{where} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        _check(isinstance(value, str), f"{where} must be a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        ok = (
            isinstance(value, (list, tuple))
            and len(value) == len(default)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        )
        _check(ok, f"{where} must be a list of {len(default)} numbers, got {value!r}")
        return tuple(float(v) for v in value)
    raise AssertionError(f"unhandled config field type for {f.name}")


def _plain(tree):
    if isinstance(tree, dict):
        return {k: _plain(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_plain(v) for v in tree]
    return tree
