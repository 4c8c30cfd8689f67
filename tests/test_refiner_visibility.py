"""The refiner's visibility inputs: what the flows to time t cannot say, the network now sees."""

import numpy as np
import pytest
import torch
from test_tiling import assert_no_seam, perturbed_refiner, psnr, smooth_pair

from vidiff.errors import OptionError
from vidiff.model import RefinedMotion, Refiner, RefinerConfig
from vidiff.model.tiling import plan_tiles
from vidiff.motion import FlowMotion, flows_to_time
from vidiff.train.refine_loop import refine_batch, start_from
from vidiff.train.triplets import to_tensors

VIS = RefinerConfig(channels=(4, 8, 8), fallback=True, visibility=True)


def test_at_half_time_the_flows_to_t_lose_the_forward_backward_disagreement_the_inputs_keep():
    f0, f1, _ = smooth_pair(40, 56)
    d = torch.zeros(1, 2, 40, 56)
    d[:, 0] = 3.0
    agree = torch.cat([d, -d], 1)  # 0->1 and 1->0 undo each other: every pixel visible
    disagree = torch.cat([d + 1.5, -d + 1.5], 1)  # same F10 - F01, so the same flows to t
    ft = [flows_to_time(f[:, :2], f[:, 2:], 0.5) for f in (agree, disagree)]
    assert all(torch.equal(a, b) for a, b in zip(*ft))
    for config in (VIS, RefinerConfig(channels=(4, 8, 8), fallback=True)):
        net = perturbed_refiner(config=config)
        out = [net(f0, f1, *ft[0], 0.5, flows=f)["frame"] for f in (agree, disagree)]
        if config.visibility:
            vis = [net.visibility_at_t(f, *ft[0]) for f in (agree, disagree)]
            assert vis[0].min() > 0.99 and vis[1].max() < 0.01
            assert (out[0] - out[1]).abs().max() > 1e-3
        else:  # without the inputs, the two cases are the same to the network
            assert torch.equal(out[0], out[1])


def test_visibility_inputs_need_the_full_flows():
    f0, f1, _ = smooth_pair(40, 56)
    flow = torch.randn(1, 2, 40, 56)
    net = Refiner(VIS)
    assert net.enc[0][0][0].in_channels == Refiner(RefinerConfig()).enc[0][0][0].in_channels + 2
    with pytest.raises(OptionError, match="full flows"):
        net(f0, f1, flow, -flow, 0.5)
    with pytest.raises(OptionError, match="full flows"):
        net(f0, f1, flow, -flow, 0.5, flows=flow)


def test_a_refiner_given_visibility_inputs_starts_as_the_network_it_grew_from():
    source = perturbed_refiner(config=RefinerConfig(channels=(4, 8, 8), fallback=True))
    grown = Refiner(VIS)
    start_from(grown, source)
    f0, f1, _ = smooth_pair(40, 56)
    flows = torch.randn(1, 4, 40, 56) * 2
    ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.3)
    a = source(f0, f1, ft0, ft1, 0.3)["frame"]
    b = grown(f0, f1, ft0, ft1, 0.3, flows=flows)["frame"]
    assert torch.allclose(a, b, atol=1e-6)
    # the new inputs are live: their first-layer weights get a gradient at once
    (grown(f0, f1, ft0, ft1, 0.3, flows=flows)["frame"] - f1).square().mean().backward()
    assert grown.enc[0][0][0].weight.grad[:, -2:].abs().sum() > 0


def test_tiled_refiner_with_visibility_matches_untiled():
    net = perturbed_refiner(config=RefinerConfig(fallback=True, visibility=True))
    f0, f1, _ = smooth_pair(200, 264)
    flows = torch.randn(1, 4, 200, 264) * 2
    ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.4)
    plan = plan_tiles(200, 264, 96, 112, overlap=64, margin=16)
    with torch.inference_mode():
        whole = net(f0, f1, ft0, ft1, 0.4, flows=flows)
        tiled = net(f0, f1, ft0, ft1, 0.4, plan=plan, flows=flows)["frame"]
    assert psnr(whole["frame"], whole["mu"]) < 45  # the refiner really changes the estimate
    assert psnr(tiled, whole["frame"]) > 70
    assert_no_seam(tiled - whole["frame"], plan, limit=1 / 255 / 4)


def test_refined_motion_and_its_mirror_pass_the_flows():
    f0, f1, _ = smooth_pair(40, 56)
    net = perturbed_refiner(config=VIS)
    motion = FlowMotion()
    plain = RefinedMotion(net, motion).estimate(f0, f1, [0.5])[:, :, 0]
    flows = motion.full_flows(f0, f1)
    ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.5)
    with torch.inference_mode():
        direct = net(f0, f1, ft0, ft1, 0.5, flows=flows)["frame"].clamp(0, 1)
    assert torch.allclose(plain, direct, atol=1e-5)
    # the mirrored half of the ensemble gets the mirrored full flows: dx of both flows negated
    both = RefinedMotion(net, motion, ensemble=True).estimate(f0, f1, [0.5])[:, :, 0]
    m = flows.flip(-1) * torch.tensor([-1.0, 1.0, -1.0, 1.0]).view(1, 4, 1, 1)
    mt0, mt1 = flows_to_time(m[:, :2], m[:, 2:], 0.5)
    with torch.inference_mode():
        mirrored = net(f0.flip(-1), f1.flip(-1), mt0, mt1, 0.5, flows=m)["frame"].flip(-1)
        whole = net(f0, f1, ft0, ft1, 0.5, flows=flows)["frame"]
    assert torch.allclose(both, ((whole + mirrored) / 2).clamp(0, 1), atol=1e-5)


def test_training_batches_carry_the_full_flows():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (2, 3, 32, 32, 3), dtype=np.uint8)
    flows = rng.normal(size=(2, 4, 32, 32)).astype(np.float32)
    batch = to_tensors(frames, flows, np.array([0.5, 0.25]))
    assert torch.equal(batch["flows"], torch.from_numpy(flows))
    out = refine_batch(Refiner(VIS), batch)
    assert out["frame"].shape == (2, 3, 32, 32)


def train_grown(tmp_path, option: str):
    """20 steps of a tiny run with the optional part ``option`` on (a key set true, or a whole
    ``key = value`` line), grown from a refiner without it: the last log record and the trained
    refiner."""
    import json

    from test_refiner_share import blend_pack

    from vidiff.model import load_refiner, save_weights
    from vidiff.train.refine_loop import train_refiner

    pack = blend_pack(tmp_path)
    source = tmp_path / "source.safetensors"
    save_weights(source, None, refiner=perturbed_refiner(config=RefinerConfig(channels=(4, 8, 8))))
    config = tmp_path / "grown.toml"
    config.write_text(
        f"[refiner]\nchannels = [4, 8, 8]\n{option if '=' in option else option + ' = true'}\n"
        "[train]\nsteps = 20\nbatch_size = 4\ncrop = 32\nlr = 1e-3\nwarmup_steps = 2\n"
        "log_interval = 10\ncheckpoint_interval = 10\neval_interval = 20\nloss = \"log_mse\"\n"
    )
    weights = train_refiner(config, [pack], tmp_path / "run", log=lambda _: None,
                            init_weights=source)
    log = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    return log[-1], load_refiner(weights)


def test_a_run_with_visibility_inputs_trains_from_a_refiner_without_them(tmp_path):
    last, trained = train_grown(tmp_path, "visibility")
    assert last["step"] == 20 and "pack0" in last["eval"]
    assert trained.config.visibility
    assert trained.enc[0][0][0].weight[:, -2:].abs().sum() > 0  # the new inputs were learned from
