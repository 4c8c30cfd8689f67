"""A predictor that sees the backtest (``RefinerConfig.history``): the input itself, the network,
the packs and batches that carry it, and the motion step that gives it from three seeds."""

import numpy as np
import pytest
import torch
from test_history import shifted, texture
from test_refiner import shifted_sample
from test_tiling import perturbed_refiner, smooth_pair

from vidiff.errors import OptionError
from vidiff.model import Refiner, RefinerConfig
from vidiff.model.refined_motion import RefinedMotion
from vidiff.model.tiling import plan_tiles
from vidiff.motion import FlowMotion, FlowMotionConfig
from vidiff.motion.history import FACTORS, backtest_choice, block_size, history_input
from vidiff.train.grow import start_from

BASE = dict(channels=(4, 8, 8), flow_gain=True, warp="bilinear", visibility=True)
HIST = RefinerConfig(**BASE, history=True)


def test_the_input_is_the_backtest_factor_and_a_flag_or_factor_one_and_no_flag():
    none = history_input(None, 40, 56, batch=2)
    assert none.shape == (2, 2, 40, 56)
    assert torch.all(none[:, 0] == 1) and torch.all(none[:, 1] == 0)
    choice = torch.tensor([[[[0, 4], [5, 2]]]])  # 2 x 2 blocks
    block = block_size(100, 100)
    seen = history_input(choice, 2 * block, 2 * block)
    assert torch.all(seen[:, 1] == 1)
    centres = seen[0, 0, block // 2 :: block, block // 2 :: block]
    expect = torch.tensor([[FACTORS[0], FACTORS[4]], [FACTORS[5], FACTORS[2]]])
    assert torch.allclose(centres, expect, atol=0.02)
    assert seen[0, 0].min() >= 0 and seen[0, 0].max() <= max(FACTORS)


def test_a_history_predictor_grown_from_one_without_computes_the_same_until_trained():
    source = perturbed_refiner(0, RefinerConfig(**BASE))
    grown = Refiner(HIST).eval()
    start_from(grown, source)
    f0, f1, _ = smooth_pair(32, 40)
    flows = torch.randn(1, 4, 32, 40)
    ft0, ft1 = -2 * flows[:, 2:], 2 * flows[:, 2:]
    args = (f0, f1, ft0, ft1, 3.0)
    before = source(*args, flows=flows)["frame"]
    for history in (None, torch.rand(1, 2, 32, 40)):
        assert torch.equal(grown(*args, flows=flows, history=history)["frame"], before)
    assert grown.config.input_groups == ("visibility", "history")
    with pytest.raises(OptionError, match="do not lead"):  # history must come last
        start_from(Refiner(RefinerConfig(**{**BASE, "visibility": False}, history=True)), source)


def test_the_history_reaches_the_frame_whole_tiled_and_in_a_window():
    from vidiff.model.tiling import Tile

    net = perturbed_refiner(1, HIST)
    f0, f1, _ = smooth_pair(64, 72)
    flows = torch.randn(1, 4, 64, 72)
    ft0, ft1 = -2 * flows[:, 2:], 2 * flows[:, 2:]
    args = (f0, f1, ft0, ft1, 3.0)
    confirmed = torch.cat([torch.rand(1, 1, 64, 72), torch.ones(1, 1, 64, 72)], 1)
    with torch.no_grad():
        plain = net(*args, flows=flows)["frame"]
        seen = net(*args, flows=flows, history=confirmed)["frame"]
        assert (plain - seen).abs().max() > 1e-4  # it is an input
        assert torch.equal(plain, net(*args, flows=flows, history=history_input(None, 64, 72))["frame"])
        plan = plan_tiles(64, 72, 40, 40, overlap=16, margin=4, multiple=net.config.factor)
        tiled = net(*args, plan=plan, flows=flows, history=confirmed)["frame"]
        assert (tiled - seen).abs().max() < 0.05
        window = Tile(0, 8, 16, 32, 32)
        part = net(*args, flows=flows, history=confirmed, window=window)["frame"]
        alone = net(*args, flows=flows, history=confirmed.clone())["frame"]
        assert part.shape == (1, 3, 32, 32) and (part - window.crop(alone)).abs().max() < 0.05
    with pytest.raises(OptionError, match="history must be"):
        net(*args, flows=flows, history=torch.ones(1, 1, 64, 72))


def test_packs_keep_the_history_and_batches_flip_it_with_the_frames(tmp_path):
    from vidiff.train.augment import augment
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.triplets import TripletWriter, filter_triplets, read_triplets

    rng = np.random.default_rng(2)
    writer = TripletWriter(tmp_path / "pack", 32)
    for i in range(6):
        frames, flows = shifted_sample(rng, d=(3.0, -1.0 - i))
        # the history's first channel is frame0's red channel: any flip must keep them together
        seen = np.stack([frames[0, :, :, 0] / 255.0, np.ones((32, 32))]).astype(np.float32)
        writer.add("s", frames, flows, 2.0 + i % 3, holdout=i == 0, history=seen)
    with pytest.raises(ValueError, match="history for every sample"):
        writer.add("s", frames, flows, 2.0, holdout=False)
    with pytest.raises(ValueError, match="history must be 2 h w"):
        writer.add("s", frames, flows, 2.0, holdout=False, history=seen[:1])
    pack = read_triplets(writer.close())
    assert pack.history.shape == (6, 2, 32, 32) and pack.history.dtype == np.float16
    filter_triplets(tmp_path / "pack", tmp_path / "kept", lambda f: True)
    assert np.array_equal(read_triplets(tmp_path / "kept").history, pack.history)

    plain = TripletWriter(tmp_path / "plain", 32)  # a pack without a backtest
    plain.add("s", *shifted_sample(rng, d=(2.0, 2.0)), 2.0, holdout=False)
    plain.add("s", *shifted_sample(rng, d=(2.0, 2.0)), 2.0, holdout=True)
    batch = Sampler([pack, read_triplets(plain.close())], (1.0, 1.0), 32).batch(
        np.random.default_rng(0), 24)
    red, flag = batch["frame0"][:, 0], batch["history"][:, 1]
    with_history = flag.flatten(1).all(1)
    assert 0 < with_history.sum() < 24
    assert torch.allclose(batch["history"][with_history, 0], red[with_history], atol=2e-3)
    assert torch.all(batch["history"][~with_history, 0] == 1) and torch.all(flag[~with_history] == 0)
    evals = next(Sampler([pack], (), 32).eval_batches(0, 4))
    assert torch.allclose(evals["history"][:, 0], evals["frame0"][:, 0], atol=2e-3)
    assert "history" not in Sampler([read_triplets(tmp_path / "plain")], (), 32).batch(
        np.random.default_rng(0), 2)

    frames, flows = shifted_sample(rng)  # the maps do not change the random draws
    a = augment(frames, flows, 2.0, np.random.default_rng(7))
    b = augment(frames, flows, 2.0, np.random.default_rng(7), np.zeros((2, 32, 32), np.float32))
    assert len(b) == 4 and all(np.array_equal(x, y) for x, y in zip(a[:2], b[:2]))


def test_still_scenes_in_a_history_batch_have_no_backtest(tmp_path):
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.triplets import TripletWriter, read_triplets

    rng = np.random.default_rng(4)
    writer = TripletWriter(tmp_path / "pack", 32)
    for i in range(3):
        frames, flows = shifted_sample(rng)
        writer.add("s", frames, flows, 3.0, holdout=i == 0, history=np.zeros((2, 32, 32)))
    batch = Sampler([read_triplets(writer.close())], (), 32, still=1.0).batch(rng, 3)
    assert torch.all(batch["history"][:, 0] == 1) and torch.all(batch["history"][:, 1] == 0)
    assert torch.all(batch["t"] == 3.0)


def test_the_motion_step_gives_a_history_predictor_the_backtest_from_three_seeds():
    base = texture()
    before, frame0, frame1 = (shifted(base, d) for d in (0.0, 0.0, 3.0))  # the motion just began
    motion = FlowMotion(FlowMotionConfig(second_flow="none"))
    net = Refiner(HIST).eval()
    seen = []
    net.register_forward_pre_hook(lambda m, a, kw: seen.append(kw["history"]), with_kwargs=True)
    refined = RefinedMotion(None, motion, predictor=net)
    refined.estimate(frame0, frame1, [3.0], before=before)
    refined.estimate(frame0, frame1, [3.0])
    with_before, without = seen
    choice = backtest_choice(frame0, frame1, motion.full_flows(frame0, before)[:, :2])
    assert torch.equal(with_before, history_input(choice, *base.shape[-2:]))
    assert with_before[0, 0, 20:76, 20:108].max() < 0.1  # frame1 was not frame0 carried on
    assert torch.all(without[:, 0] == 1) and torch.all(without[:, 1] == 0)
    refined = RefinedMotion(None, FlowMotion(FlowMotionConfig(second_flow="none", backtest=False)),
                            predictor=net)
    refined.estimate(frame0, frame1, [3.0], before=before)  # backtest off: no history either
    assert torch.all(seen[-1][:, 1] == 0)
