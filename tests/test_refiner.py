"""The refiner (learned mean): graceful start, what its outputs mean, weights, and that it learns."""

import numpy as np
import pytest
import torch
from media import pattern_frame

from vidiff.errors import OptionError, WeightsError
from vidiff.model import (
    Denoiser,
    ModelConfig,
    RefinedMotion,
    Refiner,
    RefinerConfig,
    load_refiner,
    load_weights,
    read_parts,
    save_weights,
)
from vidiff.model.refiner import without_outputs
from vidiff.motion import FlowMotion, backward_warp, flows_to_time


def frames_pair(h=40, w=56, shift=(2.0, 1.0)):
    f0 = pattern_frame(0, (w, h), shift)
    f1 = pattern_frame(2, (w, h), shift)
    to = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    return to(f0), to(f1)


def test_untrained_refiner_is_the_motion_estimate():
    f0, f1 = frames_pair()
    motion = FlowMotion()
    refined = RefinedMotion(Refiner(RefinerConfig.tiny()), motion)
    times = [0.0, 0.3, 0.5, 1.0, 1.5, -0.5]
    a = motion.estimate(f0, f1, times)
    b = refined.estimate(f0, f1, times)
    assert b.shape == a.shape == (1, 3, len(times), 40, 56)
    assert torch.equal(b[:, :, 0], f0) and torch.equal(b[:, :, 3], f1)
    assert (b - a).abs().max() < 2e-3  # same warps (OpenCV remap both ways)


@pytest.mark.parametrize("size", [(23, 37), (8, 8), (65, 17)])
def test_any_frame_size(size):
    refiner = Refiner(RefinerConfig.tiny())
    torch.nn.init.normal_(refiner.head.weight, std=0.1)
    f = torch.rand(2, 3, *size)
    flow = torch.randn(2, 2, *size)
    out = refiner(f, f, flow, flow, torch.tensor([0.25, 0.5]))
    assert out["frame"].shape == (2, 3, *size) and torch.isfinite(out["frame"]).all()


def test_outputs_mean_what_they_say():
    """Head bias only: a flow correction of (+1, -2) px on side 0, side 0 weighted fully."""
    cfg = RefinerConfig.tiny()
    refiner = Refiner(cfg)
    with torch.no_grad():
        refiner.head.bias[0] = 1.0 / cfg.flow_correction
        refiner.head.bias[1] = -2.0 / cfg.flow_correction
        refiner.head.bias[4] = 30.0  # blend logit: weight0 ~ 1
        refiner.head.bias[5] = 0.2 / cfg.residual_scale  # +0.2 on red
    f0, f1 = frames_pair()
    flow = torch.zeros(1, 2, 40, 56)
    out = refiner(f0, f1, flow, flow, 0.5)
    expected = backward_warp(f0, torch.tensor([1.0, -2.0]).view(1, 2, 1, 1).expand(1, 2, 40, 56))
    expected[:, 0] += 0.2
    assert torch.allclose(out["frame"], expected, atol=1e-4)
    assert torch.allclose(out["mu"], (f0 + f1) / 2, atol=1e-6)


def test_each_output_group_lies_where_the_config_says():
    cfg = RefinerConfig(channels=(4, 8, 8), flow_gain=True, fallback=True, alternate=True)
    slices = cfg.output_slices
    assert list(slices) == ["correction", "blend", "residual", "gain", "fallback", "alternate"]
    covered = sorted(i for sl in slices.values() for i in range(cfg.out_channels)[sl])
    assert covered == list(range(cfg.out_channels))  # every channel in exactly one group
    assert list(RefinerConfig.tiny().output_slices) == ["correction", "blend", "residual"]
    torch.manual_seed(0)
    refiner = Refiner(cfg)
    torch.nn.init.normal_(refiner.head.weight, std=0.3)
    torch.nn.init.normal_(refiner.head.bias, std=0.3)
    f0, f1 = frames_pair()
    flows, alt = torch.randn(1, 4, 40, 56), torch.randn(1, 4, 40, 56)
    ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.5)
    full = refiner(f0, f1, ft0, ft1, 0.5, alt_flows=alt)
    assert not torch.allclose(full["frame"], full["mu"], atol=1e-3)
    none = without_outputs(refiner, slices)(f0, f1, ft0, ft1, 0.5, alt_flows=alt)
    assert torch.allclose(none["frame"], none["mu"], atol=1e-5)  # all off: the motion estimate
    no_share = without_outputs(refiner, ["fallback"])(f0, f1, ft0, ft1, 0.5, alt_flows=alt)
    assert torch.allclose(no_share["frame"], full["unmixed"], atol=1e-6)
    no_residual = without_outputs(refiner, ["residual"])(f0, f1, ft0, ft1, 0.5, alt_flows=alt)
    assert no_residual["residual"].abs().max() == 0
    with pytest.raises(OptionError, match="no output 'gain'"):
        without_outputs(Refiner(RefinerConfig.tiny()), ["gain"])


