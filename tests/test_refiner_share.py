"""Training the fallback share harder (vidiff.train.share): the samples where the blend beats mu,
the best share per patch, and a loss on the share that moves it where the frame loss barely can."""

import numpy as np
import pytest
import torch
from test_refiner import shifted_sample

from vidiff.errors import OptionError
from vidiff.model import Refiner, RefinerConfig


def test_best_share_is_the_least_squares_mix_per_patch_and_flat_patches_carry_no_stake():
    from vidiff.train.share import best_share

    gen = torch.Generator().manual_seed(0)
    unmixed = torch.rand(1, 3, 16, 24, generator=gen)
    blend = torch.rand(1, 3, 16, 24, generator=gen)
    blend[..., :, 16:] = unmixed[..., :, 16:]  # the last column of patches: blend = frame
    target = unmixed + 0.3 * (blend - unmixed)
    target[..., :8, :8] = blend[..., :8, :8]  # one patch wants the blend whole
    target[..., 8:, :8] = unmixed[..., 8:, :8] - 0.5 * (blend - unmixed)[..., 8:, :8]  # and one none
    share, stake = best_share(unmixed, blend, target, window=8)
    assert share.shape == stake.shape == (1, 1, 16, 24)
    assert torch.allclose(share[..., :8, :8], torch.tensor(1.0), atol=0.01)
    assert torch.allclose(share[..., 8:, :8], torch.tensor(0.0))  # clamped: no negative shares
    assert torch.allclose(share[..., :, 8:16], torch.tensor(0.3), atol=0.01)
    assert float(stake[..., :, 16:].max()) == 0 and float(share[..., :, 16:].max()) == 0
    assert float(stake[..., :, :16].min()) > 0.05  # random colours differ: a lot at stake
    # partial patches at the edges keep the frame's size
    share, stake = best_share(unmixed[..., :13, :21], blend[..., :13, :21], target[..., :13, :21])
    assert share.shape == (1, 1, 13, 21)


def test_the_share_loss_moves_the_share_to_the_blend_where_the_blend_is_the_truth():
    """Flows that point the wrong way while the truth is the plain blend: a few steps on the share
    loss alone raise the share there, and its gradient is not the vanishing one of the frame
    loss through the share's sigmoid."""
    from vidiff.train.share import share_loss

    gen = torch.Generator().manual_seed(1)
    f0, f1 = torch.rand(2, 3, 32, 32, generator=gen), torch.rand(2, 3, 32, 32, generator=gen)
    flow = torch.full((2, 2, 32, 32), 5.0)
    target = torch.lerp(f0, f1, 0.5)
    net = Refiner(RefinerConfig(channels=(8, 8, 8), fallback=True))
    res = net(f0, f1, flow, -flow, 0.5)
    assert float(res["fallback"].detach().abs().max()) < 1e-6  # starts at none of the blend
    assert torch.allclose(res["unmixed"], res["frame"]) and torch.allclose(res["blend"], target)
    share_loss(res, target).backward()
    g_share = net.head.weight.grad.clone()
    net.zero_grad()
    (res := net(f0, f1, flow, -flow, 0.5))["frame"].sub(target).square().mean().backward()
    # the cross-entropy's pull on the share's output row is far stronger than the frame loss's
    assert g_share[8].norm() > 20 * net.head.weight.grad[8].norm()
    assert g_share[:8].abs().max() == 0  # and it touches nothing but the share's output
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        share_loss(net(f0, f1, flow, -flow, 0.5), target).backward()
        opt.step()
    with torch.no_grad():
        after = net(f0, f1, flow, -flow, 0.5)
    assert float(after["fallback"].mean()) > 0.7
    before = (res["frame"].detach() - target).square().mean()
    assert (after["frame"] - target).square().mean() < 0.3 * before


def blend_pack(tmp_path, n=12):
    """Even samples: exact flows (mu wins); odd: flows three times as long, the wrong way, and a
    target that is the plain blend (the blend wins)."""
    from vidiff.train.triplets import TripletWriter

    rng = np.random.default_rng(0)
    writer = TripletWriter(tmp_path / "pack", 32)
    for i in range(n):
        frames, flows = shifted_sample(rng, d=(3.0, -2.0))
        if i % 2:
            mix = (frames[0].astype(np.float32) + frames[2]) / 2
            frames = np.stack([frames[0], mix.round().astype(np.uint8), frames[2]])
            flows = -3 * flows
        writer.add("synthetic", frames, flows, 0.5, holdout=i >= n - 2)
    return writer.close()


