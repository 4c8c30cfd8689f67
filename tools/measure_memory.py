"""Measure the memory per pixel of the refiner and the diffusion model (vidiff.model.memory).

    python tools/measure_memory.py [--device cpu|cuda] [--write]

Four costs, each the slope of the peak memory between two frame sizes (so fixed costs cancel):
- ``refiner_tile``: one untiled ``Refiner`` step (warps, the U-Net, the blend) on frames and
  flows already in memory, per pixel: what a tile of it needs;
- ``refiner_frame``: ``RefinedMotion.estimate`` with the U-Net tiled at a fixed 256x256 tile, so
  what grows is the whole-frame part (frames, flows, warps, input, blend accumulators);
- ``denoiser_tile``: one forward of the default diffusion U-Net, per pixel per window frame;
- ``denoiser_frame``: two ``dpmpp2m`` steps over a 3-frame window with the network tiled at a
  fixed tile, per pixel per window frame.
On the CPU each measurement runs in a fresh process and reads the peak resident memory
(``VmHWM``, reset through ``/proc/self/clear_refs``) over the resident memory before the call;
on CUDA, ``max_memory_allocated`` over ``memory_allocated``. The costs are rounded up by 10%
(headroom) and, with ``--write``, stored in vidiff/model/memory.py between its MEASURED markers.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import torch

SIZES = ((384, 512), (768, 1024))
MEMORY_PY = Path(__file__).resolve().parents[1] / "vidiff" / "model" / "memory.py"


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def peak_of(fn, device: torch.device) -> int:
    """Bytes of memory ``fn()`` needed above what was in use before it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    fn()
    return _status("VmHWM") - before


def measure(part: str, h: int, w: int, device: torch.device) -> int:
    """Peak bytes of one ``part`` run at ``h x w`` (see module docstring)."""
    from vidiff.model import Cond, Denoiser, ModelConfig, RefinedMotion, Refiner, sample
    from vidiff.model.tiling import plan_tiles

    torch.manual_seed(0)
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():  # not inference_mode: models built inside would be inference tensors
        if part.startswith("refiner"):
            refiner = Refiner().eval().to(device)
            if part == "refiner_tile":
                f0, f1, flow = (torch.rand(1, c, h, w, device=device) for c in (3, 3, 2))
                refiner(f0[..., :64, :64], f1[..., :64, :64], flow[..., :64, :64],
                        -flow[..., :64, :64], 0.5)  # warm-up: allocator, oneDNN primitives
                return peak_of(lambda: refiner(f0, f1, flow, -flow, 0.5), device)
            f0 = torch.rand(1, 3, h, w, device=device)
            f1 = f0.roll(3, -1)
            plan = plan_tiles(h, w, 256, 256, overlap=64, margin=16)
            motion = RefinedMotion(refiner)
            refiner_call = refiner.forward
            motion.refiner.forward = lambda *a, **k: refiner_call(*a[:5], plan=plan)
            return peak_of(lambda: motion.estimate(f0, f1, [0.5]), device)
        denoiser = Denoiser(ModelConfig()).eval().to(device)
        frames = torch.rand(1, 3, 3, h, w, device=device)
        mask = torch.tensor([[True, False, True]], device=device)
        times = torch.tensor([[0.0, 0.5, 1.0]], device=device)
        cond = Cond(frames, mask, frames.clone(), times)
        if part == "denoiser_tile":
            x = torch.randn(1, 3, 3, h, w, device=device)
            denoiser(x, 1.0, cond)  # warm-up, and the stem cache is filled as when sampling
            return peak_of(lambda: denoiser(x, 1.0, cond), device)
        plan = plan_tiles(h, w, 256, 256, overlap=128, margin=32, multiple=64)
        return peak_of(lambda: sample(denoiser, cond, steps=2, generator=gen, plan=plan), device)


PER_FRAME = {"refiner_tile": 1, "refiner_frame": 1, "denoiser_tile": 3, "denoiser_frame": 3}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write", action="store_true", help="store the costs in memory.py")
    parser.add_argument("--parts", default=",".join(PER_FRAME),
                        help="costs to measure (the others keep their stored values)")
    parser.add_argument("--child", nargs=3, metavar=("PART", "H", "W"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.child:
        part, h, w = args.child[0], int(args.child[1]), int(args.child[2])
        print(json.dumps({"bytes": measure(part, h, w, device)}))
        return 0
    from vidiff.model.memory import COSTS

    costs, rows = dict(COSTS), []
    for part in args.parts.split(","):
        per = PER_FRAME[part]
        peaks = []
        for h, w in SIZES:
            if device.type == "cuda":
                peaks.append(measure(part, h, w, device))
            else:  # a fresh process each: a warm heap would hide what a cold one needs
                cmd = [sys.executable, __file__, "--device", args.device, "--child", part,
                       str(h), str(w)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                peaks.append(json.loads(out.strip().splitlines()[-1])["bytes"])
        pixels = [h * w * per for h, w in SIZES]
        slope = (peaks[1] - peaks[0]) / (pixels[1] - pixels[0])
        costs[part] = int(math.ceil(slope * 1.1))
        rows.append((part, peaks, slope))
    print("| cost | peak at " + " / ".join(f"{w}x{h}" for h, w in SIZES)
          + " (MiB) | bytes per pixel (x frames) |\n|---|---|---|")
    for part, peaks, slope in rows:
        print(f"| {part} | {' / '.join(f'{p / 2**20:.0f}' for p in peaks)} | {slope:.0f} |")
    print(json.dumps(costs))
    if args.write:
        note = (f"{datetime.date.today()}, {device.type}, torch {torch.__version__}: "
                f"python tools/measure_memory.py --device {args.device} --write")
        body = "COSTS = {\n" + "".join(f'    "{k}": {v},\n' for k, v in costs.items()) + "}"
        text = MEMORY_PY.read_text()
        block = (f"# BEGIN MEASURED: bytes per pixel (per frame seen at once); "
                 f"tools/measure_memory.py --write\n{body}\nMEASURED = {note!r}\n# END MEASURED")
        text = re.sub(r"# BEGIN MEASURED.*?# END MEASURED", lambda _: block, text, flags=re.S)
        MEMORY_PY.write_text(text)
        print(f"wrote {MEMORY_PY}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
