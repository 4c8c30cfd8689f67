"""The predictor (the refiner trained past the last known frame, for ``vidiff generate``): where it
serves, how it is stored and found, and the prediction packs it trains on."""

import cv2
import numpy as np
import pytest
import torch
from media import pattern_frame

from vidiff.errors import OptionError
from vidiff.model import (
    RefinedMotion,
    Refiner,
    RefinerConfig,
    load_refiner,
    read_parts,
    save_weights,
)
from vidiff.motion import FlowMotion


def frames_pair(h=40, w=56, shift=(2.0, 1.0)):
    to = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    return to(pattern_frame(0, (w, h), shift)), to(pattern_frame(1, (w, h), shift))


def red_net(amount=0.2) -> Refiner:
    """A tiny network whose only output is ``+amount`` on the red channel, everywhere."""
    net = Refiner(RefinerConfig.tiny())
    with torch.no_grad():
        net.head.bias[5] = amount / net.config.residual_scale
    return net


def test_an_untrained_predictor_is_the_extrapolation():
    f0, f1 = frames_pair()
    motion = FlowMotion()
    # a predictor warps as the motion step does past the pair (FlowMotionConfig.warp_ahead)
    ahead = RefinerConfig(channels=(4, 8, 8), warp=motion.config.warp_ahead)
    refined = RefinedMotion(None, motion, predictor=Refiner(ahead))
    times = [0.5, 2.0, 3.0, 5.0]
    plain = motion.estimate(f0, f1, times)
    out = refined.estimate(f0, f1, times)
    assert torch.equal(out[:, :, 0], plain[:, :, 0])  # no refiner: interpolation is plain
    # past frame1 the blend starts at frame1's side: frame0's warp weighs 1e-3
    assert (out - plain).abs().max() < 2e-3


def test_the_predictor_serves_only_times_past_frame1():
    f0, f1 = frames_pair()
    motion = FlowMotion()
    refined = RefinedMotion(Refiner(RefinerConfig.tiny()), motion, predictor=red_net())
    times = [0.5, 2.0, 4.0, -1.0]
    plain = motion.estimate(f0, f1, times)
    out = refined.estimate(f0, f1, times)
    diff = (out - plain)[0].mean(dim=(2, 3))  # channel x time
    assert diff[:, 0].abs().max() < 2e-3 and diff[:, 3].abs().max() < 1e-6
    for j in (1, 2):
        assert diff[0, j] > 0.1 and diff[1:, j].abs().max() < 2e-3
    assert torch.equal(refined.estimate(f0, f1, [1.0])[:, :, 0], f1)


def test_the_predictor_sees_how_far_ahead_it_is():
    """The time channel carries t past frame1 (inside (0, 1) it is the blend share, as before)."""
    net = Refiner(RefinerConfig.tiny())
    torch.nn.init.normal_(net.head.weight, std=0.5)
    f = torch.rand(1, 3, 16, 16)
    zero = torch.zeros(1, 2, 16, 16)
    a, b = (net(f, f, zero, zero, t)["frame"] for t in (2.0, 4.0))
    assert not torch.allclose(a, b)


def test_weights_hold_a_predictor_and_generate_finds_it(tmp_path):
    from vidiff.pipelines.weights import resolve_model

    refiner, predictor = Refiner(RefinerConfig.tiny()), red_net(0.3)
    path = save_weights(tmp_path / "w.safetensors", None, {"step": "1"}, refiner=refiner,
                        predictor=predictor, half=True)
    assert read_parts(path) == ("refiner", "predictor")
    loaded = load_refiner(path, part="predictor")
    assert torch.allclose(loaded.head.bias, predictor.head.bias, atol=1e-3)
    assert torch.equal(load_refiner(path).head.bias, refiner.head.bias)  # zero: exact in fp16
    model = resolve_model(None, path, torch.device("cpu"))
    assert model.predictor is not None and "predictor" in model.description
    motion = model.motion()
    f0, f1 = frames_pair()
    out = motion.estimate(f0, f1, [2.0])
    plain = FlowMotion().estimate(f0, f1, [2.0])
    assert float((out - plain)[0, 0].mean()) > 0.2
    assert resolve_model(None, path, torch.device("cpu"), refine=False).predictor is None
    only = save_weights(tmp_path / "p.safetensors", None, predictor=predictor)
    assert read_parts(only) == ("predictor",)
    assert isinstance(resolve_model(None, only, torch.device("cpu")).motion(), RefinedMotion)


