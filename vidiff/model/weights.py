"""Inference weights: one ``.safetensors`` file holding the model's parts and, in its metadata,
their configs (JSON) and a format version, so the file alone rebuilds the model. Never pickle.

A file holds one or both learned parts (the motion estimate itself has no weights):

- ``refiner``: the learned mean (:class:`~vidiff.model.refiner.Refiner`), tensors named
  ``refiner.*``, config in ``refiner_config``;
- ``predictor``: the same network trained past the last known frame (``vidiff generate``),
  tensors named ``predictor.*``, config in ``predictor_config``;
- ``denoiser``: the diffusion model (:class:`~vidiff.model.denoiser.Denoiser`), tensors named as its
  ``state_dict`` (``net.*``), config in ``config``.

Metadata keys: ``format = "vidiff.model"``, ``format_version = "2"``, ``parts`` (comma-separated),
the configs, plus any string metadata the caller adds (run name, training step, ...). Version 1
files (a denoiser alone, no ``parts`` key) still load. ``half=True`` stores fp16 (about half the
size; loading casts to the requested dtype).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import OptionError, VidiffError, WeightsError
from .config import ModelConfig
from .denoiser import Denoiser
from .refiner import Refiner, RefinerConfig

FORMAT = "vidiff.model"
FORMAT_VERSION = "2"
READABLE_VERSIONS = ("1", "2")
REFINER_PREFIX = "refiner."
PREDICTOR_PREFIX = "predictor."
_RESERVED = ("format", "format_version", "config", "refiner_config", "predictor_config", "parts")


def save_weights(
    path, denoiser: Denoiser | None, metadata: dict[str, str] | None = None, *,
    half: bool = False, refiner: Refiner | None = None, predictor: Refiner | None = None,
) -> Path:
    """Write the given parts' weights and configs to ``path`` (a ``.safetensors`` file), under a
    temporary name renamed when complete."""
    path = Path(path)
    if denoiser is None and refiner is None and predictor is None:
        raise OptionError("save_weights needs a denoiser, a refiner or a predictor")
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    clash = [k for k in meta if k in _RESERVED]
    if clash:
        raise WeightsError(f"metadata key {clash[0]!r} is reserved by the weights format")
    dtype = torch.float16 if half else torch.float32
    tensors: dict[str, torch.Tensor] = {}
    parts = []
    if refiner is not None:
        parts.append("refiner")
        meta["refiner_config"] = refiner.config.to_json()
        tensors.update({REFINER_PREFIX + k: v for k, v in refiner.state_dict().items()})
    if predictor is not None:
        parts.append("predictor")
        meta["predictor_config"] = predictor.config.to_json()
        tensors.update({PREDICTOR_PREFIX + k: v for k, v in predictor.state_dict().items()})
    if denoiser is not None:
        parts.append("denoiser")
        meta["config"] = denoiser.config.to_json()
        tensors.update(denoiser.state_dict())
    meta.update(format=FORMAT, format_version=FORMAT_VERSION, parts=",".join(parts))
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in tensors.items()
    }
    tmp = path.with_name(path.name + ".vidiff-tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def read_metadata(path) -> dict[str, str]:
    """The string metadata of a weights file (config JSON included); WeightsError if unreadable."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"weights file {path} does not exist; pass the path of a .safetensors file"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types for damaged headers
        raise WeightsError(f"weights file {path} is damaged or not safetensors ({exc})") from None


def read_parts(path) -> tuple[str, ...]:
    """The parts a weights file holds (``"refiner"``, ``"predictor"``, ``"denoiser"``); WeightsError if it is not
    a vidiff weights file of a version this vidiff reads."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise WeightsError(f"weights file {path} is not a vidiff model file (no format={FORMAT!r})")
    version = meta.get("format_version")
    if version not in READABLE_VERSIONS:
        raise WeightsError(
            f"weights file {path} has format version {version!r}; this vidiff reads versions "
            f"{', '.join(READABLE_VERSIONS)}"
        )
    if version == "1":
        return ("denoiser",)
    return tuple(p for p in meta.get("parts", "").split(",") if p)


def _tensors(path: Path, keep) -> dict[str, torch.Tensor]:
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys() if keep(k)}
    except Exception as exc:
        raise WeightsError(f"weights file {path} is damaged or truncated ({exc})") from None


def _fill(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path, what: str):
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        which = f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
        raise WeightsError(
            f"weights file {path} does not match its {what} config ({which}, "
            f"{len(missing)} missing, {len(extra)} unexpected tensors)"
        )
    for k, v in tensors.items():
        if v.shape != expected[k].shape:
            raise WeightsError(
                f"weights file {path}: tensor {k!r} has shape {tuple(v.shape)}, the config "
                f"needs {tuple(expected[k].shape)}"
            )
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})


def _config(meta: dict, key: str, cls, path: Path, what: str):
    try:
        saved = json.loads(meta[key])
        return cls.from_dict({**getattr(cls, "SAVED_BEFORE", {}), **saved})
    except (KeyError, json.JSONDecodeError, TypeError, VidiffError) as exc:
        raise WeightsError(f"weights file {path} has no usable {what} config ({exc})") from None


def _load_part(path, part: str, device, dtype):
    """One part of a weights file, built from its config and filled; WeightsError when the file
    is missing, damaged, mismatched or holds no such part."""
    path = Path(path)
    parts = read_parts(path)
    what, cls, config_key, module_cls, prefix = {
        "denoiser": ("diffusion model", ModelConfig, "config", Denoiser, ""),
        "refiner": ("refiner", RefinerConfig, "refiner_config", Refiner, REFINER_PREFIX),
        "predictor": ("predictor", RefinerConfig, "predictor_config", Refiner, PREDICTOR_PREFIX),
    }[part]
    if part not in parts:
        raise WeightsError(
            f"weights file {path} holds no {what} (parts: {', '.join(parts) or 'none'})"
        )
    module = module_cls(_config(read_metadata(path), config_key, cls, path, what))
    if prefix:
        tensors = _tensors(path, lambda k: k.startswith(prefix))
        tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    else:
        tensors = _tensors(
            path, lambda k: not k.startswith((REFINER_PREFIX, PREDICTOR_PREFIX)))
    _fill(module, tensors, path, what)
    return module.to(device=device, dtype=dtype).eval()


def load_weights(path, device="cpu", dtype: torch.dtype = torch.float32) -> Denoiser:
    """The diffusion model of a weights file; WeightsError if missing/damaged/mismatched or the
    file holds no diffusion model."""
    return _load_part(path, "denoiser", device, dtype)


def load_refiner(path, device="cpu", dtype: torch.dtype = torch.float32,
                 part: str = "refiner") -> Refiner:
    """The refiner (learned mean) of a weights file, or with ``part="predictor"`` its predictor;
    WeightsError as :func:`load_weights`."""
    if part not in ("refiner", "predictor"):
        raise OptionError(f"part must be 'refiner' or 'predictor', got {part!r}")
    return _load_part(path, part, device, dtype)