def test_a_refiner_without_colour_residual_draws_none_and_negative_scales_are_refused():
    refiner = Refiner(RefinerConfig(channels=(4, 8, 8), residual_scale=0.0))
    with torch.no_grad():
        refiner.head.bias[5:8] = 5.0  # would be +0.5 on every channel with the default scale
    f0, f1 = frames_pair()
    out = refiner(f0, f1, torch.zeros(1, 2, 40, 56), torch.zeros(1, 2, 40, 56), 0.5)
    assert out["residual"].abs().max() == 0
    assert torch.allclose(out["frame"], out["mu"], atol=1e-6)
    with pytest.raises(OptionError, match="residual_scale must be 0"):
        RefinerConfig(residual_scale=-0.1)


def test_weights_hold_parts(tmp_path):
    refiner = Refiner(RefinerConfig.tiny())
    torch.nn.init.normal_(refiner.head.weight, std=0.1)
    denoiser = Denoiser(ModelConfig.tiny())
    only = save_weights(tmp_path / "r.safetensors", None, {"step": 5}, refiner=refiner, half=True)
    both = save_weights(tmp_path / "b.safetensors", denoiser, refiner=refiner)
    assert read_parts(only) == ("refiner",) and set(read_parts(both)) == {"refiner", "denoiser"}
    loaded = load_refiner(only)
    assert loaded.config == refiner.config
    assert torch.allclose(loaded.head.weight, refiner.head.weight, atol=1e-3)
    with pytest.raises(WeightsError, match="holds no diffusion model"):
        load_weights(only)
    assert load_weights(both).config == denoiser.config
    with pytest.raises(WeightsError, match="holds no refiner"):
        load_refiner(save_weights(tmp_path / "d.safetensors", denoiser))


def test_weights_saved_before_bicubic_warps_keep_the_bilinear_warps_they_learned_with(tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    refiner = Refiner(RefinerConfig.tiny())
    assert refiner.config.warp == "bicubic"  # today's default, as the motion step
    path = save_weights(tmp_path / "new.safetensors", None, {}, refiner=refiner)
    assert load_refiner(path).config.warp == "bicubic"
    with safe_open(path, "pt") as f:  # the same file as written before the key existed
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta["refiner_config"])
    del config["warp"]
    meta["refiner_config"] = json.dumps(config)
    save_file(tensors, tmp_path / "old.safetensors", metadata=meta)
    assert load_refiner(tmp_path / "old.safetensors").config.warp == "bilinear"


def test_refined_motion_accepts_any_batch():
    f0, f1 = frames_pair()
    refined = RefinedMotion(Refiner(RefinerConfig.tiny()))
    out = refined.estimate(torch.cat([f0, f1]), torch.cat([f1, f0]), [0.5, 0.5, 0.25])
    assert out.shape == (2, 3, 3, 40, 56)
    assert torch.equal(out[:, :, 0], out[:, :, 1])


def test_flows_to_time_per_pair_matches_a_single_time():
    flows = torch.randn(3, 4, 5, 6)
    t = torch.tensor([0.2, 0.5, 0.9])
    a0, a1 = flows_to_time(flows[:, :2], flows[:, 2:], t)
    for i, ti in enumerate(t.tolist()):
        b0, b1 = flows_to_time(flows[i : i + 1, :2], flows[i : i + 1, 2:], ti)
        assert torch.allclose(a0[i], b0[0], atol=1e-6) and torch.allclose(a1[i], b1[0], atol=1e-6)


