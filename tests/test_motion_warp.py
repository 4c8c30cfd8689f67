"""backward_warp and flows_to_time: exact pixel conventions of vidiff.motion."""

from __future__ import annotations

import torch

from vidiff.motion import backward_warp, flows_to_time


def test_zero_flow_is_identity():
    image = torch.rand(2, 3, 7, 9)
    assert torch.allclose(backward_warp(image, torch.zeros(2, 2, 7, 9)), image, atol=1e-6)


def test_integer_flow_shifts_by_whole_pixels_dx_then_dy():
    image = torch.rand(1, 3, 6, 8)
    flow = torch.zeros(1, 2, 6, 8)
    flow[:, 0] = 2.0  # dx: sample two pixels to the right
    flow[:, 1] = 1.0  # dy: one pixel down
    out = backward_warp(image, flow)
    assert torch.allclose(out[..., :-1, :-2], image[..., 1:, 2:], atol=1e-6)
    # border padding: samples past the edge repeat the last column/row
    assert torch.allclose(out[..., :-1, -1], image[..., 1:, -1], atol=1e-6)


def test_half_pixel_flow_averages_neighbours():
    image = torch.rand(1, 1, 4, 5)
    flow = torch.zeros(1, 2, 4, 5)
    flow[:, 0] = 0.5
    out = backward_warp(image, flow)
    expected = (image[..., :-1] + image[..., 1:]) / 2
    assert torch.allclose(out[..., :-1], expected, atol=1e-6)


def test_flows_to_time_for_constant_motion():
    v = torch.tensor([3.0, -1.0]).view(1, 2, 1, 1).expand(1, 2, 4, 4)
    for t in (0.25, 0.5, 2.0, -1.0):
        to0, to1 = flows_to_time(v, -v, t)
        assert torch.allclose(to0, -t * v) and torch.allclose(to1, (1 - t) * v)


def _wave(x: torch.Tensor) -> torch.Tensor:
    return 0.5 + 0.4 * torch.sin(2 * torch.pi * x / 5.0)  # a fine, band-limited texture


def test_bicubic_warp_keeps_fine_detail_that_bilinear_blurs():
    xs = torch.arange(64, dtype=torch.float32)
    image = _wave(xs).view(1, 1, 1, 64).expand(1, 3, 8, 64).contiguous()
    flow = torch.zeros(1, 2, 8, 64)
    flow[:, 0] = 0.5  # half a pixel: the worst case for bilinear sampling
    truth = _wave(xs + 0.5).view(1, 1, 1, 64)
    inner = (..., slice(2, -2))
    err = {m: (backward_warp(image, flow, mode=m) - truth)[inner].abs().max() for m in
           ("bilinear", "bicubic")}
    assert err["bicubic"] < err["bilinear"] / 4
    # the OpenCV path (CPU, no autograd) and grid_sample (autograd) sample the same
    graded = backward_warp(image, flow.clone().requires_grad_(True), mode="bicubic")
    assert torch.allclose(graded.detach(), backward_warp(image, flow, mode="bicubic"), atol=1e-4)
    assert torch.allclose(backward_warp(image, torch.zeros_like(flow), mode="bicubic"), image,
                          atol=1e-6)


def test_unknown_warp_modes_are_refused():
    import pytest

    from vidiff.errors import OptionError
    from vidiff.motion import FlowMotionConfig

    with pytest.raises(ValueError, match="warp mode"):
        backward_warp(torch.rand(1, 1, 4, 4), torch.zeros(1, 2, 4, 4), mode="nearest")
    with pytest.raises(OptionError, match="warp must be one of"):
        FlowMotionConfig(warp="nearest")
