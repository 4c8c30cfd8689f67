"""Training crops shown their whole frame's summary: packs store it, the sampler and loop use it."""

import numpy as np
import pytest
import torch
from test_refiner import shifted_sample
from test_tiling import perturbed_refiner, smooth_pair

from vidiff.model import Refiner, RefinerConfig
from vidiff.model.refiner import encode_stats, frame_summary, warped_stats
from vidiff.train.refine_loop import batch_summary, refine_batch
from vidiff.train.refine_sampler import Sampler
from vidiff.train.triplets import TripletWriter, read_triplets, to_tensors

SUM = RefinerConfig(channels=(4, 8, 8), fallback=True, summary=True)


def stats_pack(tmp_path, n=10, name="pack"):
    """Moving textures; each sample's frame_stats made up (as if its frame were elsewhere busier)."""
    rng = np.random.default_rng(0)
    writer = TripletWriter(tmp_path / name, 32)
    for i in range(n):
        frames, flows = shifted_sample(rng, d=(3.0, -2.0))
        writer.add("synthetic", frames, flows, 0.5, holdout=i >= n - 2,
                   frame_stats=np.array([0.2 + 0.01 * i, 0.05, 7.0]))
    return writer.close()


def test_a_crop_given_its_frames_summary_computes_what_the_whole_frame_does_there():
    net = perturbed_refiner(config=SUM)
    f0, f1, _ = smooth_pair(64, 192)
    f1[..., 150:] = torch.rand_like(f1[..., 150:])  # far right, outside the crop's view
    flow = torch.zeros(1, 2, 64, 192)
    crop = (..., slice(48, 144))
    with torch.inference_mode():
        whole = net(f0, f1, flow, flow, 0.5)["frame"]
        whole_summary = encode_stats(warped_stats(f0, f1, flow, flow, SUM.warp))
        told = net(f0[crop], f1[crop], flow[crop], flow[crop], 0.5, summary=whole_summary)["frame"]
        own = net(f0[crop], f1[crop], flow[crop], flow[crop], 0.5)["frame"]
    inner = (..., slice(32, 64))  # far from the crop's borders
    assert torch.allclose(told[inner], whole[..., 80:112], atol=1e-5)
    assert (own[inner] - whole[..., 80:112]).abs().max() > 1e-4  # its own summary differs
    warp = [f0[crop], f1[crop]]  # zero flows: the warps are the frames
    same = frame_summary(*warp, *warp, flow[crop], flow[crop])
    with torch.inference_mode():
        assert torch.equal(net(*warp, flow[crop], flow[crop], 0.5, summary=same)["frame"], own)


def test_footage_packs_store_each_crops_whole_frame_numbers(tmp_path):
    from vidiff.motion import FlowMotion
    from vidiff.train.triplets import add_segment_triplets, full_flows, whole_frame_stats

    rng = np.random.default_rng(3)
    import cv2

    base = cv2.GaussianBlur(rng.random((96, 200, 3)).astype(np.float32), (0, 0), 1.5)
    frames = []
    for i in range(6):  # a textured square moving right over a still textured background
        frame = base[:, :160].copy()
        frame[24:72, 20 + 4 * i : 68 + 4 * i] = base[24:72, 150:198]
        frames.append((frame * 255).round().astype(np.uint8))
    frames = np.stack(frames)
    writer = TripletWriter(tmp_path / "pack", 48)
    added = add_segment_triplets(writer, FlowMotion(), frames, np.arange(6, dtype=np.float64),
                                 "square", False, (2,), 48, rng)
    pack = read_triplets(writer.close())
    assert added == len(pack) >= 2 and pack.frame_stats.shape == (len(pack), 3)
    motion = FlowMotion()
    expected = [whole_frame_stats(frames[i], frames[i + 2], full_flows(motion, frames[i],
                                                                      frames[i + 2]), 0.5)
                for i in range(4)]  # the triplets (i, i + 1, i + 2)
    assert np.allclose(pack.frame_stats[0], expected[0])  # the first sample is the first triplet's
    assert all(any(np.allclose(s, e) for e in expected) for s in pack.frame_stats)
    b = to_tensors(np.array(pack.frames[:1]), np.array(pack.flows[:1], np.float32),
                   np.array(pack.times[:1]))
    crop = warped_stats(b["frame0"], b["frame1"], b["flow_t0"], b["flow_t1"], "bicubic")[0]
    # a crop is chosen where things move: the whole frame, mostly still, moves less on average
    assert pack.frame_stats[0, 2] < crop[2] and pack.frame_stats[0, 0] < crop[0]
    assert pack.frame_stats[0, 2] > 0.2  # but it does move: 8 px of a 48 px square


def test_packs_keep_their_frame_numbers_through_retiming_and_filtering(tmp_path):
    from vidiff.train.retime import retime_triplets
    from vidiff.train.triplets import filter_triplets

    pack = stats_pack(tmp_path)
    retime_triplets(pack, tmp_path / "retimed", log=lambda _: None)
    filter_triplets(pack, tmp_path / "kept", lambda frames: True)
    for out in ("retimed", "kept"):
        assert np.array_equal(read_triplets(tmp_path / out).frame_stats,
                              read_triplets(pack).frame_stats)
    writer = TripletWriter(tmp_path / "mixed", 32)
    frames, flows = shifted_sample(np.random.default_rng(0))
    writer.add("a", frames, flows, 0.5, False, frame_stats=np.zeros(3))
    with pytest.raises(ValueError, match="every sample or for none"):
        writer.add("a", frames, flows, 0.5, False)
    plain = TripletWriter(tmp_path / "plain", 32)
    plain.add("a", frames, flows, 0.5, True)
    assert read_triplets(plain.close()).frame_stats is None