def shifted_sample(rng, size=32, d=(3.0, -2.0), t=0.5):
    """A triplet of a smooth random texture moving by ``-d`` px per interval, with its exact
    flows: so any augmentation must keep mu exact."""
    base = rng.random((size + 16, size + 16, 3)).astype(np.float32)
    import cv2

    base = cv2.GaussianBlur(base, (0, 0), 2.0)
    frames = []
    for tau in (0.0, t, 1.0):
        m = np.float32([[1, 0, 8 + tau * d[0]], [0, 1, 8 + tau * d[1]]])
        frames.append(cv2.warpAffine(base, m, (size, size), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP))
    frames = np.stack(frames)
    flows = np.zeros((4, size, size), np.float32)
    # frame_tau(p) = base(p + tau d): frame0(x) = frame1(x - d), so F_0->1 = -d and F_1->0 = +d
    flows[0], flows[1], flows[2], flows[3] = -d[0], -d[1], d[0], d[1]
    return (frames * 255).round().clip(0, 255).astype(np.uint8), flows


def test_augmentations_keep_samples_valid():
    from vidiff.train.augment import augment
    from vidiff.train.triplets import to_tensors

    rng = np.random.default_rng(0)
    frames, flows = shifted_sample(rng, t=0.3)
    for seed in range(12):
        fr, fl, t = augment(frames, flows, 0.3, np.random.default_rng(seed))
        batch = to_tensors(fr[None], fl[None], np.array([t]))
        mu = Refiner(RefinerConfig.tiny())(batch["frame0"], batch["frame1"], batch["flow_t0"],
                                           batch["flow_t1"], batch["t"])["mu"]
        inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
        err = (mu - batch["target"])[inner].abs().mean()
        assert err < 0.01, (seed, float(err))


def test_training_learns_what_the_flow_missed(tmp_path):
    """Samples whose stored flows are zero while the content moves: the refiner must learn to
    move it (PSNR gain over mu on held-out samples)."""
    from vidiff.train.refine_loop import train_refiner
    from vidiff.train.triplets import TripletWriter, read_triplets

    rng = np.random.default_rng(1)
    writer = TripletWriter(tmp_path / "pack", 32)
    for i in range(60):
        frames, flows = shifted_sample(rng, d=(2.0, 0.0))
        writer.add("synthetic", frames, flows * 0, 0.5, holdout=i % 5 == 0)
    pack = writer.close()
    assert len(read_triplets(pack)) == 60
    config = tmp_path / "r.toml"
    config.write_text(
        "[refiner]\nchannels = [8, 16, 16]\n"
        "[train]\nsteps = 500\nbatch_size = 8\ncrop = 32\nlr = 3e-3\nwarmup_steps = 10\n"
        "ema_decay = 0.9\nlog_interval = 50\nseed = 0\ncheckpoint_interval = 100\neval_interval = 500\n"
    )
    weights = train_refiner(config, [pack], tmp_path / "run", log=lambda _: None)
    import json

    last = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["step"] == 500
    # seeds 0, 3, 5 gave 2.9, 1.0, 2.6 dB here (and 0.2, -0.03, 1.5 at 250 steps: too few)
    assert last["eval"]["pack0"]["gain_db"] > 0.5, last
    assert read_parts(weights) == ("refiner",)


