"""tools/probe_damping.py: per-sample damping of the flow past frame1, its oracle and its rules."""

import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from vidiff.model import Refiner, RefinerConfig, save_weights
from vidiff.train.triplets import TripletWriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from probe_damping import main  # noqa: E402  (tools/ is not a package)


def texture(rng, size=32):
    noise = cv2.GaussianBlur(rng.random((size, size, 3)), (0, 0), 2.0)
    noise = (noise - noise.min()) / (noise.max() - noise.min())
    return (40 + 170 * noise).astype(np.uint8)


def prediction_pack(folder: Path, moving: int, stopping: int, t: float = 3.0) -> Path:
    """Held-out samples whose scene moves 1 px a frame to the right: in ``moving`` ones it goes
    on (mu, the flow carried on, is right), in ``stopping`` ones it stops at frame1 (repeat is)."""
    rng = np.random.default_rng(0)
    flows = np.zeros((4, 32, 32), np.float32)
    flows[0], flows[2] = 1.0, -1.0  # F01 = +1 px in x, F10 = -1 px
    writer = TripletWriter(folder, 32)
    for i in range(moving + stopping):
        base = texture(rng)
        frame0, frame1 = base, np.roll(base, 1, axis=1)
        target = np.roll(base, int(t), axis=1) if i < moving else frame1
        writer.add("clip", np.stack([frame0, target, frame1]), flows, t, True)
    return writer.close()


def rows(text: str, section: int = 0) -> dict[str, float]:
    part = text.split("## ")[section + 1]
    return {name: float(gain) for name, gain in
            re.findall(r"^\| (.+?) \| [\d.]+ \| ([+-]\d+\.\d+) \|$", part, re.M)}


def test_the_oracle_takes_each_samples_best_damping_and_a_zero_head_is_mu(tmp_path, capsys):
    moving = prediction_pack(tmp_path / "moving", 8, 0)
    mixed = prediction_pack(tmp_path / "mixed", 4, 4)
    silent = save_weights(tmp_path / "w.safetensors", None, {}, predictor=Refiner(
        RefinerConfig(channels=(4, 8, 8), flow_gain=True, warp="bilinear", visibility=True)))
    assert main(["--packs", str(moving), str(mixed), "--weights", str(silent), "--bins", "2"]) == 0
    out = capsys.readouterr().out
    go_on, both = rows(out, 0), rows(out, 1)
    assert go_on["flow x 1 (mu)"] == 0 and go_on["the predictor"] == 0  # zero head: mu exactly
    assert max(v for k, v in go_on.items() if k.startswith("flow x")) == 0  # mu is right
    assert go_on["flow x 0"] < -3 and go_on["repeat frame1"] < -3
    # half the scenes stop: neither repeat nor mu is right for all, each sample's best is
    assert both["oracle: each sample's best factor"] > max(both["flow x 0"], 0) + 3
    assert both["rule: one factor per t"] <= both["oracle: each sample's best factor"]


def test_a_pack_that_is_not_for_prediction_is_refused_in_one_line(tmp_path, capsys):
    pack = prediction_pack(tmp_path / "p", 2, 0, t=0.5)
    assert main(["--packs", str(pack)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a prediction pack" in err[0]


@pytest.mark.parametrize("bins", [1, 3])
def test_rules_never_beat_the_oracle(tmp_path, capsys, bins):
    pack = prediction_pack(tmp_path / "p", 5, 5)
    assert main(["--packs", str(pack), "--bins", str(bins)]) == 0
    got = rows(capsys.readouterr().out)
    oracle = got["oracle: each sample's best factor"]
    assert all(v <= oracle + 1e-9 for k, v in got.items() if k.startswith("rule"))


def test_below_keeps_the_samples_whose_mu_scores_under_it(tmp_path, capsys):
    pack = prediction_pack(tmp_path / "p", 4, 4)  # mu is near-exact where the scene moves on
    assert main(["--packs", str(pack)]) == 0
    every = capsys.readouterr().out
    assert main(["--packs", str(pack), "--below", "30"]) == 0
    hard = capsys.readouterr().out
    assert "8 held-out samples" in every and "4 held-out samples" in hard
    assert rows(hard)["repeat frame1"] > 0  # only the scenes that stop are left: repeat wins
    assert main(["--packs", str(pack), "--above", "30"]) == 0
    easy = capsys.readouterr().out
    assert "4 held-out samples" in easy and rows(easy)["repeat frame1"] < 0
    assert main(["--packs", str(pack), "--above", "30", "--below", "30"]) == 0
    assert "fewer than 2 samples" in capsys.readouterr().out
