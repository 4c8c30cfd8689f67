"""Benchmark the diffusion model on this machine: size, FLOPs and CPU times.

    python tools/bench_model.py [--config default|tiny] [--repeat 3] [--steps 4] [--threads N]

Reports, as a markdown table with machine info and the command line:
- parameter count and fp16 weights size;
- FLOPs per frame at 1280x720 (torch.utils.flop_counter.FlopCounterMode: a multiply-add counts 2);
- forward-pass time of one window (2 known + 1 unknown frames) at 854x480, 1280x720, 1920x1080
  (best of ``--repeat``, after one warm-up);
- total time for one 1280x720 in-between frame: motion estimate (vidiff.motion.FlowMotion when
  importable, else a linear blend) + ``--steps`` steps of the default sampler.
The load average is printed too: other processes on a shared machine inflate every time. On a
busy machine ``--threads 1`` is much faster than 2 threads (OpenMP threads spin while their partner
is descheduled: we measured 5x at load ~6 on 2 cores); on an idle one, use all cores.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

import torch
from machine import machine_line  # tools/machine.py (this folder)
from torch.utils.flop_counter import FlopCounterMode

from vidiff.model import DEFAULT_SAMPLER, SAMPLERS, Cond, Denoiser, ModelConfig, build_cond, sample

SIZES = {"480p": (480, 854), "720p": (720, 1280), "1080p": (1080, 1920)}


class Blend:
    """Fallback motion estimate: linear blend of the two frames."""

    def estimate(self, frame0, frame1, times):
        return torch.stack([(1 - t) * frame0 + t * frame1 for t in times], 2)


def motion_estimator():
    try:
        from vidiff.motion import FlowMotion
    except ImportError:
        return Blend(), "linear blend (vidiff.motion not importable)"
    return FlowMotion(), "vidiff.motion.FlowMotion (default config)"


def window(h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two known frames at t=0, 1 and one unknown at t=0.5 (a smooth moving pattern)."""
    ys = torch.linspace(0, 1, h)[:, None]
    xs = torch.linspace(0, 1, w)[None, :]
    frames = []
    for t in (0.0, 1.0, 0.5):
        shift = 0.02 * t
        img = torch.stack(
            [
                0.5
                + 0.4
                * torch.sin(12 * (xs - shift) + 7 * ys + c)
                * torch.cos(9 * ys - 5 * (xs - shift) + 2 * c)
                for c in range(3)
            ]
        )
        frames.append(img)
    frames = torch.stack(frames, 1)[None]
    return frames, torch.tensor([[True, True, False]]), torch.tensor([[0.0, 1.0, 0.5]])


def best_time(fn, repeat: int) -> tuple[float, float]:
    """Best (wall seconds, CPU seconds of this process) over ``repeat`` runs after a warm-up.

    CPU seconds / threads estimates the wall time on an idle machine when others compete for it.
    """
    fn()  # warm-up (allocator, oneDNN primitive cache)
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def fmt(wall: float, cpu: float, per: int = 1) -> str:
    threads = torch.get_num_threads()
    text = f"{wall:.3f} s wall, {cpu:.2f} CPU-s (~{cpu / threads:.3f} s on {threads} idle core(s))"
    if per > 1:
        text += f"; per frame ~{cpu / threads / per:.3f} s"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=["default", "tiny"], default="default")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--steps", type=int, default=4, help="sampler steps for the 720p frame")
    parser.add_argument("--sampler", choices=sorted(SAMPLERS), default=DEFAULT_SAMPLER)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)

    config = getattr(ModelConfig, args.config)()
    denoiser = Denoiser(config).eval()
    torch.nn.init.normal_(denoiser.net.head.weight, std=0.01)  # non-zero output, like a trained one
    params = sum(p.numel() for p in denoiser.parameters())

    rows: list[tuple[str, str]] = [
        (
            "config",
            f"`{args.config}`: channels {config.channels}, blocks {config.blocks}, "
            f"stem {config.stem}",
        ),
        ("parameters", f"{params / 1e6:.2f} M ({params * 2 / 2**20:.1f} MiB as fp16)"),
    ]
    frames, mask, times = window(*SIZES["720p"])
    cond = Cond(torch.where(mask[:, None, :, None, None], frames, 0.0), mask, frames, times)
    x = torch.randn_like(frames)
    with FlopCounterMode(display=False) as counter:
        denoiser(x, 1.0, cond)
    rows.append(("FLOPs per frame, 1280x720", f"{counter.get_total_flops() / 3 / 1e9:.2f} G"))

    for h, w in SIZES.values():
        frames, mask, times = window(h, w)
        cond = Cond(torch.where(mask[:, None, :, None, None], frames, 0.0), mask, frames, times)
        x = torch.randn_like(frames)
        wall, cpu = best_time(lambda x=x, cond=cond: denoiser(x, 1.0, cond), args.repeat)
        rows.append((f"forward, 3-frame window, {w}x{h}", fmt(wall, cpu, per=3)))

    motion, motion_name = motion_estimator()
    frames, mask, times = window(*SIZES["720p"])
    cond = build_cond(frames, mask, times, motion)
    wall_m, cpu_m = best_time(lambda: build_cond(frames, mask, times, motion), args.repeat)
    rows.append(("motion estimate (build_cond), 1280x720", fmt(wall_m, cpu_m)))
    wall_s, cpu_s = best_time(
        lambda: sample(
            denoiser,
            cond,
            steps=args.steps,
            sampler=args.sampler,
            generator=torch.Generator().manual_seed(0),
        ),
        args.repeat,
    )
    rows.append((f"sampling, {args.steps} steps `{args.sampler}`, 1280x720", fmt(wall_s, cpu_s)))
    rows.append(
        (
            "**one 1280x720 in-between frame (motion + sampling)**",
            fmt(wall_m + wall_s, cpu_m + cpu_s),
        )
    )
    rows.append(("motion estimate", motion_name))

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"## vidiff model benchmark\n\n`{shlex.join([sys.executable, *sys.argv])}`\n")
    print(
        f"- machine: {machine_line()}; {torch.get_num_threads()} torch threads"
    )
    print(
        f"- load average (1/5/15 min) at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}\n"
    )
    print("| measure | value |\n|---|---|")
    for key, value in rows:
        print(f"| {key} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