def test_retiming_finds_where_the_target_sits_and_workers_change_nothing(tmp_path):
    """Targets rendered at t = 0.3 or 0.7 but stored as 0.5: the re-timed pack holds the true
    times, and two worker processes give exactly what one does."""
    from vidiff.train.retime import retime_triplets
    from vidiff.train.triplets import TripletWriter, read_triplets

    rng = np.random.default_rng(2)
    writer = TripletWriter(tmp_path / "pack", 32)
    truth = [0.3, 0.7, 0.3, 0.7, 0.3]
    for i, t in enumerate(truth):
        frames, flows = shifted_sample(rng, d=(6.0, -4.0), t=t)
        writer.add("synthetic", frames, flows, 0.5, holdout=i == 0)
    pack = writer.close()
    one = retime_triplets(pack, tmp_path / "one", log=lambda _: None)
    two = retime_triplets(pack, tmp_path / "two", log=lambda _: None, workers=2)
    assert one == two
    times = read_triplets(tmp_path / "two").times
    assert np.array_equal(read_triplets(tmp_path / "one").times, times)
    assert np.allclose(times, truth, atol=0.03), times
    assert np.allclose(read_triplets(pack).times, 0.5)  # the source pack is untouched


def test_synthetic_scenes_are_exact_and_varied(tmp_path):
    """Rendered scenes are deterministic per seed; a pack of them has motion in every sample,
    times inside (0, 1) and every tenth sample held out."""
    import cv2

    from vidiff.train.synthetic import load_photos, make_photo_triplets, render_scene
    from vidiff.train.triplets import read_triplets

    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        image = cv2.GaussianBlur((rng.random((300, 400, 3)) * 255).astype(np.uint8), (0, 0), 1.5)
        cv2.imwrite(str(folder / f"p{i}.png"), image)
    photos = load_photos([folder])
    assert len(photos) == 3
    a, _ = render_scene(photos, np.random.default_rng(5), 64, 0.5)
    b, _ = render_scene(photos, np.random.default_rng(5), 64, 0.5)
    assert np.array_equal(a, b) and a.shape == (3, 64, 64, 3)
    pack = make_photo_triplets([folder], tmp_path / "pack", samples=20, crop=64,
                               log=lambda _: None)
    data = read_triplets(pack)
    assert len(data) == 20 and data.holdout.sum() == 2
    assert all(np.abs(f[0].astype(int) - f[2].astype(int)).mean() >= 1.0 for f in data.frames)
    assert ((data.times > 0) & (data.times < 1)).all()


def test_degradations_damage_without_moving():
    """Video-like damage keeps shape, dtype and geometry (so the stored flows stay valid)."""
    from vidiff.train.augment import degrade

    rng = np.random.default_rng(3)
    frames, _ = shifted_sample(rng, size=48)
    changed = 0
    for seed in range(10):
        out = degrade(frames, np.random.default_rng(seed))
        assert out.shape == frames.shape and out.dtype == np.uint8
        diff = np.abs(out.astype(int) - frames.astype(int))
        changed += diff.mean() > 0.5
        # still the same picture, not shifted: closer to itself than to the next frame
        assert diff[1].mean() < np.abs(out[1].astype(int) - frames[2].astype(int)).mean()
    assert changed >= 5


def test_video_codec_damage_keeps_the_frames_in_place():
    """An MPEG-4 round trip damages each frame, more at a coarser quantiser, without moving or
    reordering them; degrade() uses it only when asked."""
    from vidiff.train.augment import degrade, video_codec

    frames, _ = shifted_sample(np.random.default_rng(3), size=48)
    errors = []
    for quantiser in (2, 12):
        out = video_codec(frames, quantiser)
        assert out.shape == frames.shape and out.dtype == np.uint8
        diff = np.abs(out.astype(int) - frames.astype(int)).mean(axis=(1, 2, 3))
        assert (diff > 0.1).all()
        for i in range(3):  # each output is its own frame, not a neighbour
            others = [np.abs(out[i].astype(int) - frames[j].astype(int)).mean() for j in range(3)]
            assert int(np.argmin(others)) == i
        errors.append(diff.mean())
    assert errors[1] > errors[0]
    plain = [degrade(frames, np.random.default_rng(seed)) for seed in range(12)]
    assert all(np.array_equal(a, degrade(frames, np.random.default_rng(seed), 0.0))
               for seed, a in enumerate(plain))
    coded = [degrade(frames, np.random.default_rng(seed), 1.0) for seed in range(12)]
    assert sum(not np.array_equal(a, b) for a, b in zip(plain, coded)) >= 3


