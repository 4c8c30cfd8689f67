"""Context around a training crop: the refiner refines a window of a larger sample, its warps
sampling the whole sample, as a tile of a big frame is refined at inference."""

import json

import numpy as np
import pytest
import torch
from test_refiner import shifted_sample

from vidiff.errors import OptionError
from vidiff.model import Refiner, RefinerConfig
from vidiff.model.refiner import encode_stats, warped_stats
from vidiff.model.tiling import Tile, plan_tiles
from vidiff.motion import flows_to_time


def pair(size=48, d=(6.0, -4.0), seed=0):
    frames, flows = shifted_sample(np.random.default_rng(seed), size=size, d=d)
    img = torch.from_numpy(frames).permute(0, 3, 1, 2).float()[:, None] / 255
    return img[0], img[1], img[2], torch.from_numpy(flows)[None]


def to_half(flows):
    """The flows to t = 0.5 (frame0's side, frame1's) of the full flows ``b 4 h w``."""
    return flows_to_time(flows[:, :2], flows[:, 2:], 0.5)


def test_a_window_with_a_constant_head_is_the_whole_frame_there():
    """With the head's weights zero every output is its bias, whatever the network sees, so a
    window must give exactly the whole frame's refinement there: warps and blend included."""
    cfg = RefinerConfig(channels=(4, 8, 8), flow_gain=True, fallback=True, summary=True)
    refiner = Refiner(cfg)
    with torch.no_grad():
        refiner.head.weight.zero_()
        refiner.head.bias.copy_(torch.linspace(-0.8, 0.6, cfg.out_channels))
    f0, _, f1, flows = pair()
    ft0, ft1 = to_half(flows)
    window = Tile(0, 8, 16, 24, 32)
    whole = refiner(f0, f1, ft0, ft1, 0.5)
    part = refiner(f0, f1, ft0, ft1, 0.5, window=window)
    for key in ("frame", "mu", "flow_t0", "weight0", "fallback", "blend"):
        assert part[key].shape[-2:] == (24, 32), key
        torch.testing.assert_close(part[key], window.crop(whole[key]), atol=1e-6, rtol=0)


def test_a_window_sees_the_whole_frames_summary_and_warps_from_outside_itself():
    torch.manual_seed(0)
    refiner = Refiner(RefinerConfig(channels=(4, 8, 8), summary=True))
    torch.nn.init.normal_(refiner.head.weight, std=0.1)
    f0, _, f1, flows = pair()
    ft0, ft1 = to_half(flows)
    window = Tile(0, 0, 0, 32, 32)
    part = refiner(f0, f1, ft0, ft1, 0.5, window=window)
    given = refiner(f0, f1, ft0, ft1, 0.5, window=window,
                    summary=encode_stats(warped_stats(f0, f1, ft0, ft1, refiner.config.warp)))
    assert torch.equal(part["frame"], given["frame"])
    crop = [window.crop(x) for x in (f0, f1, ft0, ft1)]
    own = refiner(*crop[:2], *crop[2:], 0.5)
    assert not torch.allclose(own["frame"], part["frame"], atol=1e-4)
    # the plain crop's warps clamp where the flow leaves it (the right and bottom edges here);
    # the window's sample the frame beyond, so its mu is the whole frame's
    whole_mu = window.crop(refiner(f0, f1, ft0, ft1, 0.5)["mu"])
    assert torch.equal(part["mu"], whole_mu)
    assert (own["mu"] - whole_mu).abs()[..., -3:].mean() > 1e-2
    with pytest.raises(OptionError, match="window and a tile plan"):
        refiner(f0, f1, ft0, ft1, 0.5, window=window, plan=plan_tiles(48, 48, 32, 32, overlap=16,
                                                                       margin=4))


def context_pack(path, size=48, n=10, truth=False):
    """Samples of a texture moving by (-6, 4) px, with exact flows (and with ``truth``, the true
    flows to t: (3, -2) px on frame0's side, (-3, 2) on frame1's)."""
    from vidiff.train.triplets import TripletWriter

    rng = np.random.default_rng(3)
    writer = TripletWriter(path, size)
    true = np.array([3.0, -2.0, -3.0, 2.0], np.float32)[:, None, None] * np.ones((size, size))
    for i in range(n):
        frames, flows = shifted_sample(rng, size=size, d=(6.0, -4.0))
        writer.add("synthetic", frames, flows, 0.5, holdout=i >= n - 2,
                   true_flows=true.astype(np.float32) if truth else None)
    return writer.close()


