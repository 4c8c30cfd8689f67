"""Training with DataLoader workers makes progress with the real settings (it used to hang).

The run uses ``configs/default.toml`` as shipped (the default model, 128 px crops, the default
motion estimate, an evaluation batch built in the parent before the loader starts) with one
worker, a small batch and three steps, in a child process with a deadline: a worker stuck in its
start-up shows as a timeout, not as a test that never ends.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from media import pattern_frame

from vidiff.train import Segment, write_pack
from vidiff.train.batches import WORKER_START

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_workers_start_clean():
    assert WORKER_START in ("spawn", "forkserver")  # never "fork" (see vidiff/train/batches.py)


def test_default_config_with_a_worker_makes_progress(tmp_path):
    frames = np.stack([pattern_frame(i, (192, 160), (2.0, 1.0)) for i in range(24)])
    pack = tmp_path / "clip.npz"
    write_pack([Segment(frames, np.arange(24.0), "synthetic", 0)], pack)
    text = (CONFIGS / "default.toml").read_text()
    for key, value in {"steps": 3, "batch_size": 2, "num_workers": 1, "eval_windows": 2,
                       "eval_interval": 3, "eval_sample_steps": 1, "sample_interval": 0,
                       "holdout_every": 2}.items():
        lines = text.splitlines()
        found = [i for i, line in enumerate(lines) if line.split("=")[0].strip() == key]
        assert len(found) == 1, f"{key} is not set once in default.toml"
        lines[found[0]] = f"{key} = {value}"
        text = "\n".join(lines)
    config = tmp_path / "workers.toml"
    config.write_text(text)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "vidiff", "train", "--config", str(config), "--data",
               str(pack), "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    steps = [json.loads(line).get("step") for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 3
    assert (out / "last.safetensors").is_file()