def test_codec_share_is_validated(tmp_path):
    from vidiff.train.refine_loop import load_refiner_config

    path = tmp_path / "c.toml"
    path.write_text("[train]\ncodec = 0.5\n")
    assert load_refiner_config(path).train.codec == 0.5
    path.write_text("[train]\ncodec = 2.0\n")
    with pytest.raises(OptionError, match="codec"):
        load_refiner_config(path)


def test_mirrored_ensemble_of_an_untrained_refiner_is_the_estimate():
    f0, f1 = frames_pair()
    motion = FlowMotion()
    plain = motion.estimate(f0, f1, [0.5])
    ensemble = RefinedMotion(Refiner(RefinerConfig.tiny()), motion, ensemble=True)
    assert (ensemble.estimate(f0, f1, [0.5]) - plain).abs().max() < 2e-3


class GradientMotion(FlowMotion):
    """Flows that every symmetry of the pair maps exactly: each side's flow is its frame's own
    (central-difference) brightness gradient, so a mirrored pair's flows are the mirrored flows
    with dx negated, and a swapped pair's are the two swapped."""

    def full_flows(self, frame0, frame1):
        def grad(f):
            g = f.mean(1, keepdim=True)
            gx = torch.nn.functional.pad(g[..., 2:] - g[..., :-2], (1, 1))
            gy = torch.nn.functional.pad(g[..., 2:, :] - g[..., :-2, :], (0, 0, 1, 1))
            return 20 * torch.cat([gx, gy], 1)

        return torch.cat([grad(frame0), grad(frame1)], 1)


@pytest.mark.parametrize("symmetries", [("mirror",), ("flip",), ("reverse",),
                                        ("mirror", "flip", "reverse")])
def test_an_ensemble_over_symmetries_is_equivariant_to_them(symmetries):
    f0, f1 = frames_pair()
    net = Refiner(RefinerConfig.tiny())
    torch.manual_seed(3)
    with torch.no_grad():  # a refiner that corrects, so that a wrong undoing would show
        for param in net.parameters():
            param.add_(0.05 * torch.randn_like(param))
    motion = GradientMotion()
    est = RefinedMotion(net, motion, ensemble=symmetries)
    plain = RefinedMotion(net, motion)
    out = est.estimate(f0, f1, [0.3])[:, :, 0]
    assert (out - plain.estimate(f0, f1, [0.3])[:, :, 0]).abs().max() > 1e-3
    if "mirror" in symmetries:
        mirrored = est.estimate(f0.flip(-1), f1.flip(-1), [0.3])[:, :, 0].flip(-1)
        assert torch.allclose(mirrored, out, atol=1e-5)
    if "flip" in symmetries:
        flipped = est.estimate(f0.flip(-2), f1.flip(-2), [0.3])[:, :, 0].flip(-2)
        assert torch.allclose(flipped, out, atol=1e-5)
    if "reverse" in symmetries:
        assert torch.allclose(est.estimate(f1, f0, [0.7])[:, :, 0], out, atol=1e-5)
    with pytest.raises(OptionError, match="unknown 'rotate'"):
        RefinedMotion(net, motion, ensemble=("rotate",))


def test_held_targets_are_recognised():
    from vidiff.train.triplets import is_hold

    rng = np.random.default_rng(2)
    frames, _ = shifted_sample(rng, d=(4.0, 0.0))
    assert not is_hold(*frames)
    assert is_hold(frames[0], frames[0], frames[2])  # the target is the first input, held
    assert is_hold(frames[0], frames[2], frames[2])