def test_a_context_batch_holds_whole_samples_and_the_windows_target(tmp_path):
    from vidiff.train.refine_loop import refine_batch
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.triplets import read_triplets

    pack = read_triplets(context_pack(tmp_path / "pack"))
    sampler = Sampler([pack], (), 32, degrade=0.5, still=0.3, context=True)
    refiner = Refiner(RefinerConfig.tiny())  # untrained: its frame is mu
    rng = np.random.default_rng(0)
    places = set()
    for _ in range(6):
        batch = sampler.batch(rng, 4)
        window = batch["window"]
        places.add((window.y, window.x))
        assert batch["frame0"].shape == (4, 3, 48, 48) and batch["flow_t0"].shape[-2:] == (48, 48)
        assert batch["target"].shape == (4, 3, 32, 32) and batch["true_flows"].shape[-2:] == (32, 32)
        assert 0 <= window.y <= 16 and 0 <= window.x <= 16
        res = refine_batch(refiner, batch)
        whole = refiner(batch["frame0"], batch["frame1"], batch["flow_t0"], batch["flow_t1"],
                        batch["t"])
        assert torch.equal(res["mu"], window.crop(whole["mu"]))
        # the target is the window's: away from the sample's edges mu is close to it wherever
        # the window lies (a window off by a few pixels would be 6 px of texture away)
        inner = torch.zeros(48, 48, dtype=torch.bool)
        inner[6:-6, 6:-6] = True
        keep = window.crop(inner)
        err = (res["mu"] - batch["target"]).abs().mean(1)[:, keep]
        assert float(err.mean()) < 0.03, float(err.mean())
    assert len(places) > 3


def test_a_share_of_context_batches_mixes_windows_and_plain_crops(tmp_path):
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.triplets import read_triplets

    pack = read_triplets(context_pack(tmp_path / "pack"))
    sampler = Sampler([pack], (), 32, still=0.5, still_layer=1.0, context=0.5)
    rng = np.random.default_rng(0)
    kinds = [sampler.batch(rng, 4) for _ in range(12)]
    windowed = [b for b in kinds if "window" in b]
    assert 0 < len(windowed) < len(kinds)
    for b in kinds:
        size = 48 if "window" in b else 32
        assert b["frame0"].shape[-1] == size and b["target"].shape[-1] == 32
    with pytest.raises(OptionError, match="share of the batches"):
        Sampler([pack], (), 32, context=1.5)


def test_context_needs_samples_larger_than_the_crop_and_all_one_size(tmp_path):
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.triplets import read_triplets

    big = read_triplets(context_pack(tmp_path / "big"))
    small = read_triplets(context_pack(tmp_path / "small", size=40))
    with pytest.raises(OptionError, match="same size and larger than the crop"):
        Sampler([big, small], (), 32, context=True)
    with pytest.raises(OptionError, match="larger than the crop"):
        Sampler([big], (), 48, context=True)
    assert Sampler([big, small], (), 32).batch(np.random.default_rng(0), 2)["target"].shape[-1] == 32


def test_a_run_with_context_trains_and_the_setting_is_checked(tmp_path):
    from vidiff.train.refine_loop import load_refiner_config, train_refiner

    config = tmp_path / "r.toml"
    for bad in ("1.5", "-0.1", '"yes"'):
        config.write_text(f"[train]\ncontext = {bad}\n")
        with pytest.raises(OptionError, match="context must be true, false or a share"):
            load_refiner_config(config)
    config.write_text(
        "[refiner]\nchannels = [8, 8, 8]\nfallback = true\nsummary = true\nflow_gain = true\n"
        "[train]\nsteps = 20\nbatch_size = 4\ncrop = 32\nlr = 3e-3\nwarmup_steps = 2\n"
        "log_interval = 10\neval_interval = 20\nshare_loss = 1.0\nflow_loss = 0.1\n"
        "context = true\n"
    )
    train_refiner(config, [context_pack(tmp_path / "pack")], tmp_path / "run", log=lambda _: None)
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 20 and np.isfinite(last["loss"]) and last["eval"]["pack0"]["samples"] == 2


def test_held_out_samples_are_evaluated_in_their_centre_window_with_or_without_context(tmp_path):
    from vidiff.train.refine_loop import evaluate_packs
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.triplets import read_triplets

    pack = read_triplets(context_pack(tmp_path / "pack", n=12, truth=True))
    sampler = Sampler([pack], (), 32)
    refiner = Refiner(RefinerConfig.tiny())
    whole = evaluate_packs(refiner, sampler, 8)["pack0"]
    around = evaluate_packs(refiner, sampler, 8, window=32)["pack0"]
    plain = evaluate_packs(refiner, sampler, 8, window=32, context=False)["pack0"]
    assert whole["samples"] == around["samples"] == plain["samples"] == 2
    # the centre window's flows lead 2-3 px out of it: a plain crop warps its clamped edge there,
    # the window with its sample around it warps the true content (mu close to the target)
    assert around["psnr_mu"] > plain["psnr_mu"] + 3, (around, plain)
    assert around["psnr_mu"] > whole["psnr_mu"]  # the whole sample has its own edges
    assert around["flow_epe_mu"] == around["flow_epe"] == 0  # the window's flows are the truth
    both = evaluate_packs(refiner, Sampler([pack, pack], (), 32), 8, window=32)
    assert both["pack0"] == both["pack1"] == around  # each pack in its own centre window
    batch = next(sampler.eval_batches(0, 8, window=32, context=False))
    assert batch["frame0"].shape[-2:] == batch["flows"].shape[-2:] == (32, 32)
    with pytest.raises(OptionError, match="does not fit"):
        next(sampler.eval_batches(0, 8, window=64))