def test_blend_wins_are_the_samples_whose_plain_blend_beats_mu_and_the_sampler_draws_them(tmp_path):
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.share import blend_wins
    from vidiff.train.triplets import read_triplets

    pack = read_triplets(blend_pack(tmp_path))
    train = np.flatnonzero(~pack.holdout)
    assert blend_wins(pack, train, batch=4).tolist() == [1, 3, 5, 7, 9]
    assert blend_wins(pack, train, "bilinear").tolist() == [1, 3, 5, 7, 9]
    sampler = Sampler([pack], (), 32, blend_wins=1.0)
    # every sample drawn is a blend win: its flows to t are the long ones (3.75 px against 1.25
    # on average, whatever flips the augmentation makes)
    drawn = sampler.batch(np.random.default_rng(0), 16)["flow_t0"].abs().flatten(1).mean(1)
    assert (drawn > 2.5).all()
    plain = Sampler([pack], (), 32).batch(np.random.default_rng(0), 16)["flow_t0"].abs()
    assert (plain.flatten(1).mean(1) < 2.5).any() and (plain.flatten(1).mean(1) > 2.5).any()


def test_share_training_settings_are_checked_and_a_run_with_them_trains(tmp_path):
    import json

    from vidiff.train.refine_loop import load_refiner_config, train_refiner

    config = tmp_path / "r.toml"
    for body, expect in [
        ("[train]\nshare_loss = 0.5\n", "needs a refiner with fallback"),
        ("[refiner]\nfallback = true\n[train]\nblend_wins = 1.5\n", "blend_wins"),
        ("[refiner]\nfallback = true\n[train]\nshare_loss = -1\n", "share_loss"),
        ("[refiner]\nfallback = true\n[train]\nshare_window = 0\n", "share_window"),
        ("[refiner]\nfallback = true\n[train]\nshare_window = 8.5\n", "share_window"),
        ("[refiner]\nfallback = true\n[train]\ncrop = 64\nshare_window = 65\n", "share_window"),
        ("[refiner]\nfallback = true\n[train]\nshare_per_sample = \"yes\"\n", "share_per_sample"),
    ]:
        config.write_text(body)
        with pytest.raises(OptionError, match=expect):
            load_refiner_config(config)
    config.write_text(
        "[refiner]\nchannels = [8, 8, 8]\nfallback = true\n"
        "[train]\nsteps = 20\nbatch_size = 4\ncrop = 32\nlr = 3e-3\nwarmup_steps = 2\n"
        "log_interval = 10\neval_interval = 20\nblend_wins = 0.5\nshare_loss = 1.0\n"
        "share_window = 16\nshare_per_sample = true\n"
    )
    lines = []
    train_refiner(config, [blend_pack(tmp_path)], tmp_path / "run", log=lines.append)
    assert any("the blend beats mu in 5 of 10 training samples" in x for x in lines)
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 20 and np.isfinite(last["loss"])


def test_the_share_window_reaches_the_training_loss():
    import torch

    from vidiff.train import share
    from vidiff.train.refine_loop import log_mse, refiner_loss

    g = torch.Generator().manual_seed(0)
    res = {k: torch.rand(2, 3, 32, 32, generator=g) for k in ("frame", "unmixed", "blend")}
    res["fallback_logit"] = torch.randn(2, 1, 32, 32, generator=g)
    target = torch.rand(2, 3, 32, 32, generator=g)
    frame = log_mse(res["frame"], target)
    losses = {}
    for w in (4, 8, 16):
        losses[w] = refiner_loss(res, target, kind="log_mse", share_weight=0.5, share_window=w)
        assert torch.allclose(losses[w], frame + 0.5 * share.share_loss(res, target, w))
    assert torch.allclose(refiner_loss(res, target, kind="log_mse", share_weight=0.5), losses[8])
    assert len({round(v.item(), 6) for v in losses.values()}) == 3


def test_per_sample_share_loss_weighs_each_sample_by_one_over_its_error():
    import torch

    from vidiff.train.share import share_loss

    g = torch.Generator().manual_seed(2)
    unmixed = torch.rand(2, 3, 32, 32, generator=g)
    blend = unmixed + 0.4 * (torch.rand(2, 3, 32, 32, generator=g) - 0.5)
    # sample 0: the truth is the blend (mu badly wrong); sample 1: mu right up to a little noise
    target = torch.stack([blend[0], unmixed[1] + 0.01 * torch.randn(3, 32, 32, generator=g)])
    err = (unmixed - target).square().flatten(1).mean(1) + 1e-6
    ratio = {}
    for per_sample in (False, True):
        logit = torch.zeros(2, 1, 32, 32, requires_grad=True)
        res = {"unmixed": unmixed, "blend": blend, "frame": unmixed, "fallback_logit": logit}
        share_loss(res, target, per_sample=per_sample).backward()
        assert logit.grad[0].sum() < 0 < logit.grad[1].sum()  # more blend in 0, less in 1
        ratio[per_sample] = float(logit.grad[1].abs().sum() / logit.grad[0].abs().sum())
    assert ratio[True] / ratio[False] == pytest.approx(float(err[0] / err[1]), rel=1e-4)
    assert ratio[True] > 10 * ratio[False]
