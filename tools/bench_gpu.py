"""GPU benchmark of 2x interpolation: output fps end to end and for the model alone, peak memory,
FLOPs per frame against the measured matrix throughput. One prepared call for a GPU lease:

    python tools/bench_gpu.py --out $OUT/bench_gpu.json                  # 720p, 1080p, 2160p
    python tools/bench_gpu.py --quick --device cpu --out /tmp/bench.json  # the same code, tiny

Frames are synthetic and in memory (the GPU machine has no PyAV: this imports only torch, numpy,
OpenCV, einops and vidiff modules that do not import PyAV). Without ``--weights`` the models are
the default refiner and diffusion configs, randomly initialised (the same work as trained ones).

Per size and variant: **end to end** = ``Interpolator.run`` over ``--frames`` uint8 frames at 2x
(scene detection, DIS flow on the CPU, refiner, diffusion, back to uint8), in output frames/s;
**model alone** = refiner + ``steps`` sampler steps on ``--batch`` in-between frames already on the
device (flows precomputed), in in-between frames/s; each at every ``--steps``. Variants are
``+``-joined tokens, each measurable on/off: ``fp32`` or ``bf16`` (autocast), ``cl``
(channels-last), ``compile`` (torch.compile of both networks), ``bN`` (N windows per model call).
Peak memory is ``torch.cuda.max_memory_allocated`` (on the CPU: peak RSS growth). The run stops
cleanly when ``--budget-s`` is spent; results are written to ``--out`` after every measurement.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure_memory import peak_of  # noqa: E402  (tools/, imports no PyAV)

from vidiff.device import resolve_device  # noqa: E402
from vidiff.model import Cond, Denoiser, ModelConfig, Refiner, sample  # noqa: E402
from vidiff.motion import FlowMotion  # noqa: E402
from vidiff.motion.blend import flows_to_time  # noqa: E402
from vidiff.pipelines.interpolate import Interpolator  # noqa: E402

SIZES = {"720p": (720, 1280), "1080p": (1080, 1920), "2160p": (2160, 3840)}


def parse_size(text: str) -> tuple[str, int, int]:
    if text in SIZES:
        return (text, *SIZES[text])
    w, _, h = text.partition("x")
    return text, int(h), int(w)


def synthetic_frames(n: int, h: int, w: int) -> list[np.ndarray]:
    """``n`` uint8 ``h w 3`` frames of a textured pattern panning 4 px a frame."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for i in range(n):
        x = xs - 4 * i
        img = [127 + 100 * np.sin(x / 23 + c) * np.cos(ys / 31 - x / 57 + 2 * c) for c in range(3)]
        out.append(np.ascontiguousarray(np.stack(img, -1).clip(0, 255).astype(np.uint8)))
    return out


class Models:
    """Refiner + denoiser on ``device``, set up as ``variant`` says."""

    def __init__(self, variant: str, device: torch.device, weights: str | None):
        tokens = set(variant.split("+"))
        self.bf16 = "bf16" in tokens
        self.channels_last = "cl" in tokens
        self.batch = next((int(t[1:]) for t in tokens if t[:1] == "b" and t[1:].isdigit()), 1)
        if weights:
            from vidiff.model import load_refiner, load_weights

            self.refiner, self.denoiser = load_refiner(weights), load_weights(weights)
        else:
            torch.manual_seed(0)
            self.refiner, self.denoiser = Refiner(), Denoiser(ModelConfig.default())
            for head in (self.refiner.head, self.denoiser.net.head):
                torch.nn.init.normal_(head.weight, std=0.01)  # non-zero, like trained weights
        self.refiner.eval().to(device)
        self.denoiser.eval().to(device)
        if "cl" in tokens:
            self.refiner.to(memory_format=torch.channels_last)
            self.denoiser.to(memory_format=torch.channels_last)
        if self.bf16:  # wrapping forward (not a `with` block) also covers worker threads
            for m in (self.refiner, self.denoiser):
                m.forward = autocast(m.forward, device)
        self.compile_error = None
        if "compile" in tokens:
            try:
                self.refiner.unet = torch.compile(self.refiner.unet)
                self.denoiser.net = torch.compile(self.denoiser.net)
            except Exception as exc:  # a lease must not die on it: record and go on
                self.compile_error = repr(exc)

    def in_between(self, f0, f1, flows, steps: int, gen: torch.Generator) -> torch.Tensor:
        """Model alone: refined mean, then ``steps`` of diffusion on a 3-frame window."""
        ft0, ft1 = flows_to_time(flows[:, :2], flows[:, 2:], 0.5)
        mu = self.refiner(f0, f1, ft0, ft1, 0.5, flows=flows)["frame"].float().clamp(0, 1)
        if steps == 0:
            return mu
        b = f0.shape[0]
        frames = torch.stack([f0, mu, f1], 2)
        mask = torch.tensor([[True, False, True]] * b, device=f0.device)
        times = torch.tensor([[0.0, 0.5, 1.0]] * b, device=f0.device)
        return sample(self.denoiser, Cond(frames, mask, frames, times), steps=steps, generator=gen)


def autocast(fn, device: torch.device):
    def run(*args, **kwargs):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            return fn(*args, **kwargs)

    return run


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeat: int) -> float:
    """Best wall seconds of ``fn`` over ``repeat`` runs after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def matmul_tflops(device: torch.device, n: int) -> float:
    """Measured dense matrix throughput: an ``n x n`` bf16 matmul (fp32 on the CPU)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    seconds = timed(lambda: [a @ b for _ in range(5)], device, 3) / 5
    return 2 * n**3 / seconds / 1e12