def test_shipped_refiner_configs_load_and_bad_keys_are_named(tmp_path):
    from pathlib import Path

    from vidiff.errors import OptionError
    from vidiff.train.refine_loop import load_refiner_config

    configs = Path(__file__).resolve().parents[1] / "configs"
    for name in ("refiner.toml", "refiner-finetune.toml"):
        run = load_refiner_config(configs / name)
        assert run.model == RefinerConfig() and run.train.batch_size == 8
    shipped = load_refiner_config(configs / "refiner-still.toml")  # the recipe of what ships
    assert shipped.model == RefinerConfig(flow_gain=True, fallback=True, summary=True)
    assert shipped.train.loss == "log_mse" and shipped.train.share_loss == 1.0
    assert shipped.train.share_per_sample and shipped.train.share_window == 8
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nlearning_rate = 1\n")
    with pytest.raises(OptionError, match="learning_rate"):
        load_refiner_config(bad)
    bad.write_text('[train]\nloss = "l3"\n')
    with pytest.raises(OptionError, match="loss must be one of charbonnier, mse"):
        load_refiner_config(bad)
    good = tmp_path / "good.toml"
    good.write_text('[train]\nloss = "mse"\nno_harm = 0.5\n')
    assert load_refiner_config(good).train.loss == "mse"


def test_refiner_lr_decays_by_cosine_after_warm_up_and_bad_schedules_are_named(tmp_path):
    from vidiff.errors import OptionError
    from vidiff.train.refine_loop import RefinerTrain, load_refiner_config
    from vidiff.train.schedules import lr_at

    cfg = tmp_path / "decay.toml"
    cfg.write_text("[train]\nlr = 1e-3\nwarmup_steps = 10\nlr_decay_steps = 110\n"
                   "min_lr_ratio = 0.1\n")
    tc = load_refiner_config(cfg).train
    assert lr_at(4, tc) == pytest.approx(5e-4)  # warming up
    assert lr_at(10, tc) == pytest.approx(1e-3)
    assert lr_at(60, tc) == pytest.approx(1e-4 + 9e-4 * 0.5)  # half way down the cosine
    assert lr_at(110, tc) == pytest.approx(1e-4) == lr_at(500, tc)  # held at the floor
    constant = RefinerTrain()
    assert lr_at(10_000, constant) == constant.lr
    cfg.write_text("[train]\nwarmup_steps = 100\nlr_decay_steps = 50\n")
    with pytest.raises(OptionError, match="lr_decay_steps must be 0 or above warmup_steps"):
        load_refiner_config(cfg)


def test_a_wider_refiner_starts_as_the_network_it_grew_from():
    from vidiff.errors import OptionError
    from vidiff.train.grow import start_from

    torch.manual_seed(0)
    narrow = Refiner(RefinerConfig(channels=(4, 8, 8)))
    torch.nn.init.normal_(narrow.head.weight, std=0.1)
    wide = Refiner(RefinerConfig(channels=(6, 12, 16)))
    start_from(wide, narrow)
    f0, f1 = frames_pair()
    flow = torch.randn(1, 2, 40, 56)
    a, b = (net(f0, f1, flow, -flow, 0.5)["frame"] for net in (narrow, wide))
    assert torch.allclose(a, b, atol=1e-5)
    # the new channels are live: one step of training moves the output
    loss = (wide(f0, f1, flow, -flow, 0.5)["frame"] - f1).square().mean()
    loss.backward()
    assert wide.head.weight.grad[:, 4:].abs().sum() > 0  # head weights from the new channels
    with pytest.raises(OptionError, match="shape"):
        start_from(narrow, wide)


def test_a_deeper_refiner_starts_as_the_network_it_grew_from():
    from vidiff.errors import OptionError
    from vidiff.train.grow import start_from

    torch.manual_seed(0)
    shallow = Refiner(RefinerConfig(channels=(4, 8, 8)))
    torch.nn.init.normal_(shallow.head.weight, std=0.1)
    deep = Refiner(RefinerConfig(channels=(4, 8, 8, 16)))  # a level below at 1/8
    start_from(deep, shallow)
    f0, f1 = frames_pair()  # 40 x 56: a multiple of both networks' factors, so the same padding
    flow = torch.randn(1, 2, 40, 56)
    a, b = (net(f0, f1, flow, -flow, 0.5)["frame"] for net in (shallow, deep))
    assert torch.allclose(a, b, atol=1e-5)
    # the new level is live: one step of training reaches its projection back up
    loss = (deep(f0, f1, flow, -flow, 0.5)["frame"] - f1).square().mean()
    loss.backward()
    assert deep.proj[2].weight.grad.abs().sum() > 0
    with pytest.raises(OptionError, match="layers differ"):
        start_from(shallow, deep)


