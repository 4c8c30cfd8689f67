"""Big frames on the CPU: time and peak memory per in-between frame, and what reduced-scale flow
costs in quality.

    python tools/bench_big_frames.py --speed [--sizes 720p,1080p,2160p] [--max-memory 2G]
    python tools/bench_big_frames.py --flow-scale      # needs ../shared/data (skipped if absent)

``--speed``: for each size, in a fresh process, one 2x in-between frame of a synthetic pair through
the motion estimate + refiner (``RefinedMotion``, the default refiner config with a non-zero
head, as ``vidiff interpolate`` runs it with the budget of ``--max-memory``, default: the CPU
default), best of ``--repeat``; peak RSS growth during the call (``VmHWM``) and the tiles used.
Stop other jobs first: times on a shared CPU are not figures (the load average is printed).

``--flow-scale``: PSNR of the motion estimate (mu) of the middle frame of triplets against the
real frame, with DIS at the default reduced size (``max_flow_pixels`` 160,000) and at larger
ones, on 1080p clips and on 720p frames upscaled to 1440p and 2160p (bicubic).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure_memory import peak_of  # noqa: E402

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920), "2160p": (2160, 3840), "4320p": (4320, 7680)}
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FLOW_PIXELS = (160_000, 640_000, 2_073_600, 8_294_400)


def pair(h: int, w: int):
    ys = torch.linspace(0, 1, h)[:, None]
    xs = torch.linspace(0, 1, w)[None, :]
    out = []
    for shift in (0.0, 0.004):
        img = torch.stack([0.5 + 0.4 * torch.sin(90 * (xs - shift) + 53 * ys + c) for c in range(3)])
        out.append(img[None].clamp(0, 1))
    return out


def child(name: str, budget: int | None, repeat: int) -> dict:
    from vidiff.model import RefinedMotion, Refiner
    from vidiff.model.memory import Budget, default_budget, plan_for

    torch.manual_seed(0)
    refiner = Refiner()
    torch.nn.init.normal_(refiner.head.weight, std=0.01)
    if budget is None:
        budget = Budget(default_budget(torch.device("cpu")), strict=False)
    motion = RefinedMotion(refiner, max_memory=budget)
    h, w = SIZES[name]
    f0, f1 = pair(h, w)
    peak = peak_of(lambda: motion.estimate(f0, f1, [0.5]), torch.device("cpu"))
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        motion.estimate(f0, f1, [0.5])
        best = min(best, time.perf_counter() - start)
    plan = plan_for("refiner", h, w, 1, motion.max_memory)
    return {"size": name, "seconds": best, "peak_mib": peak / 2**20, "tiles": len(plan.tiles),
            "budget_mib": getattr(budget, "bytes", budget) / 2**20}


def speed(args) -> None:
    print(f"load average {os.getloadavg()[0]:.2f}; torch threads {torch.get_num_threads()}")
    print("| size | s per in-between frame | peak RSS growth (MiB) | tiles | budget (MiB) |")
    print("|---|---|---|---|---|")
    for name in args.sizes.split(","):
        cmd = [sys.executable, __file__, "--child", name, "--repeat", str(args.repeat)]
        if args.max_memory:
            cmd += ["--max-memory", str(args.max_memory)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {name} | {r['seconds']:.2f} | {r['peak_mib']:.0f} | {r['tiles']} | "
              f"{r['budget_mib']:.0f} |", flush=True)


def triplets(limit: int):
    """(name, frame0, frame1, frame2) uint8 RGB: 1080p clips, then 720p frames upscaled."""
    clips = [DATA / "clips" / n for n in ("mmaction2_demo_skeleton.mp4", "moviepy_smpte-2997.mp4")]
    for path in clips:
        if path.exists():
            import av  # only here: the rest of this tool needs no PyAV

            with av.open(str(path)) as box:
                frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(40), box.decode(video=0))]
            for i in range(0, len(frames) - 2, 12)[:limit]:
                yield f"{path.stem} 1080p #{i}", frames[i], frames[i + 1], frames[i + 2]
    seq = DATA / "sequences" / "toflow_baseball_1280x720"
    names = sorted(seq.glob("*.png"))[: 2 + limit]
    imgs = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in names]
    for scale, label in ((2, "1440p"), (3, "2160p")):
        for i in range(len(imgs) - 2):
            up = [cv2.resize(im, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
                  for im in imgs[i : i + 3]]
            yield f"baseball 720p x{scale} = {label} #{i}", *up


def flow_scale(args) -> None:
    from vidiff.motion import FlowMotion, FlowMotionConfig

    if not DATA.exists():
        print(f"skipped: {DATA} is absent")
        return
    print("| triplet | " + " | ".join(f"mu PSNR, flow <= {p:,} px (s)" for p in FLOW_PIXELS) + " |")
    print("|---|" + "---|" * len(FLOW_PIXELS))
    for name, a, b, c in triplets(args.triplets):
        t = [torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 for x in (a, b, c)]
        cells = []
        for pixels in FLOW_PIXELS:
            if pixels > 2 * a.shape[0] * a.shape[1]:
                cells.append("-")
                continue
            motion = FlowMotion(FlowMotionConfig(max_flow_pixels=pixels))
            start = time.perf_counter()
            mu = motion.estimate(t[0], t[2], [0.5])[:, :, 0]
            seconds = time.perf_counter() - start
            mse = ((mu * 255).round() / 255 - t[1]).square().mean().item()
            cells.append(f"{10 * math.log10(1 / mse):.2f} ({seconds:.1f})")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--flow-scale", action="store_true")
    parser.add_argument("--sizes", default="720p,1080p,2160p")
    parser.add_argument("--max-memory", type=int, help="bytes (default: the CPU default)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--triplets", type=int, default=2, help="per source, for --flow-scale")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.max_memory, args.repeat)))
        return 0
    print(f"`{' '.join([sys.executable, *sys.argv])}`\n")
    if args.speed:
        speed(args)
    if args.flow_scale:
        flow_scale(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
