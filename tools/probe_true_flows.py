#!/usr/bin/env python
"""How wrong are the motion step's flows on a pack that knows the true ones, and can a network
learn to correct them?

Prints the distribution of the end-point error of the flows to t (DIS, as the pack stores them)
against the true flows (``true_flows.npy``: ``make_triplets.py photos``), over the points known
in each frame. With ``--fit N`` it then trains a fresh U-Net (the refiner's body, 16/32/64/128)
for N steps on the flow error alone (:func:`vidiff.train.refine_loop.flow_error`, batches of 8
augmented training samples), from both warps, both flows to t and t, plus with ``--cost-radius R``
a local cost volume of the two warps (mean absolute grey difference at each of the (2R+1)^2
offsets, 3x3 box-filtered), and reports every 100 steps (and at the end) the error on a fixed batch of held-out
samples, on all known points and on those DIS has within ``--band`` px: whether the corrections
the refiner's flow head would need can be learned from what it sees, apart from everything else.
With ``--scale S`` the network works at 1/S size (warps area-reduced, flows and corrections in
reduced pixels, the correction upsampled bilinearly): a cost volume of radius R there searches
+-R*S full-size pixels, as a coarse pass would.

examples:
  python tools/probe_true_flows.py packs/photos
  python tools/probe_true_flows.py packs/photos --fit 5000 --cost-radius 2 --band 4
  python tools/probe_true_flows.py packs/photos --fit 5000 --cost-radius 4 --scale 4 --band 16
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from vidiff.train.refine_loop import endpoint_errors, flow_error


def banded(batch: dict, band: float) -> torch.Tensor:
    """The batch's true flows, unknown where the motion step is ``band`` px off or more."""
    truth = batch["true_flows"].clone()
    err = endpoint_errors(torch.cat([batch["flow_t0"], batch["flow_t1"]], 1), truth)
    truth[~(err < band).repeat_interleave(2, 1)] = float("nan")
    return truth


def cost_volume(warp0: torch.Tensor, warp1: torch.Tensor, radius: int) -> torch.Tensor:
    g0, g1 = warp0.mean(1, keepdim=True), warp1.mean(1, keepdim=True)
    pad = F.pad(g1, (radius,) * 4, mode="replicate")
    h, w = g0.shape[-2:]
    out = [-(g0 - pad[..., radius + dy : radius + dy + h, radius + dx : radius + dx + w]).abs()
           for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    return F.avg_pool2d(torch.cat(out, 1), 3, 1, 1) * 10


def main(argv: list[str] | None = None) -> int:
    from vidiff.model.flat_unet import FlatUNet
    from vidiff.motion.warp import backward_warp
    from vidiff.train.refine_sampler import Sampler
    from vidiff.train.triplets import read_triplets

    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pack", help="a triplet pack with true_flows.npy")
    parser.add_argument("--fit", type=int, default=0, help="train a probe network this many steps")
    parser.add_argument("--cost-radius", type=int, default=0, help="cost volume radius (0: none)")
    parser.add_argument("--band", type=float, default=4.0, help="the learnable band, px (default 4)")
    parser.add_argument("--scale", type=int, default=1, choices=[1, 2, 4],
                        help="the network's size: 1/scale of the frame (default 1)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pack = read_triplets(args.pack)
    if pack.true_flows is None:
        print(f"probe_true_flows: {args.pack} has no true_flows.npy", file=sys.stderr)
        return 1
    sampler = Sampler([pack], (), pack.frames.shape[2])
    fixed = next(sampler.eval_batches(0, 64, size=64))
    err = endpoint_errors(torch.cat([fixed["flow_t0"], fixed["flow_t1"]], 1), fixed["true_flows"])
    v = err[torch.isfinite(err)].numpy()
    print(f"{len(fixed['t'])} held-out samples: {np.isfinite(err.numpy()).mean():.1%} of points "
          f"known, mean end-point error {v.mean():.3f} px; quantiles 10/25/50/75/90/99%: "
          + " / ".join(f"{q:.3f}" for q in np.quantile(v, [.1, .25, .5, .75, .9, .99])))
    for lo, hi in [(0, .25), (.25, 1), (1, 4), (4, 16), (16, np.inf)]:
        m = (v >= lo) & (v < hi)
        print(f"  {lo:>5} - {hi:<5} px: {m.mean():6.1%} of points, {v[m].sum() / v.sum():6.1%} "
              "of the error")
    if not args.fit:
        return 0
    radius = args.cost_radius
    net = FlatUNet(11 + ((2 * radius + 1) ** 2 if radius else 0), (16, 32, 64, 128), 4)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    band = banded(fixed, args.band)

    scale = args.scale

    def run(b: dict) -> dict:
        w0 = backward_warp(b["frame0"], b["flow_t0"])
        w1 = backward_warp(b["frame1"], b["flow_t1"])
        ft0, ft1 = b["flow_t0"], b["flow_t1"]
        if scale > 1:
            w0, w1, ft0, ft1 = (F.avg_pool2d(x, scale) for x in (w0, w1, ft0 / scale, ft1 / scale))
        n, (h, w) = b["t"].shape[0], w0.shape[-2:]
        x = [w0, w1, ft0 / 20, ft1 / 20, b["t"].view(n, 1, 1, 1).expand(n, 1, h, w)]
        if radius:
            x.append(cost_volume(w0, w1, radius))
        out = net.unet(torch.cat(x, 1)) * 4 * scale
        if scale > 1:
            out = F.interpolate(out, size=b["flow_t0"].shape[-2:], mode="bilinear",
                                align_corners=False)
        return {"flow_t0": b["flow_t0"] + out[:, :2], "flow_t1": b["flow_t1"] + out[:, 2:]}

    rng, start = np.random.default_rng(0), time.monotonic()
    base_all, base_band = (float(flow_error(fixed, t, 0.0)) for t in (fixed["true_flows"], band))
    for step in range(args.fit + 1):
        if step % 100 == 0 or step == args.fit:
            with torch.no_grad():
                res = run(fixed)
                print(f"step {step}: all {float(flow_error(res, fixed['true_flows'], 0.0)):.4f} "
                      f"(DIS {base_all:.4f}), band {float(flow_error(res, band, 0.0)):.4f} "
                      f"(DIS {base_band:.4f})  {time.monotonic() - start:.0f} s", flush=True)
        if step == args.fit:
            break
        batch = sampler.batch(rng, 8)
        loss = flow_error(run(batch), banded(batch, args.band))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return 0


if __name__ == "__main__":
    sys.exit(main())
