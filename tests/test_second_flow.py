"""The second flow (Farneback) and the per-pixel choice between it and DIS."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.media import pattern_frame
from vidiff.errors import OptionError
from vidiff.metrics import psnr
from vidiff.motion import FlowMotion, FlowMotionConfig
from vidiff.motion.second_flow import choose_flows, farneback, midpoint_disagreement

SIZE = (96, 72)  # (w, h)
VELOCITY = (3.0, 1.5)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def grey(image: np.ndarray) -> torch.Tensor:
    return to_tensor(image).mean(1, keepdim=True)


def constant_flows(velocity, h, w) -> torch.Tensor:
    """``1 4 h w``: the flows 0->1 and 1->0 of a translation by ``velocity``."""
    vx, vy = velocity
    return torch.tensor([vx, vy, -vx, -vy], dtype=torch.float32).view(1, 4, 1, 1).expand(1, 4, h, w)


def inner(x: torch.Tensor, margin: int = 10) -> torch.Tensor:
    return x[..., margin:-margin, margin:-margin]


def test_the_flow_that_draws_the_midpoint_is_chosen_and_ties_keep_the_first():
    a, b = (grey(pattern_frame(i, SIZE, VELOCITY)) for i in range(2))
    h, w = a.shape[-2:]
    right, wrong = constant_flows(VELOCITY, h, w), torch.zeros(1, 4, h, w)
    assert float(inner(midpoint_disagreement(a, b, right, 9)).max()) < 1e-4
    assert float(inner(midpoint_disagreement(a, b, wrong, 9)).mean()) > 1e-3
    chosen = inner(choose_flows(a, b, wrong, right, 9, 0.5))
    took_right = (chosen == inner(right)).all(dim=1)
    assert ((chosen == inner(wrong)).all(dim=1) | took_right).all()  # whole pairs, one source
    assert float(took_right.float().mean()) > 0.95
    assert torch.equal(choose_flows(a, b, right, wrong, 9, 0.5), right)
    same = right.clone()
    assert torch.equal(choose_flows(a, b, right, same, 9, 0.5), right)  # a tie keeps the first
    # a margin of almost nothing keeps the first wherever the second is not exactly perfect
    assert torch.equal(choose_flows(a, b, wrong, right * 1.05, 9, 1e-9), wrong)


def test_farneback_finds_a_translation():
    a, b = (pattern_frame(i, SIZE, VELOCITY) for i in range(2))
    grey_u8 = [np.rint(x.mean(2)).astype(np.uint8) for x in (a, b)]
    flow = farneback(*grey_u8)
    assert flow.shape == (72, 96, 2) and flow.dtype == np.float32
    mid = flow[20:-20, 20:-20].reshape(-1, 2)
    assert np.abs(np.median(mid, axis=0) - VELOCITY).max() < 0.25


def test_the_motion_step_falls_back_on_the_second_flow_where_the_first_fails(monkeypatch):
    a, b = (to_tensor(pattern_frame(i, SIZE, VELOCITY)) for i in range(2))
    truth = pattern_frame(0.5, SIZE, VELOCITY)
    broken = lambda self, x, y: np.zeros((*x.shape, 2), np.float32)  # noqa: E731
    monkeypatch.setattr(FlowMotion, "_dis", broken)
    scores = {}
    for second in ("none", "farneback"):
        motion = FlowMotion(FlowMotionConfig(second_flow=second))
        out = motion.estimate(a, b, [0.5])[0, :, 0]
        scores[second] = psnr(inner(out), inner(to_tensor(truth)[0]))
        flow01, flow10 = motion.flow_pair(a, b)
        if second == "farneback":  # both directions come from Farneback, each the right way
            assert np.abs(inner(flow01).mean((0, 2, 3)).numpy() - VELOCITY).max() < 0.3
            assert np.abs(inner(flow10).mean((0, 2, 3)).numpy() + VELOCITY).max() < 0.3
    assert scores["farneback"] > 38.0
    assert scores["farneback"] > scores["none"] + 10.0


def test_a_batch_chooses_per_pair_as_single_calls_do():
    pairs = [(pattern_frame(0, SIZE, v), pattern_frame(1, SIZE, v)) for v in (VELOCITY, (-2, 4))]
    motion = FlowMotion()
    a = torch.cat([to_tensor(p[0]) for p in pairs])
    b = torch.cat([to_tensor(p[1]) for p in pairs])
    batch = torch.cat(motion.flow_pair(a, b), dim=1)
    for i in range(2):
        single = torch.cat(motion.flow_pair(a[i:i + 1], b[i:i + 1]), dim=1)
        assert torch.equal(batch[i:i + 1], single)
    assert not torch.equal(batch[0], batch[1])


def test_tiny_frames_get_both_flows():
    a, b = (to_tensor(pattern_frame(i, (10, 8), (1, 0))) for i in range(2))
    flow01, flow10 = FlowMotion().flow_pair(a, b)
    assert flow01.shape == flow10.shape == (1, 2, 8, 10)
    assert torch.isfinite(flow01).all() and torch.isfinite(flow10).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [({"second_flow": "tvl1"}, "second_flow"), ({"select_window": 8}, "select_window"),
     ({"select_window": 0}, "select_window"), ({"select_margin": 0.0}, "select_margin")],
)
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(OptionError, match=match):
        FlowMotionConfig(**kwargs)


def _middlebury_pan(root):
    """A one-sequence Middlebury-shaped folder under ``root``: a known translation."""
    import cv2

    folder = root / "middlebury" / "Pan"
    folder.mkdir(parents=True)
    for name, t in (("frame10.png", 0), ("frame10i11.png", 0.5), ("frame11.png", 1)):
        cv2.imwrite(str(folder / name), pattern_frame(t, SIZE, VELOCITY)[..., ::-1])


def test_probe_tool_scores_each_setting_and_refuses_bad_ones(tmp_path):
    import re
    import subprocess
    import sys
    from pathlib import Path


    _middlebury_pan(tmp_path)
    tool = Path(__file__).resolve().parents[1] / "tools" / "probe_second_flow.py"
    run = subprocess.run([sys.executable, str(tool), "--data", str(tmp_path), "--windows", "9",
                          "--margins", "0.5,0.7", "--threads", "1"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    scores = dict(re.findall(r"^  (.+?) +(\d+\.\d{3})  [+-]\d", run.stdout, re.M))
    assert set(scores) == {"DIS alone", "Farneback alone", "choose w9 m0.5", "choose w9 m0.7",
                           "better per block (oracle)"}
    assert float(scores["DIS alone"]) > 30  # a translation: both flows find it
    assert float(scores["better per block (oracle)"]) >= float(scores["DIS alone"])
    assert "ucf101: not found" in run.stdout
    run = subprocess.run([sys.executable, str(tool), "--data", str(tmp_path), "--windows", "8"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "select_window" in run.stderr and "Traceback" not in run.stderr

    from vidiff.model import Refiner, RefinerConfig
    from vidiff.model.weights import save_weights

    choosing = Refiner(RefinerConfig(channels=(4, 8, 8), alternate=True))
    with torch.no_grad():
        choosing.head.bias[-1] = 20.0  # takes Farneback's pair everywhere
    paths = [save_weights(tmp_path / f"{k}.safetensors", None, refiner=net) for k, net in
             (("alt", choosing), ("plain", Refiner(RefinerConfig(channels=(4, 8, 8)))))]
    common = [sys.executable, str(tool), "--data", str(tmp_path), "--windows", "9", "--margins",
              "0.5", "--threads", "1", "--refiner"]
    run = subprocess.run(common + [str(paths[0])], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert re.search(r"alt\.safetensors: share of the alternate 1\.0000 on average, above 0\.5 "
                     r"at 100\.000% of pixels", run.stdout), run.stdout
    run = subprocess.run(common + [str(paths[1])], capture_output=True, text=True)
    assert run.returncode == 2 and "no learned choice" in run.stderr and "Traceback" not in run.stderr


def test_probe_tool_scores_contrib_flows_or_says_what_it_needs(tmp_path):
    import re
    import subprocess
    import sys
    from pathlib import Path

    import cv2

    _middlebury_pan(tmp_path)
    tool = Path(__file__).resolve().parents[1] / "tools" / "probe_second_flow.py"
    common = [sys.executable, str(tool), "--data", str(tmp_path), "--windows", "9", "--margins",
              "0.5", "--threads", "1", "--sets", "middlebury", "--others"]
    run = subprocess.run(common + ["rlof,optical"], capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    if not hasattr(cv2, "optflow"):  # the project's OpenCV: the probe says what it needs
        assert "contrib build" in run.stderr
        return
    assert "unknown flow 'optical'" in run.stderr
    run = subprocess.run(common + ["deepflow,rlof"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    scores = dict(re.findall(r"^  (.+?) +(\d+\.\d{3})  [+-]\d", run.stdout, re.M))
    for name in ("deepflow", "rlof"):
        assert {f"{name} alone", f"choose {name} w9 m0.5",
                f"better of DIS and {name} per block (oracle)"} <= set(scores)
        assert (float(scores[f"better of DIS and {name} per block (oracle)"])
                >= float(scores["DIS alone"]))