def test_no_harm_term_costs_only_pixels_made_worse_than_mu():
    from vidiff.train.refine_loop import charbonnier, refiner_loss

    target = torch.zeros(1, 3, 4, 4)
    mu = torch.full_like(target, 0.2)
    better = {"frame": torch.full_like(target, 0.1), "mu": mu}
    worse = {"frame": torch.full_like(target, 0.3), "mu": mu}
    # better than mu everywhere: the term adds nothing
    assert refiner_loss(better, target, 1.0) == pytest.approx(float(charbonnier(better["frame"], target)))
    # worse by 0.1 everywhere: the term adds no_harm * 0.1
    plain = float(charbonnier(worse["frame"], target))
    assert refiner_loss(worse, target, 2.0) == pytest.approx(plain + 0.2, abs=1e-6)
    assert refiner_loss(worse, target, 0.0) == pytest.approx(plain)


def test_refined_estimates_one_at_a_time_match_the_estimate():
    torch.manual_seed(0)
    f0, f1 = frames_pair()
    refiner = Refiner(RefinerConfig.tiny())
    with torch.no_grad():
        refiner.head.weight.normal_(0, 0.05)  # a refiner that changes things
    refined = RefinedMotion(refiner, FlowMotion())
    times = [0.0, 0.25, 1.5, 0.5, -0.5, 1.0]
    whole = refined.estimate(f0, f1, times)
    parts = list(refined.estimates(f0, f1, times))
    assert len(parts) == len(times)
    for i, frame in enumerate(parts):
        assert torch.allclose(frame, whole[:, :, i])
    plain = FlowMotion().estimate(f0, f1, [1.5, -0.5])
    assert torch.allclose(parts[2], plain[:, :, 0], atol=2e-3)  # outside (0, 1): not refined
    assert not torch.allclose(parts[1], FlowMotion().estimate(f0, f1, [0.25])[:, :, 0], atol=1e-3)


def test_mse_loss_is_what_psnr_measures():
    from vidiff.train.refine_loop import refiner_loss

    target = torch.zeros(1, 3, 4, 4)
    frame = torch.zeros_like(target)
    frame[..., 0, 0] = 0.4  # one pixel badly wrong
    res = {"frame": frame, "mu": target}
    assert refiner_loss(res, target, kind="mse") == pytest.approx(0.16 / 16)
    assert refiner_loss(res, target) == pytest.approx(0.4 / 16, abs=2e-3)  # Charbonnier ~ L1


def test_partly_still_scenes_move_an_object_over_the_still_background():
    from vidiff.train.augment import still_scene
    from vidiff.train.refine_sampler import Sampler

    rng = np.random.default_rng(1)
    frame = np.full((64, 64, 3), 40, np.uint8)  # dark background
    source = np.full((64, 64, 3), 230, np.uint8)  # a bright object
    moved = sizable = 0
    for _ in range(12):
        frames, flows, t, truth = still_scene(frame, rng, layer_source=source)
        assert frames.shape == (3, 64, 64, 3) and flows.shape == (4, 64, 64)
        bright = frames[..., 0] > 135
        assert all(b.sum() > 0 for b in bright)  # the object is in every frame
        assert np.abs(frames[~bright].astype(int) - 40).mean() < 6  # the rest stays still
        # the target shows the object where it is at time t: never outside what it swept
        ys, xs = np.nonzero(bright[1])
        lo = np.minimum(*[np.argwhere(b).min(0) for b in (bright[0], bright[2])]) - 8
        hi = np.maximum(*[np.argwhere(b).max(0) for b in (bright[0], bright[2])]) + 8
        assert (ys >= lo[0]).all() and (ys <= hi[0]).all() and (xs >= lo[1]).all() and (xs <= hi[1]).all()
        moved += not np.array_equal(bright[0], bright[2])
        sizable += bright[0].sum() > 30
    assert moved >= 10 and sizable >= 9  # the object mostly moves, and the flows see it move
    assert np.abs(flows).max() > 0.5

    class Pack:  # the Sampler cuts objects from its own frames when asked to
        frames = np.stack([np.stack([pattern_frame(i, (64, 64), (3.0, 1.0)) for i in (0, 1, 2)])] * 2)
        flows = np.zeros((2, 4, 64, 64), np.float32)
        times = np.array([0.5, 0.5])
        holdout = np.array([False, True])

    still = Sampler([Pack()], (), 64, still=1.0).batch(np.random.default_rng(2), 6)
    layered = Sampler([Pack()], (), 64, still=1.0, still_layer=1.0).batch(np.random.default_rng(2), 6)
    assert layered["flow_t0"].abs().mean() > still["flow_t0"].abs().mean()