def measure(models: Models, size, steps: int, args, device, budget=None) -> dict:
    name, h, w = size
    frames = synthetic_frames(args.frames, h, w)
    b = models.batch
    t0 = torch.from_numpy(np.stack(frames[:1] * b)).permute(0, 3, 1, 2).float().div(255)
    t1 = torch.from_numpy(np.stack(frames[1:2] * b)).permute(0, 3, 1, 2).float().div(255)
    flows = FlowMotion().full_flows(t0, t1).to(device)
    t0, t1 = t0.to(device), t1.to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    row: dict = {"size": name, "steps": steps, "batch": b}
    with torch.inference_mode():
        if not models.compile_error and not args.no_flops:
            with FlopCounterMode(display=False) as counter:
                models.in_between(t0[:1], t1[:1], flows[:1], steps, gen)
            row["gflops_per_frame"] = counter.get_total_flops() / 1e9
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        seconds = timed(lambda: models.in_between(t0, t1, flows, steps, gen), device, args.repeat)
        row["model_fps"] = b / seconds
        if device.type == "cuda":
            row["model_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
        elif sys.platform == "linux":
            run = lambda: models.in_between(t0, t1, flows, steps, gen)  # noqa: E731
            row["model_peak_mib"] = peak_of(run, device) / 2**20

    def end_to_end():
        interp = Interpolator(
            motion=models_motion(models, budget), denoiser=models.denoiser, steps=steps,
            device=device, workers=args.workers, max_memory=budget,
        )
        items = [Item(f, Fraction(i)) for i, f in enumerate(frames)]
        return sum(1 for _ in interp.run(items, Fraction(2)))

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    out_frames = end_to_end()
    seconds = timed(end_to_end, device, max(1, args.repeat // 2))
    row["e2e_output_fps"] = out_frames / seconds
    row["e2e_output_frames"] = out_frames
    if device.type == "cuda":
        row["e2e_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return row


class Item:
    def __init__(self, image, time):
        self.image, self.time = image, time


def models_motion(models: Models, budget):
    from vidiff.model import RefinedMotion

    motion = RefinedMotion(models.refiner, FlowMotion(), max_memory=budget)
    if not models.channels_last:  # RefinedMotion turns the refiner channels-last; keep it as asked
        models.refiner.to(memory_format=torch.contiguous_format)
    return motion


def environment(device: torch.device) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__,
           "device": str(device), "cpu": platform.processor() or platform.machine()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu=props.name, gpu_memory_gib=props.total_memory / 2**30,
                   cuda=torch.version.cuda)
    return env


def table(rows: list[dict]) -> str:
    keys = ["variant", "size", "steps", "batch", "e2e_output_fps", "model_fps", "model_peak_mib",
            "e2e_peak_mib", "gflops_per_frame", "mfu_pct", "error"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        cells = [f"{r[k]:.3g}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    from vidiff.cli.common import memory_size

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON results file (rewritten as it goes)")
    parser.add_argument("--sizes", default="720p,1080p,2160p", help="names or WxH, comma-separated")
    parser.add_argument("--steps", default="0,4", help="sampler steps to measure (4 = default)")
    parser.add_argument("--variants", default="fp32,bf16,bf16+cl,bf16+cl+b4,bf16+cl+compile")
    parser.add_argument("--frames", type=int, default=8, help="input frames end to end")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="Interpolator threads end to end")
    parser.add_argument("--max-memory", type=memory_size, help="tile to this budget (e.g. 6G)")
    parser.add_argument("--matmul", type=int, default=8192, help="matmul side for peak TFLOPS")
    parser.add_argument("--weights", help="a weights file holding refiner and denoiser")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--budget-s", type=float, default=480, help="stop cleanly after this")
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count")
    parser.add_argument("--quick", action="store_true",
                        help="tiny run for a CPU check: 64x64, 3 frames, steps 0,1, bf16+cl+b2")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.steps, args.frames, args.repeat = "64x64", "0,1", 3, 1
        args.variants, args.matmul = "bf16+cl+b2", 256
    started = time.perf_counter()
    device = resolve_device(args.device)
    result = {"command": " ".join([sys.executable, *sys.argv]), "env": environment(device),
              "rows": []}
    result["matmul_tflops"] = matmul_tflops(device, args.matmul)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    budget = args.max_memory
    for variant in args.variants.split(","):
        models = Models(variant, device, args.weights)
        for size in map(parse_size, args.sizes.split(",")):
            for steps in map(int, args.steps.split(",")):
                if time.perf_counter() - started > args.budget_s:
                    result["stopped"] = f"--budget-s {args.budget_s} spent before {variant} {size[0]}"
                    break
                try:
                    row = measure(models, size, steps, args, device, budget)
                except Exception as exc:  # e.g. out of memory: note it, go on
                    row = {"size": size[0], "steps": steps, "error": repr(exc)[:300]}
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                row["variant"] = variant
                if models.compile_error:
                    row["error"] = models.compile_error[:300]
                if "gflops_per_frame" in row and "model_fps" in row:
                    achieved = row["gflops_per_frame"] * row["model_fps"] / 1e3
                    row["mfu_pct"] = 100 * achieved / result["matmul_tflops"]
                result["rows"].append(row)
                result["seconds"] = time.perf_counter() - started
                out.write_text(json.dumps(result, indent=1))
    print(f"matrix throughput: {result['matmul_tflops']:.3g} TFLOPS ({args.matmul}^2 matmul)")
    print(table(result["rows"]))
    print(f"wrote {out} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
