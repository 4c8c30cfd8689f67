"""The refiner's learned choice of the second flow (``RefinerConfig.alternate``): the motion
step's Farneback pair, kept beside the chosen flows, in the motion step, the packs, the batches
and the network."""

import json

import numpy as np
import pytest
import torch
from test_refiner import frames_pair, shifted_sample
from test_tiling import assert_no_seam, perturbed_refiner, psnr, smooth_pair

from vidiff.errors import OptionError
from vidiff.model import Refiner, RefinerConfig
from vidiff.model.refined_motion import RefinedMotion
from vidiff.model.tiling import plan_tiles
from vidiff.motion import FlowMotion, FlowMotionConfig, flows_to_time
from vidiff.train.grow import start_from

BASE = dict(channels=(4, 8, 8), flow_gain=True, fallback=True, summary=True)
ALT = RefinerConfig(**BASE, alternate=True)


def choosing(config: RefinerConfig = ALT, share: float = 20.0, seed: int = 0) -> Refiner:
    """A refiner whose head outputs nothing but the choice's logit ``share`` (1 = always the
    alternate), so that its frame is the motion estimate of whichever flow it chooses."""
    net = Refiner(config).eval()
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()
        net.head.bias[-1] = share
    return net


def test_the_motion_step_hands_over_both_flows():
    f0, f1 = frames_pair(48, 64, shift=(3.0, 1.0))
    both = FlowMotion()
    chosen, second = both.full_flow_candidates(f0, f1)
    assert chosen.shape == second.shape == (1, 4, 48, 64)
    assert torch.equal(chosen, both.full_flows(f0, f1))
    assert not torch.equal(chosen, second)  # Farneback's own pair, not the choice
    alone = FlowMotion(FlowMotionConfig(second_flow="none")).full_flow_candidates(f0, f1)
    assert alone[1] is None


def test_a_refiner_that_may_choose_starts_as_the_network_it_grew_from():
    source = perturbed_refiner(config=RefinerConfig(**BASE))
    grown = Refiner(ALT)
    assert grown.enc[0][0][0].in_channels == source.enc[0][0][0].in_channels + 10
    assert grown.head.out_channels == source.head.out_channels + 1
    start_from(grown, source)
    f0, f1, _ = smooth_pair(40, 56)
    flows, alt = torch.randn(1, 4, 40, 56) * 2, torch.randn(1, 4, 40, 56) * 4
    ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.3)
    res = grown(f0, f1, ft0, ft1, 0.3, alt_flows=alt)
    assert torch.allclose(source(f0, f1, ft0, ft1, 0.3)["frame"], res["frame"], atol=1e-6)
    assert res["alternate"].abs().max() == 0  # chooses nothing yet
    (res["frame"] - f1).square().mean().backward()
    assert grown.enc[0][0][0].weight.grad[:, -10:].abs().sum() > 0  # the new inputs are live
    assert grown.head.weight.grad[-1].abs().sum() > 0  # and the choice learns


def test_choosing_the_alternate_warps_by_it_and_without_one_changes_nothing():
    rng = np.random.default_rng(0)
    frames, true = shifted_sample(rng, size=48, d=(5.0, -3.0))
    img = torch.from_numpy(frames).permute(0, 3, 1, 2).float()[:, None] / 255
    f0, target, f1 = img
    wrong = torch.zeros(1, 4, 48, 48)
    right = torch.from_numpy(true)[None]
    ft0, ft1 = flows_to_time(wrong[:, :2], wrong[:, 2:], 0.5)
    inner = (..., slice(8, -8), slice(8, -8))
    picked = choosing()(f0, f1, ft0, ft1, 0.5, alt_flows=right)
    kept = choosing(share=0.0)(f0, f1, ft0, ft1, 0.5, alt_flows=right)
    assert picked["alternate"].min() > 0.99 and kept["alternate"].abs().max() == 0
    assert psnr(picked["frame"][inner], target[inner]) > psnr(kept["frame"][inner], target[inner]) + 10
    assert psnr(picked["frame"][inner], target[inner]) > 40
    assert torch.allclose(picked["flow_t0"], flows_to_time(right[:, :2], right[:, 2:], 0.5)[0],
                          atol=0.01)
    none = choosing()(f0, f1, ft0, ft1, 0.5)  # a motion step with no second flow
    assert torch.allclose(none["frame"], kept["frame"], atol=1e-6)


