"""The refiner's coarse flow pass: a correction of the flows to t learned at 1/k size."""

import pytest
import torch
from test_tiling import assert_no_seam, perturbed_refiner, psnr, smooth_pair

from vidiff.errors import OptionError
from vidiff.model import Refiner, RefinerConfig
from vidiff.model.tiling import plan_tiles
from vidiff.motion import flows_to_time
from vidiff.motion.warp import backward_warp
from vidiff.train.grow import start_from

BASE = RefinerConfig(channels=(4, 8, 8), fallback=True, summary=True)
COARSE = RefinerConfig(channels=(4, 8, 8), fallback=True, summary=True, coarse=4,
                       coarse_channels=(4, 8, 8))


def pair_and_flows(h=40, w=56, t=0.3):
    f0, f1, _ = smooth_pair(h, w)
    flows = torch.randn(1, 4, h, w) * 2
    return f0, f1, *flows_to_time(flows[:, :2], flows[:, 2:], t)


def test_a_refiner_grown_with_a_coarse_pass_starts_as_the_network_it_grew_from():
    source = perturbed_refiner(config=BASE)
    grown = Refiner(COARSE)
    start_from(grown, source)
    f0, f1, ft0, ft1 = pair_and_flows()
    before = source(f0, f1, ft0, ft1, 0.3)
    after = grown(f0, f1, ft0, ft1, 0.3)
    assert torch.equal(after["coarse"], torch.zeros(1, 4, 40, 56))
    assert torch.allclose(before["frame"], after["frame"], atol=1e-6)
    (after["frame"] - f1).square().mean().backward()
    assert grown.coarse.net.head.weight.grad.abs().sum() > 0  # the pass learns from the frame loss


def test_the_coarse_correction_moves_the_flows_before_the_refiner_warps():
    # An untrained refiner returns the time-weighted blend of its two warps: with the coarse
    # head's bias set to a constant correction, that is the blend of the shifted flows' warps,
    # while "mu" stays the estimate of the flows as given.
    net = Refiner(COARSE)
    shift = torch.tensor([2.0, -1.0, -3.0, 0.5])
    with torch.no_grad():
        net.coarse.net.head.bias.copy_(shift / COARSE.coarse_correction)
    f0, f1, ft0, ft1 = pair_and_flows()
    out = net(f0, f1, ft0, ft1, 0.3)
    assert torch.allclose(out["coarse"], shift.view(1, 4, 1, 1).expand(1, 4, 40, 56), atol=1e-5)
    moved = torch.lerp(backward_warp(f0, ft0 + shift[:2].view(1, 2, 1, 1), mode="bicubic"),
                       backward_warp(f1, ft1 + shift[2:].view(1, 2, 1, 1), mode="bicubic"), 0.3)
    assert torch.allclose(out["frame"], moved, atol=1e-5)
    plain = torch.lerp(*(backward_warp(f, ft, mode="bicubic") for f, ft in ((f0, ft0), (f1, ft1))), 0.3)
    assert torch.allclose(out["mu"], plain, atol=1e-6)
    assert psnr(out["frame"], plain) < 40


def test_the_coarse_pass_sees_beyond_the_refiners_view():
    # The same 24x24 patch in two pairs that differ only 100 px away: the full-size U-Net cannot
    # tell them apart (see test_refiner_summary), the pass at 1/4 can.
    torch.manual_seed(0)
    net = Refiner(RefinerConfig(channels=(4, 8, 8), coarse=4, coarse_channels=(4, 8, 8, 8)))
    with torch.no_grad():
        for p in net.coarse.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    f0, f1, _ = smooth_pair(64, 192)
    flow = torch.zeros(1, 2, 64, 192)
    other = f1.clone()
    other[..., 130:] = torch.rand_like(other[..., 130:])
    with torch.inference_mode():
        a, b = (net(f0, g, flow, flow, 0.5) for g in (f1, other))
    patch = (..., slice(20, 44), slice(8, 32))
    assert (a["coarse"][patch] - b["coarse"][patch]).abs().max() > 1e-3  # pixels of flow
    assert (a["frame"][patch] - b["frame"][patch]).abs().max() > 1e-5


def test_tiled_refiner_with_a_coarse_pass_matches_untiled():
    net = perturbed_refiner(config=RefinerConfig(fallback=True, summary=True, coarse=4))
    with torch.no_grad():
        for p in net.coarse.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    f0, f1, ft0, ft1 = pair_and_flows(200, 264, 0.4)
    plan = plan_tiles(200, 264, 96, 112, overlap=64, margin=16)
    with torch.inference_mode():
        whole = net(f0, f1, ft0, ft1, 0.4)
        tiled = net(f0, f1, ft0, ft1, 0.4, plan=plan)["frame"]
    assert whole["coarse"].abs().max() > 0.1  # the pass really corrects the flows
    assert psnr(tiled, whole["frame"]) > 70
    assert_no_seam(tiled - whole["frame"], plan, limit=1 / 255 / 4)


def test_a_run_with_a_coarse_pass_trains_from_a_refiner_without_it(tmp_path):
    from test_refiner_visibility import train_grown

    last, trained = train_grown(tmp_path, "coarse = 2\ncoarse_channels = [4, 8]")
    assert last["step"] == 20 and "pack0" in last["eval"]
    assert trained.config.coarse == 2 and trained.config.coarse_channels == (4, 8)
    assert trained.coarse.net.head.weight.abs().sum() > 0


def test_coarse_settings_are_checked():
    with pytest.raises(OptionError, match="coarse must be"):
        RefinerConfig(coarse=3)
    with pytest.raises(OptionError, match="coarse_channels"):
        RefinerConfig(coarse=4, coarse_channels=(8,))
    assert RefinerConfig.from_dict(COARSE.to_dict()) == COARSE
    with pytest.raises(OptionError, match="coarse pass"):
        start_from(Refiner(BASE), Refiner(COARSE))
    with pytest.raises(OptionError, match="coarse pass"):
        start_from(Refiner(RefinerConfig(channels=(4, 8, 8), fallback=True, summary=True,
                                         coarse=2, coarse_channels=(4, 8, 8))), Refiner(COARSE))
