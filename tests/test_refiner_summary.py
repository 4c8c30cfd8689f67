"""The refiner's frame summary: what the whole frame says about the flow, seen at every pixel."""

import torch
from test_tiling import assert_no_seam, perturbed_refiner, psnr, smooth_pair

from vidiff.model import Refiner, RefinerConfig
from vidiff.model.refiner import frame_summary
from vidiff.model.tiling import plan_tiles
from vidiff.motion import flows_to_time
from vidiff.motion.warp import backward_warp
from vidiff.train.grow import start_from

SUM = RefinerConfig(channels=(4, 8, 8), fallback=True, summary=True)


def test_the_summary_orders_frames_by_how_much_they_differ_and_how_far_they_move():
    f0, f1, _ = smooth_pair(40, 56)
    still = torch.zeros(1, 2, 40, 56)
    moving = torch.full((1, 2, 40, 56), 3.0)
    warp = [backward_warp(f, still) for f in (f0, f1)]
    same = frame_summary(f0, f0, warp[0], warp[0], still, still)
    diff = frame_summary(f0, f1, *warp, still, still)
    fast = frame_summary(f0, f1, *warp, moving, -moving)
    assert same.shape == (1, 3)
    assert diff[0, 0] > same[0, 0] and diff[0, 1] > same[0, 1]  # inputs differ, warps disagree
    assert same[0, 2] == 0 and fast[0, 2] > diff[0, 2]  # no motion, then 2 * 3 * sqrt(2) px
    assert torch.allclose(fast[0, 2], torch.log1p(torch.tensor(6 * 2 ** 0.5)) / 3)
    assert same.abs().max() <= 1.5 and fast.abs().max() <= 1.5  # near unit range


def test_a_patch_is_refined_by_what_the_rest_of_the_frame_says():
    # The same 24x24 patch (inputs and flows), in two frames that differ far outside the
    # network's view: with the summary the patch's output changes, without it it cannot.
    f0, f1, _ = smooth_pair(64, 192)
    flow = torch.zeros(1, 2, 64, 192)
    noisy = f1.clone()
    noisy[..., 128:] = torch.rand_like(noisy[..., 128:])  # far right: the inputs disagree there
    for config in (SUM, RefinerConfig(channels=(4, 8, 8), fallback=True)):
        net = perturbed_refiner(config=config)
        with torch.inference_mode():
            a, b = (net(f0, g, flow, flow, 0.5)["frame"][..., 20:44, 8:32] for g in (f1, noisy))
        if config.summary:
            assert (a - b).abs().max() > 1e-5  # exactly equal without it
        else:
            assert torch.equal(a, b)


def test_a_refiner_given_the_summary_starts_as_the_network_it_grew_from():
    source = perturbed_refiner(config=RefinerConfig(channels=(4, 8, 8), fallback=True))
    grown = Refiner(SUM)
    assert grown.enc[0][0][0].in_channels == source.enc[0][0][0].in_channels + 3
    start_from(grown, source)
    f0, f1, _ = smooth_pair(40, 56)
    flows = torch.randn(1, 4, 40, 56) * 2
    ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.3)
    assert torch.allclose(source(f0, f1, ft0, ft1, 0.3)["frame"],
                          grown(f0, f1, ft0, ft1, 0.3)["frame"], atol=1e-6)
    (grown(f0, f1, ft0, ft1, 0.3)["frame"] - f1).square().mean().backward()
    assert grown.enc[0][0][0].weight.grad[:, -3:].abs().sum() > 0  # the new inputs are live


def test_tiled_refiner_with_the_summary_matches_untiled():
    net = perturbed_refiner(config=RefinerConfig(fallback=True, summary=True))
    f0, f1, _ = smooth_pair(200, 264)
    f1[..., 180:, :] = 0.5  # a tile that alone would summarise very differently
    flows = torch.randn(1, 4, 200, 264) * 2
    ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.4)
    plan = plan_tiles(200, 264, 96, 112, overlap=64, margin=16)
    with torch.inference_mode():
        whole = net(f0, f1, ft0, ft1, 0.4)
        tiled = net(f0, f1, ft0, ft1, 0.4, plan=plan)["frame"]
    assert psnr(whole["frame"], whole["mu"]) < 45  # the refiner really changes the estimate
    assert psnr(tiled, whole["frame"]) > 70
    assert_no_seam(tiled - whole["frame"], plan, limit=1 / 255 / 4)


def test_a_run_with_the_summary_trains_from_a_refiner_without_it(tmp_path):
    from test_refiner_visibility import train_grown

    last, trained = train_grown(tmp_path, "summary")
    assert last["step"] == 20 and "pack0" in last["eval"]
    assert trained.config.summary
    assert trained.enc[0][0][0].weight[:, -3:].abs().sum() > 0


def test_growing_refuses_to_pour_one_input_group_into_another():
    import pytest

    from vidiff.errors import OptionError

    vis = Refiner(RefinerConfig(channels=(4, 8, 8), visibility=True))
    with pytest.raises(OptionError, match="optional inputs"):
        start_from(Refiner(SUM), vis)  # its visibility weights would land on the summary
    with pytest.raises(OptionError, match="optional inputs"):
        start_from(Refiner(RefinerConfig(channels=(4, 8, 8), visibility=True, summary=True)),
                   Refiner(SUM))
    start_from(Refiner(RefinerConfig(channels=(4, 8, 8), visibility=True, summary=True)), vis)
