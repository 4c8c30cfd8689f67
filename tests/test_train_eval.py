"""The training evaluation reports frames with motion and static frames apart."""

import torch

from vidiff.model import Denoiser, ModelConfig, build_cond
from vidiff.motion import FlowMotion
from vidiff.train.evaluate import eval_line, evaluate


def test_static_frames_are_reported_apart():
    torch.manual_seed(0)
    b, t, h, w = 2, 3, 24, 32
    base = torch.rand(1, 3, 1, h, w).expand(b, 3, t, h, w).clone()
    base[1, :, 1] = torch.roll(base[1, :, 0], 3, dims=-1)  # window 1: its middle frame moved
    base[1, :, 2] = torch.roll(base[1, :, 0], 6, dims=-1)
    mask = torch.tensor([[True, False, True]] * b)
    times = torch.tensor([[0.0, 1.0, 2.0]] * b)
    cond = build_cond(base, mask, times, FlowMotion())
    batch = {"target": base, "frames": cond.frames, "mask": mask, "mu": cond.mu, "times": times}
    metrics = evaluate(Denoiser(ModelConfig.tiny()), batch, steps=2)
    assert metrics["eval_frames"] == 1 and metrics["static_eval_frames"] == 1
    assert abs(metrics["psnr_gain"]) < 1e-6  # an untrained model samples mu exactly
    assert "1 frames with motion" in eval_line(metrics) and "static" in eval_line(metrics)