def test_tiles_see_their_window_of_the_alternate_flows():
    net = perturbed_refiner(config=ALT)
    with torch.no_grad():
        net.head.bias[-1] += 4.0  # takes the alternate at about half the pixels
    f0, f1, _ = smooth_pair(200, 264)
    flows, alt = torch.randn(1, 4, 200, 264), torch.randn(1, 4, 200, 264) * 3
    ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.4)
    plan = plan_tiles(200, 264, 96, 112, overlap=64, margin=16)
    with torch.inference_mode():
        whole = net(f0, f1, ft0, ft1, 0.4, alt_flows=alt)
        tiled = net(f0, f1, ft0, ft1, 0.4, plan=plan, alt_flows=alt)["frame"]
        ignored = net(f0, f1, ft0, ft1, 0.4)["frame"]
    assert len(plan.tiles) >= 6 and whole["alternate"].mean() > 0.2
    assert psnr(whole["frame"], ignored) < 40  # the alternate flows change the frame
    assert psnr(tiled, whole["frame"]) > 70
    assert_no_seam(tiled - whole["frame"], plan, limit=1 / 255 / 4)


def test_refined_motion_gives_the_refiner_both_flows_and_mirrors_them():
    f0, f1 = frames_pair(40, 56, shift=(3.0, 1.0))
    for config in (FlowMotionConfig(), FlowMotionConfig(second_flow="none")):
        motion = FlowMotion(config)
        chosen, second = motion.full_flow_candidates(f0, f1)
        alt = chosen if second is None else second
        expected = choosing()(f0, f1, *flows_to_time(chosen[:, :2], chosen[:, 2:], 0.5), 0.5,
                              alt_flows=alt)["frame"].clamp(0, 1)
        for ensemble in (False, True):
            out = RefinedMotion(choosing(), motion, ensemble=ensemble).estimate(f0, f1, [0.5])
            assert torch.allclose(out[:, :, 0], expected, atol=1e-4), ensemble


def test_alternate_with_a_coarse_pass_is_refused():
    with pytest.raises(OptionError, match="alternate and coarse"):
        RefinerConfig(alternate=True, coarse=4)
    with pytest.raises(OptionError, match="alt_flows"):
        Refiner(ALT)(*smooth_pair(16, 16)[:2], torch.zeros(1, 2, 16, 16), torch.zeros(1, 2, 16, 16),
                     0.5, alt_flows=torch.zeros(1, 2, 16, 16))


def test_packs_keep_the_second_flow_and_batches_transform_it_with_the_sample(tmp_path):
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.triplets import TripletWriter, filter_triplets, read_triplets

    rng = np.random.default_rng(3)
    writer = TripletWriter(tmp_path / "pack", 32)
    for i in range(6):
        frames, flows = shifted_sample(rng, d=(4.0, -1.0 - i))
        writer.add("synthetic", frames, flows, 0.3 + 0.05 * i, holdout=i == 0, alt_flows=2 * flows)
    with pytest.raises(ValueError, match="alt_flows for every sample"):
        writer.add("synthetic", frames, flows, 0.5, holdout=False)
    pack = read_triplets(writer.close())
    assert pack.alt_flows.shape == pack.flows.shape and pack.alt_flows.dtype == np.float16
    filter_triplets(tmp_path / "pack", tmp_path / "kept", lambda f: True)
    assert np.array_equal(read_triplets(tmp_path / "kept").alt_flows, pack.alt_flows)

    plain = TripletWriter(tmp_path / "plain", 32)  # a pack made before the second flow
    plain.add("synthetic", *shifted_sample(rng, d=(2.0, 2.0)), 0.5, holdout=True)
    plain.add("synthetic", *shifted_sample(rng, d=(2.0, 2.0)), 0.5, holdout=False)
    sampler = Sampler([pack, read_triplets(plain.close())], (1.0, 1.0), 32)
    batch = sampler.batch(np.random.default_rng(0), 32)
    doubled = torch.isclose(batch["alt_flows"], 2 * batch["flows"], atol=1e-2).flatten(1).all(1)
    own = [torch.equal(a, f) for a, f in zip(batch["alt_flows"], batch["flows"])]
    assert doubled.sum() + sum(own) == 32 and 0 < doubled.sum() < 32  # flips, transposes, reversal
    evals = next(sampler.eval_batches(0, 4))
    assert torch.allclose(evals["alt_flows"], 2 * evals["flows"], atol=1e-2)
    assert "alt_flows" not in Sampler([read_triplets(tmp_path / "plain")], (), 32).batch(
        np.random.default_rng(0), 2)