def test_a_prediction_sample_is_never_reversed():
    from vidiff.train.augment import augment

    frames = np.random.default_rng(0).integers(0, 255, (3, 16, 16, 3), dtype=np.uint8)
    flows = np.zeros((4, 16, 16), np.float32)
    seen = set()
    for seed in range(16):
        _, _, t = augment(frames, flows, 3.0, np.random.default_rng(seed))
        assert t == 3.0
        seen.add(augment(frames, flows, 0.25, np.random.default_rng(seed))[2])
    assert seen == {0.25, 0.75}  # interpolation samples still are, half the time


def numbered_frames(folder, count, size=(64, 48)):
    """Frames whose brightness tells their index (frame i: 40 + 4 i on a fixed texture)."""
    folder.mkdir()
    texture = (np.indices((size[1], size[0])).sum(0) % 7 * 3).astype(np.int16)[..., None]
    for i in range(count):
        image = np.clip(texture + 40 + 4 * i, 0, 255).astype(np.uint8).repeat(3, axis=2)
        cv2.imwrite(str(folder / f"{i:04d}.png"), image)
    return folder


def test_prediction_packs_pair_consecutive_frames_with_targets_ahead(tmp_path):
    from vidiff.train.predict_pack import make_prediction_pack
    from vidiff.train.triplets import read_triplets

    src = numbered_frames(tmp_path / "clip", 30)
    out = make_prediction_pack([src], tmp_path / "pack", crop=32, chunk=30, stride=2,
                               exclude_bench=False, log=lambda s: None)
    pack = read_triplets(out)
    assert len(pack) == 2 * (13 * 4 + 2)  # pairs 0, 2, .., 24 (k = 2..5) and 26 (k = 2, 3)
    assert set(np.unique(pack.times)) == {2.0, 3.0, 4.0, 5.0}
    for i in range(len(pack)):
        a, target, b = (np.asarray(f, dtype=float).mean() for f in pack.frames[i])
        assert round((b - a) / 4) == 1  # consecutive seeds
        assert round((target - a) / 4) == pack.times[i]  # the target k frames after the first


