"""Benchmark ``vidiff batch``: files per minute and frames per second, local jobs vs Ray.

Makes a folder of short synthetic 480p clips (a smooth moving texture, in a temporary folder),
runs ``vidiff batch`` on it as a subprocess (what a user runs, start-up included) with
``--jobs 1``, ``--jobs 2`` and ``--ray`` (a new local Ray runtime, when Ray is installed), each
into a fresh output folder, and prints a markdown table with the machine and the commands.
Not a test: the numbers depend on the machine and on whatever else runs on it (the load
average is printed before and after).

    python tools/bench_batch.py                     # 20 clips of 12 frames, 854x480, --multi 2
    python tools/bench_batch.py --clips 4 --frames 6 --steps 0 --output bench.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from machine import machine_line  # tools/machine.py (this folder)

ROOT = Path(__file__).resolve().parents[1]


def make_clip(path: Path, frames: int, size: tuple[int, int], seed: int) -> None:
    """A smooth texture moving 3 px/frame right and 1 px/frame down, x264 at 24 fps."""
    w, h = size
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    waves = rng.uniform([20, 40, 40, 0], [60, 160, 160, 6.28], size=(3, 3, 4))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24, options={"crf": "18", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            x, y = xs - 3 * i, ys - 1 * i
            image = np.full((h, w, 3), 128, np.float32)
            for c in range(3):
                for amp, lx, ly, phase in waves[c]:
                    image[..., c] += amp * np.sin(2 * np.pi * (x / lx + y / ly) + phase)
            frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), "rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 24)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def run_batch(src: Path, out: Path, extra: list[str], common: list[str]) -> dict:
    cmd = [sys.executable, "-m", "vidiff", "batch", str(src), "-o", str(out), "-q", *common, *extra]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"batch failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    records = [json.loads(line) for line in (out / "vidiff-batch.jsonl").read_text().splitlines()]
    done = [r for r in records if r["status"] == "done"]
    frames = sum(r["frames_out"] for r in done)
    work = sum(r["seconds"] for r in done)
    return {"cmd": " ".join(["vidiff", "batch", "IN", "-o", "OUT", "-q", *common, *extra]),
            "files": len(done), "frames": frames, "seconds": seconds, "file_seconds": work}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=20)
    p.add_argument("--frames", type=int, default=12, help="frames per clip (0.5 s at 24 fps)")
    p.add_argument("--size", default="854x480")
    p.add_argument("--multi", type=int, default=2)
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: vidiff's)")
    p.add_argument("--no-ray", action="store_true", help="skip the Ray run")
    p.add_argument("--output", help="also write the markdown table here")
    args = p.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    common = ["--multi", str(args.multi)] + ([] if args.steps is None else ["--steps", str(args.steps)])
    runs = [("local, --jobs 1", ["--jobs", "1"]), ("local, --jobs 2", ["--jobs", "2"])]
    try:
        import ray  # noqa: F401

        has_ray = not args.no_ray
    except ImportError:
        has_ray = False
    if has_ray:
        runs.append(("Ray (new local runtime), 2 CPUs", ["--ray"]))

    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="vidiff-bench-batch-") as tmp:
        src = Path(tmp) / "clips"
        src.mkdir()
        for i in range(args.clips):
            make_clip(src / f"clip{i:02d}.mp4", args.frames, (w, h), seed=i)
        for i, (name, extra) in enumerate(runs):
            print(f"running {name} ...", file=sys.stderr)
            results.append((name, run_batch(src, Path(tmp) / f"out{i}", extra, common)))
    load_after = os.getloadavg()


    lines = [
        f"`vidiff batch` on {args.clips} clips of {args.frames} frames, {w}x{h}, 24 fps, "
        f"`--multi {args.multi}`" + ("" if args.steps is None else f" `--steps {args.steps}`"),
        "",
        f"Machine: {machine_line()}; load average before/after: "
        f"{load_before[0]:.1f} / {load_after[0]:.1f}",
        "",
        "| run | files | output frames | wall s (with start-up) | files/min | frames/s "
        "| sum of per-file s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results:
        lines.append(
            f"| {name} | {r['files']} | {r['frames']} | {r['seconds']:.1f} | "
            f"{60 * r['files'] / r['seconds']:.1f} | {r['frames'] / r['seconds']:.1f} | "
            f"{r['file_seconds']:.1f} |"
        )
    if has_ray:
        local = min(r["seconds"] for name, r in results if name.startswith("local"))
        ray_s = results[-1][1]["seconds"]
        lines += ["", f"Ray overhead against the faster local run: {ray_s - local:+.1f} s "
                      f"({100 * (ray_s / local - 1):+.0f} %)"]
    lines += ["", "Commands:"] + [f"- `{r['cmd']}`" for _, r in results]
    text = "\n".join(lines)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