def test_still_scenes_carry_the_second_flow_when_asked():
    from vidiff.train.augment import still_scene

    frame = np.random.default_rng(0).integers(0, 255, (40, 48, 3)).astype(np.uint8)
    _, flows, _, _ = still_scene(frame, np.random.default_rng(1), alternate=True)
    assert flows.shape == (8, 40, 48)
    _, flows, _, _ = still_scene(frame, np.random.default_rng(1),
                                 FlowMotion(FlowMotionConfig(second_flow="none")), alternate=True)
    assert np.array_equal(flows[:4], flows[4:])


def test_training_learns_to_choose_the_flow_that_is_right(tmp_path):
    """Samples whose chosen flows are zero while the content moves 7 px, and whose alternate is
    exact: a refiner that may choose learns to take the alternate where it matters."""
    from vidiff.train.refine_loop import train_refiner
    from vidiff.train.triplets import TripletWriter

    rng = np.random.default_rng(1)
    writer = TripletWriter(tmp_path / "pack", 32)
    for i in range(40):
        frames, flows = shifted_sample(rng, d=(7.0, 0.0))
        writer.add("synthetic", frames, flows * 0, 0.5, holdout=i % 5 == 0, alt_flows=flows)
    pack = writer.close()
    config = tmp_path / "r.toml"
    config.write_text(
        "[refiner]\nchannels = [8, 16, 16]\nalternate = true\n"
        "[train]\nsteps = 200\nbatch_size = 8\ncrop = 32\nlr = 3e-3\nwarmup_steps = 10\n"
        "ema_decay = 0.9\nlog_interval = 50\nseed = 0\ncheckpoint_interval = 200\neval_interval = 200\n"
    )
    train_refiner(config, [pack], tmp_path / "run", log=lambda _: None)
    last = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["step"] == 200
    # seeds 0 and 1 gave 13.3 and 13.6 dB; without `alternate`, 0.5 and -1.3 (the correction
    # alone reaches 4 px, the motion to t is 3.5)
    assert last["eval"]["pack0"]["gain_db"] > 8.0, last


def test_the_choice_loss_moves_the_choice_to_the_flow_that_is_right():
    """Chosen flows that are wrong and an alternate that is exact: the choice loss alone pulls
    the choice's output far harder than the frame loss does, touches nothing else, and a few
    steps of it take the alternate."""
    from vidiff.train.share import choice_loss

    rng = np.random.default_rng(0)
    frames, true = shifted_sample(rng, size=48, d=(5.0, -3.0))
    img = torch.from_numpy(frames).permute(0, 3, 1, 2).float()[:, None] / 255
    f0, target, f1 = img
    alt = torch.from_numpy(true)[None]
    zero = torch.zeros(1, 2, 48, 48)
    net = Refiner(RefinerConfig(channels=(8, 8, 8), alternate=True))
    res = net(f0, f1, zero, zero, 0.5, alt_flows=alt)
    assert torch.allclose(res["by_chosen"], res["frame"]) and res["alternate"].abs().max() == 0
    choice_loss(res, target).backward()
    g_choice = net.head.weight.grad.clone()
    net.zero_grad()
    net(f0, f1, zero, zero, 0.5, alt_flows=alt)["frame"].sub(target).square().mean().backward()
    assert g_choice[8].norm() > 20 * net.head.weight.grad[8].norm()
    assert g_choice[:8].abs().max() == 0
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        choice_loss(net(f0, f1, zero, zero, 0.5, alt_flows=alt), target).backward()
        opt.step()
    with torch.no_grad():
        after = net(f0, f1, zero, zero, 0.5, alt_flows=alt)
    inner = (..., slice(8, -8), slice(8, -8))
    assert float(after["alternate"][inner].mean()) > 0.7
    assert psnr(after["frame"][inner], target[inner]) > psnr(res["frame"][inner], target[inner]) + 6


def test_choice_training_settings_are_checked(tmp_path):
    from vidiff.train.refine_loop import load_refiner_config

    config = tmp_path / "r.toml"
    for body, expect in [("[train]\nchoice_loss = 0.5\n", "needs a refiner with alternate"),
                         ("[refiner]\nalternate = true\n[train]\nchoice_loss = -1\n", "choice_loss")]:
        config.write_text(body)
        with pytest.raises(OptionError, match=expect):
            load_refiner_config(config)
    config.write_text("[refiner]\nalternate = true\n[train]\nchoice_loss = 1.0\n")
    assert load_refiner_config(config).train.choice_loss == 1.0