def test_training_shows_a_crop_its_frames_numbers_moved_by_the_damage_done_to_it(tmp_path):
    pack = read_triplets(stats_pack(tmp_path))
    net = Refiner(SUM)
    clean = Sampler([pack], (), 32).batch(np.random.default_rng(5), 6)
    assert torch.allclose(batch_summary(net, clean),
                          encode_stats(torch.from_numpy(np.array(pack.frame_stats))
                                       [_sample_ids(pack, clean)]), atol=1e-6)
    damaged = Sampler([pack], (), 32, degrade=1.0).batch(np.random.default_rng(5), 6)
    assert not torch.equal(damaged["frame0"], damaged["clean0"])
    own = warped_stats(damaged["frame0"], damaged["frame1"], damaged["flow_t0"],
                       damaged["flow_t1"], SUM.warp)
    before = warped_stats(damaged["clean0"], damaged["clean1"], damaged["flow_t0"],
                          damaged["flow_t1"], SUM.warp)
    expected = (damaged["frame_stats"] + own - before).clamp(min=0)
    assert torch.allclose(batch_summary(net, damaged), encode_stats(expected), atol=1e-6)
    still = Sampler([pack], (), 32, still=1.0).batch(np.random.default_rng(5), 4)
    assert torch.isnan(still["frame_stats"]).all()
    assert batch_summary(net, still) is None  # a still scene is all of its own frame
    assert batch_summary(Refiner(RefinerConfig(channels=(4, 8, 8))), clean) is None
    res = refine_batch(perturbed_refiner(config=SUM), clean)["frame"]
    own_res = perturbed_refiner(config=SUM)(clean["frame0"], clean["frame1"], clean["flow_t0"],
                                            clean["flow_t1"], clean["t"])["frame"]
    assert (res - own_res).abs().max() > 1e-5  # the frame's numbers reach the network


def _sample_ids(pack, batch):
    """Which pack sample each (augmented) batch entry came from, by its frame_stats' first value."""
    firsts = np.asarray(pack.frame_stats)[:, 0]
    return [int(np.argmin(np.abs(firsts - v))) for v in batch["frame_stats"][:, 0].numpy()]


def test_a_pack_with_frame_numbers_draws_the_same_batches_and_trains(tmp_path):
    from test_refiner_share import blend_pack

    from vidiff.train.refine_loop import train_refiner

    with_stats = read_triplets(stats_pack(tmp_path))
    without = read_triplets(stats_pack(tmp_path, name="other"))
    without.frame_stats = None
    a, b = (Sampler([p], (), 32, degrade=0.5, still=0.3).batch(np.random.default_rng(9), 8)
            for p in (with_stats, without))
    assert torch.equal(a["frame0"], b["frame0"]) and torch.equal(a["t"], b["t"])
    assert "frame_stats" not in b
    config = tmp_path / "s.toml"
    config.write_text(
        "[refiner]\nchannels = [4, 8, 8]\nfallback = true\nsummary = true\n"
        "[train]\nsteps = 10\nbatch_size = 4\ncrop = 32\nlr = 1e-3\nwarmup_steps = 2\n"
        "log_interval = 5\ncheckpoint_interval = 10\neval_interval = 10\ndegrade = 0.5\n"
        "still = 0.2\nloss = \"log_mse\"\nshare_loss = 1.0\n"
    )
    train_refiner(config, [tmp_path / "pack", blend_pack(tmp_path / "b")], tmp_path / "run",
                  log=lambda _: None)
    import json

    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 10 and {"pack0", "pack1"} <= set(last["eval"])


def test_damage_can_be_given_per_pack(tmp_path):
    from vidiff.errors import OptionError
    from vidiff.train.refine_loop import load_refiner_config

    packs = [read_triplets(stats_pack(tmp_path, name=n)) for n in ("a", "b")]

    def draw(degrade, mix=(1.0, 0.0)):
        return Sampler(packs, mix, 32, degrade=degrade).batch(np.random.default_rng(4), 6)

    clean = draw(0.0)
    assert torch.equal(draw((0.0, 1.0))["frame0"], clean["frame0"])  # only the other pack's
    damaged = draw((1.0, 0.0))
    assert not torch.equal(damaged["frame0"], clean["frame0"])
    assert torch.equal(damaged["clean0"][0], clean["frame0"][0])  # the first crop, damaged
    assert torch.equal(draw(0.5, (1.0, 1.0))["frame0"], draw((0.5, 0.5), (1.0, 1.0))["frame0"])
    for bad in ((0.5,), (0.5, 1.5)):
        with pytest.raises(OptionError, match="one per pack"):
            draw(bad)
    config = tmp_path / "d.toml"
    config.write_text("[train]\ndegrade = [0.5, 0.0]\n")
    assert load_refiner_config(config).train.degrade == (0.5, 0.0)