def test_still_scenes_are_noisy_copies_with_the_flows_the_motion_step_finds():
    from vidiff.metrics import psnr
    from vidiff.train.augment import still_scene
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.triplets import estimate_from_flows

    rng = np.random.default_rng(0)
    frame = pattern_frame(0, (64, 48), (1.0, 0.0))
    noisy = 0
    for _ in range(10):
        frames, flows, t, truth = still_scene(frame, rng)
        assert frames.shape == (3, 48, 64, 3) and frames.dtype == np.uint8
        assert flows.shape == (4, 48, 64) and 0.1 <= t <= 0.9
        assert np.abs(flows).mean() < 0.5  # nothing moves (DIS still sees the noise)
        assert min(psnr(f, frame) for f in frames) > 28
        noisy += not (np.array_equal(frames[0], frames[1]) and np.array_equal(frames[1], frames[2]))
        mu = (estimate_from_flows(frames[0], frames[2], flows, t) * 255).round().astype(np.uint8)
        assert psnr(mu, frames[1]) > 30  # the motion estimate is already the answer
    assert noisy >= 7  # mostly, each frame has its own noise

    class Pack:  # the Sampler turns the asked-for share into still scenes
        frames = np.stack([np.stack([pattern_frame(i, (64, 64), (3.0, 1.0)) for i in (0, 1, 2)])] * 2)
        flows = np.full((2, 4, 64, 64), 3.0, np.float32)
        times = np.array([0.5, 0.5])
        holdout = np.array([False, True])

    batch = Sampler([Pack()], (), 32, still=1.0).batch(rng, 4)
    assert batch["flow_t0"].abs().mean() < 0.5


def test_a_fallback_head_starts_as_before_and_can_give_the_plain_blend():
    from vidiff.model.refiner import fallback_share
    from vidiff.train.grow import start_from

    assert float(fallback_share(torch.zeros(1))) == 0.0
    assert float(fallback_share(torch.full((1,), 40.0))) == pytest.approx(1.0)
    assert -0.02 < float(fallback_share(torch.full((1,), -40.0))) < 0
    gained = Refiner(RefinerConfig(channels=(4, 8, 8), flow_gain=True))
    torch.nn.init.normal_(gained.head.weight, std=0.1)
    grown = Refiner(RefinerConfig(channels=(4, 8, 8), flow_gain=True, fallback=True))
    assert grown.head.out_channels == gained.head.out_channels + 1
    start_from(grown, gained)
    f0, f1 = frames_pair()
    flow = torch.randn(1, 2, 40, 56)
    a, b = (net(f0, f1, flow, -flow, 0.25) for net in (gained, grown))
    assert torch.allclose(a["frame"], b["frame"], atol=1e-6)
    assert b["fallback"].abs().max() < 1e-6
    with torch.no_grad():  # the fallback output saturated: the plain blend, whatever the flows say
        grown.head.bias[10] = 40.0
    full = grown(f0, f1, flow, -flow, 0.25)
    assert torch.allclose(full["frame"], 0.75 * f0 + 0.25 * f1, atol=1e-5)
    # it learns: the blend output's weights get a gradient from the first step
    with torch.no_grad():
        grown.head.bias[10] = 0.0
    loss = (grown(f0, f1, flow, -flow, 0.25)["frame"] - f1).square().mean()
    loss.backward()
    assert grown.head.weight.grad[10].abs().sum() > 0
