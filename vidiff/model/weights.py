"""Inference weights: one ``.safetensors`` file holding the tensors and, in its metadata, the
ModelConfig (JSON) and a format version, so the file alone rebuilds the model. Never pickle.

Metadata keys: ``format = "vidiff.model"``, ``format_version = "1"``, ``config`` (JSON), plus any
string metadata the caller adds (run name, training step, ...). ``half=True`` stores fp16 (about
half the size; loading casts to the requested dtype).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import VidiffError, WeightsError
from .config import ModelConfig
from .denoiser import Denoiser

FORMAT = "vidiff.model"
FORMAT_VERSION = "1"
_RESERVED = ("format", "format_version", "config")


def save_weights(
    path, denoiser: Denoiser, metadata: dict[str, str] | None = None, *, half: bool = False
) -> Path:
    """Write ``denoiser``'s weights and config to ``path`` (a ``.safetensors`` file)."""
    path = Path(path)
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    clash = [k for k in meta if k in _RESERVED]
    if clash:
        raise WeightsError(f"metadata key {clash[0]!r} is reserved by the weights format")
    meta.update(format=FORMAT, format_version=FORMAT_VERSION, config=denoiser.config.to_json())
    dtype = torch.float16 if half else torch.float32
    tensors = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in denoiser.state_dict().items()
    }
    save_file(tensors, str(path), metadata=meta)
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


def load_weights(path, device="cpu", dtype: torch.dtype = torch.float32) -> Denoiser:
    """Build a :class:`Denoiser` from a weights file alone; WeightsError if missing/damaged/mismatched."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise WeightsError(f"weights file {path} is not a vidiff model file (no format={FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise WeightsError(
            f"weights file {path} has format version {meta.get('format_version')!r}; this vidiff "
            f"reads version {FORMAT_VERSION}"
        )
    try:
        config = ModelConfig.from_dict(json.loads(meta["config"]))
    except (KeyError, json.JSONDecodeError, VidiffError) as exc:
        raise WeightsError(f"weights file {path} has no usable model config ({exc})") from None
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise WeightsError(f"weights file {path} is damaged or truncated ({exc})") from None
    denoiser = Denoiser(config)
    expected = denoiser.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
        raise WeightsError(
            f"weights file {path} does not match its config ({what}, "
            f"{len(missing)} missing, {len(extra)} unexpected tensors)"
        )
    for k, v in tensors.items():
        if v.shape != expected[k].shape:
            raise WeightsError(
                f"weights file {path}: tensor {k!r} has shape {tuple(v.shape)}, the config "
                f"needs {tuple(expected[k].shape)}"
            )
    denoiser.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    return denoiser.to(device=device, dtype=dtype).eval()
