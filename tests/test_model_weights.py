"""Weights files: safetensors round trip with the config in the metadata, and clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from vidiff.errors import WeightsError
from vidiff.model import (
    Denoiser,
    ModelConfig,
    build_cond,
    load_weights,
    read_metadata,
    save_weights,
)


class Blend:
    def estimate(self, frame0, frame1, times):
        return torch.stack([(1 - t) * frame0 + t * frame1 for t in times], 2)


@pytest.fixture
def trained():
    torch.manual_seed(0)
    d = Denoiser(ModelConfig.tiny()).eval()
    with torch.no_grad():
        for p in d.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return d


def outputs(d):
    frames = torch.rand(1, 3, 3, 10, 13, generator=torch.Generator().manual_seed(0))
    cond = build_cond(
        frames, torch.tensor([[True, True, False]]), torch.tensor([[0.0, 1.0, 0.5]]), Blend()
    )
    with torch.no_grad():
        return d(torch.ones_like(frames), 0.8, cond)


def test_round_trip_from_the_file_alone(tmp_path, trained):
    path = save_weights(tmp_path / "m.safetensors", trained, {"step": 12})
    meta = read_metadata(path)
    assert json.loads(meta["config"]) == ModelConfig.tiny().to_dict()
    assert meta["format_version"] == "2" and meta["step"] == "12"
    assert meta["parts"] == "denoiser"
    loaded = load_weights(path)
    assert loaded.config == ModelConfig.tiny()
    assert torch.equal(outputs(loaded), outputs(trained))
    assert not path.read_bytes().startswith(b"\x80")  # not a pickle


def test_fp16_file_is_smaller_and_close(tmp_path, trained):
    full = save_weights(tmp_path / "a.safetensors", trained)
    half = save_weights(tmp_path / "b.safetensors", trained, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_weights(half)
    assert next(loaded.parameters()).dtype == torch.float32
    assert torch.allclose(outputs(loaded), outputs(trained), atol=5e-2)


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights(tmp_path / "nope.safetensors")


def test_truncated_file(tmp_path, trained):
    path = save_weights(tmp_path / "m.safetensors", trained)
    data = path.read_bytes()
    for cut in (4, len(data) // 2, len(data) - 7):
        path.write_bytes(data[:cut])
        with pytest.raises(WeightsError) as info:
            load_weights(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_garbage_file(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"\x80\x04not a safetensors file at all" * 10)
    with pytest.raises(WeightsError, match="damaged"):
        load_weights(path)


def test_file_without_config_or_with_bad_config(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(WeightsError, match="not a vidiff model"):
        load_weights(path)
    bad = {"format": "vidiff.model", "format_version": "1", "config": '{"chanels": [8]}'}
    save_file({"w": torch.zeros(2)}, str(path), metadata=bad)
    with pytest.raises(WeightsError, match="chanels"):
        load_weights(path)
    save_file({"w": torch.zeros(2)}, str(path), metadata={**bad, "format_version": "9"})
    with pytest.raises(WeightsError, match="version"):
        load_weights(path)


def test_mismatched_tensors(tmp_path, trained):
    path = save_weights(tmp_path / "m.safetensors", trained)
    meta = read_metadata(path)
    tensors = {k: v.clone() for k, v in trained.state_dict().items()}
    tensors.pop("net.head.weight")
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(WeightsError, match="missing 'net.head.weight'"):
        load_weights(path)
    tensors = {k: v.clone() for k, v in trained.state_dict().items()}
    tensors["net.head.bias"] = torch.zeros(5)
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(WeightsError, match="shape"):
        load_weights(path)
