"""The training loop: exact resume, checkpoints and inference weights, run-folder errors."""

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from media import pattern_frame

from vidiff.errors import InputError, OptionError
from vidiff.model import ModelConfig, load_weights, read_metadata
from vidiff.train import Segment, load_config, train, write_pack

CONFIGS = Path(__file__).resolve().parents[1] / "configs"



@pytest.fixture
def pack(tmp_path):
    frames = np.stack([pattern_frame(i, (48, 40), (1.5, 0.75)) for i in range(30)])
    path = tmp_path / "clip.npz"
    write_pack([Segment(frames, np.arange(30.0), "synthetic", 0)], path)
    return path


def small_run(**train):
    run = load_config(CONFIGS / "tiny.toml")
    settings = dict(
        batch_size=2,
        log_interval=1,
        checkpoint_interval=0,
        eval_interval=0,
        sample_interval=0,
        eval_windows=2,
        eval_sample_steps=2,
        warmup_steps=3,
    )
    settings.update(train)
    return replace(run, train=replace(run.train, **settings))


def quiet(_):
    pass


def losses(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines) if "loss" in r}


def checkpoint(run_dir):
    return torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)


def assert_same_state(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same_state(a[k], b[k])
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_state(x, y)
    else:
        assert a == b


def test_resume_reproduces_the_next_step(tmp_path, pack):
    run = small_run()
    once, split = tmp_path / "once", tmp_path / "split"
    train(run, [pack], once, steps=5, device="cpu", log=quiet)
    train(run, [pack], split, steps=4, device="cpu", log=quiet)
    assert checkpoint(split)["step"] == 4
    train(run, [pack], split, steps=5, resume=True, device="cpu", log=quiet)
    a, b = losses(once), losses(split)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4, 5]
    assert a[5] == b[5] and a == b
    ca, cb = checkpoint(once), checkpoint(split)
    assert ca["step"] == cb["step"] == 5
    for key in ("model", "ema", "optimizer"):
        assert_same_state(ca[key], cb[key])


def test_run_folder_holds_config_metrics_samples_and_weights(tmp_path, pack):
    out = tmp_path / "run"
    path = train(small_run(eval_interval=2), [pack], out, steps=4, device="cpu", log=quiet)
    assert path == out / "last.safetensors"
    model = load_weights(path)
    assert model.config == ModelConfig.tiny()
    meta = read_metadata(path)
    assert meta["train_step"] == "4" and json.loads(meta["train_config"])["data"]["crop_size"] == 32
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"] == small_run(eval_interval=2).to_dict()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "psnr_mu" in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert all(np.isfinite(r["psnr_model"]) for r in evals)
    assert {"step", "loss", "lr", "time"} <= set(records[0])
    assert (out / "samples" / "step_0000004.png").is_file()
    # the EMA weights, not the raw ones, are the inference weights
    state = checkpoint(out)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state["ema"][k])


def test_init_weights_starts_a_fresh_run_from_shipped_weights(tmp_path, pack):
    first = train(small_run(), [pack], tmp_path / "a", steps=2, device="cpu", log=quiet)
    train(small_run(), [pack], tmp_path / "b", steps=1, device="cpu", init_weights=first, log=quiet)
    assert checkpoint(tmp_path / "b")["step"] == 1
    other = replace(small_run(), model=replace(ModelConfig.tiny(), emb_dim=16))
    with pytest.raises(OptionError, match="emb_dim"):
        train(other, [pack], tmp_path / "c", steps=1, device="cpu", init_weights=first, log=quiet)
    with pytest.raises(OptionError, match="--resume"):
        train(
            small_run(),
            [pack],
            tmp_path / "b",
            steps=1,
            init_weights=first,
            resume=True,
            device="cpu",
            log=quiet,
        )


def test_run_folder_errors(tmp_path, pack):
    out = tmp_path / "run"
    train(small_run(), [pack], out, steps=1, device="cpu", log=quiet)
    with pytest.raises(OptionError, match="--resume"):
        train(small_run(), [pack], out, steps=2, device="cpu", log=quiet)
    with pytest.raises(OptionError, match="no checkpoint.pt"):
        train(
            small_run(), [pack], tmp_path / "empty", steps=2, resume=True, device="cpu", log=quiet
        )
    changed = replace(small_run(), model=replace(ModelConfig.tiny(), emb_dim=16))
    with pytest.raises(OptionError, match="emb_dim"):
        train(changed, [pack], out, steps=2, resume=True, device="cpu", log=quiet)
    with pytest.raises(InputError, match="does not exist"):
        train(small_run(), [tmp_path / "missing"], tmp_path / "x", steps=1, device="cpu", log=quiet)


def test_max_minutes_stops_cleanly_with_a_checkpoint(tmp_path, pack):
    out = tmp_path / "run"
    train(small_run(), [pack], out, steps=1000, max_minutes=0.01, device="cpu", log=quiet)
    state = checkpoint(out)
    assert 1 <= state["step"] < 1000
    assert (out / "last.safetensors").is_file()


@pytest.mark.slow
def test_two_process_data_parallel_run_on_cpu(tmp_path, pack):
    """torchrun with two CPU processes (gloo): same entry point, rank 0 writes the run folder."""
    import subprocess
    import sys

    script = tmp_path / "ddp.py"
    script.write_text(
        "import sys, torch\n"
        "from dataclasses import replace\n"
        "from pathlib import Path\n"
        "from vidiff.train import load_config, train\n"
        "torch.set_num_threads(1)\n"
        f"run = load_config({str(CONFIGS / 'tiny.toml')!r})\n"
        "run = replace(run, train=replace(run.train, batch_size=2, log_interval=1, eval_windows=2))\n"
        f"train(run, [Path({str(pack)!r})], Path({str(tmp_path / 'run')!r}), steps=3, device='cpu',"
        " log=lambda s: None)\n"
    )
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", str(script)]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert checkpoint(tmp_path / "run")["step"] == 3
    assert sorted(losses(tmp_path / "run")) == [1, 2, 3]
    assert load_weights(tmp_path / "run" / "last.safetensors").config == ModelConfig.tiny()