def test_prediction_packs_take_a_pair_every_stride_frames(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from vidiff.train.predict_pack import make_prediction_pack
    from vidiff.train.triplets import read_triplets

    src = numbered_frames(tmp_path / "clip", 12)
    pack = read_triplets(make_prediction_pack([src], tmp_path / "pack", crop=32, chunk=12,
                                              stride=1, exclude_bench=False, log=lambda s: None))
    levels = [float(np.asarray(f[0], dtype=float).mean()) for f in pack.frames]
    firsts = sorted({round((v - min(levels)) / 4) for v in levels})  # 4 levels brighter a frame
    assert firsts == list(range(10))  # pairs (0, 1) .. (9, 10): a target 2 after 9 is frame 11
    assert len(pack) == 2 * (7 * 4 + 3 + 2 + 1)
    for bad in ({"stride": 0}, {"chunk": 1}, {"horizon": (1, 2)}, {"horizon": ()}):
        with pytest.raises(OptionError):
            make_prediction_pack([src], tmp_path / "bad", exclude_bench=False, **bad)
    assert not (tmp_path / "bad").exists()
    tool = Path(__file__).resolve().parents[1] / "tools" / "make_triplets.py"
    run = subprocess.run([sys.executable, str(tool), "predict", str(src), "--out",
                          str(tmp_path / "cli"), "--stride", "0"], capture_output=True, text=True)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert "stride 0" in run.stderr.strip().splitlines()[-1]


def test_prediction_packs_keep_out_the_bench_windows(tmp_path):
    from vidiff.train.predict_pack import add_prediction_samples, bench_windows
    from vidiff.train.triplets import TripletWriter, read_triplets

    assert bench_windows(300) == [(0, 30), (139, 177), (286, 324)]
    assert bench_windows(5) == []
    frames = [np.full((40, 40, 3), 40 + 4 * i, np.uint8) for i in range(30)]
    writer = TripletWriter(tmp_path / "pack", 32)
    added = add_prediction_samples(writer, FlowMotion(), frames, 100, "x", False, (2, 3, 4, 5),
                                   1, 32, np.random.default_rng(0),
                                   excluded=lambda i: 110 <= i < 115)
    assert added == len(writer) > 0
    pack = read_triplets(writer.close())
    for sample, t in zip(pack.frames, pack.times, strict=True):
        first = round((sample[0].mean() - 40) / 4)
        used = set(range(100 + first, 100 + first + int(t) + 1))
        assert not used & set(range(110, 115))


@pytest.mark.parametrize("name", ["predictor.toml"])
def test_the_predictor_config_loads(name):
    from pathlib import Path

    from vidiff.train.refine_loop import load_refiner_config

    run = load_refiner_config(Path(__file__).resolve().parents[1] / "configs" / name)
    assert run.model == RefinerConfig(flow_gain=True, warp="bilinear", visibility=True,
                                      history=True)
    assert run.train.loss == "log_mse"


def test_log_mse_is_minus_the_mean_per_sample_psnr():
    from vidiff.train.refine_loop import log_mse

    target = torch.zeros(2, 3, 8, 8)
    guess = torch.stack([torch.full((3, 8, 8), 0.01), torch.full((3, 8, 8), 0.1)])
    psnr = torch.tensor([40.0, 20.0])
    expected = (-psnr / 10 * np.log(10)).mean()
    assert torch.allclose(log_mse(guess, target, floor=0.0), expected, atol=1e-4)
    guess.requires_grad_(True)
    log_mse(guess, target).backward()
    easy, hard = guess.grad[0].abs().mean(), guess.grad[1].abs().mean()
    assert easy > 5 * hard  # a sample's weight is 1 / its own error


def test_log_mse_floor_sets_how_far_past_it_a_still_sample_is_pulled(tmp_path):
    from vidiff.train.refine_loop import load_refiner_config, refiner_loss

    target = torch.zeros(1, 3, 8, 8)
    res = {"frame": torch.full((1, 3, 8, 8), 1e-4, requires_grad=True)}  # 80 dB
    grads = []
    for floor in (1e-6, 1e-9):
        res["frame"].grad = None
        refiner_loss(res, target, kind="log_mse", floor=floor).backward()
        grads.append(float(res["frame"].grad.abs().mean()))
    assert grads[1] > 50 * grads[0]  # under a 60 dB floor an 80 dB sample barely pulls
    config = tmp_path / "c.toml"
    config.write_text('[train]\nloss = "log_mse"\nloss_floor = 1e-8\n')
    assert load_refiner_config(config).train.loss_floor == 1e-8
    for bad in ("0", "-1e-6", "2", '"small"'):
        config.write_text(f"[train]\nloss_floor = {bad}\n")
        with pytest.raises(OptionError, match="loss_floor"):
            load_refiner_config(config)


def test_training_evaluation_reports_the_gain_over_repeating_the_last_frame(tmp_path):
    from vidiff.train.predict_pack import make_prediction_pack
    from vidiff.train.refine_loop import evaluate_packs
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.triplets import read_triplets

    src = numbered_frames(tmp_path / "clip", 30)
    pack = read_triplets(make_prediction_pack([src], tmp_path / "pack", crop=32, chunk=10,
                                              holdout_every=2, exclude_bench=False,
                                              log=lambda s: None))
    assert 0 < pack.holdout.sum() < len(pack)
    report = evaluate_packs(Refiner(RefinerConfig.tiny()), Sampler([pack], (), 32), 100)["pack0"]
    assert abs(report["gain_db"]) < 0.05  # an untrained network is the motion estimate
    # the frames brighten by 4 levels a frame, so holding frame1 misses by 4 (t - 1) levels,
    # which the motion estimate (no motion in the texture) misses by just as much
    assert abs(report["gain_over_repeat_db"]) < 0.05
    assert 0 < report["ssim_mu"] <= 1 and abs(report["ssim_model"] - report["ssim_mu"]) < 0.01


def test_a_flow_gain_head_starts_as_the_network_it_grew_from():
    from vidiff.train.grow import start_from

    plain = Refiner(RefinerConfig.tiny())
    torch.nn.init.normal_(plain.head.weight, std=0.1)
    grown = Refiner(RefinerConfig(channels=(4, 8, 8), flow_gain=True))
    assert grown.head.out_channels == plain.head.out_channels + 2
    start_from(grown, plain)
    f0, f1 = frames_pair()
    flow = torch.randn(1, 2, 40, 56)
    a, b = (net(f0, f1, flow, -flow, 2.0)["frame"] for net in (plain, grown))
    assert torch.allclose(a, b, atol=1e-6)
    with torch.no_grad():  # a very negative gain output stops side 1's motion entirely
        grown.head.bias[9] = -30.0
        grown.head.weight.zero_()
        grown.head.bias[:9] = torch.tensor([0, 0, 0, 0, -30.0, 0, 0, 0, 0])
    held = grown(f0, f1, flow, -flow, 2.0)
    assert torch.allclose(held["frame"], f1, atol=1e-4)  # frame1 repeated
    assert RefinerConfig.from_dict(RefinerConfig().to_dict()) == RefinerConfig()


class Capture:
    """Stands in for a TripletWriter: keeps each sample's flows and time (and its history)."""

    def __init__(self):
        self.samples, self.history = [], []

    def add(self, source, frames, flows, t, holdout, history=None):
        self.samples.append((np.array(flows, np.float32), t))
        self.history.append(history)


def test_backtest_packs_damp_the_flow_of_a_pair_whose_motion_just_began(tmp_path):
    from vidiff.motion.history import FACTORS, TABLE
    from vidiff.train.predict_pack import add_prediction_samples

    rng = np.random.default_rng(0)
    texture = cv2.resize(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), (96, 48),
                         interpolation=cv2.INTER_CUBIC)
    # held for frames 0-3, then 3 px a frame to the left
    frames = [np.ascontiguousarray(texture[:, 3 * max(0, i - 3):][:, :48]) for i in range(10)]
    motion = FlowMotion()
    made, history = {}, {}
    for backtest in (False, True):
        writer = Capture()
        add_prediction_samples(writer, motion, frames, 0, "clip", False, (2, 3), 1, 48,
                               np.random.default_rng(0), backtest=backtest)
        made[backtest], history[backtest] = writer.samples, writer.history
    assert all(h is None for h in history[False])
    assert len(made[True]) == len(made[False])
    pairs = [a for a in range(len(frames) - 1) for k in (2, 3) if a + k < len(frames)]
    assert len(made[True]) == len(pairs)  # one crop per target: the crop is the whole frame
    for a, (plain, t), (damped, t2), seen in zip(pairs, made[False], made[True], history[True]):
        assert t == t2
        # the history input: the backtest's factor and 1, or 1 and 0 for the run's first pair
        assert seen.shape == (2, 48, 48)
        if a == 0:
            assert np.all(seen[0] == 1) and np.all(seen[1] == 0)
        else:
            assert np.all(seen[1] == 1)
        if a == 3:
            assert np.abs(seen[0, :, 8:40]).max() < 0.1  # it saw the motion begin: factor 0
        elif a >= 5:
            assert np.allclose(seen[0, :, 8:40], 1.0, atol=0.1)
        assert np.array_equal(plain[:2], damped[:2])  # the flow 0->1 is never touched
        speed = np.abs(plain[2:, :, 8:40]).mean()
        if a == 3:  # the first moving pair, after a held frame: the backtest says stop
            expect = TABLE[int(t) - 2][FACTORS.index(0.0)]
            assert speed > 1 and abs(np.abs(damped[2:, :, 8:40]).mean() - expect * speed) < 0.1 * speed
        elif a >= 5:  # the motion went on: the flow as it is
            expect = TABLE[int(t) - 2][FACTORS.index(1.0)]
            assert np.allclose(damped[2:], expect * plain[2:], atol=0.05 * speed + 1e-3)
