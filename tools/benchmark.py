"""Benchmark vidiff: quality on Middlebury and UCF101, end-to-end speed, and peak memory.

    python tools/benchmark.py [--data ../shared/data] [--quality] [--speed] [--memory]
                              [--limit N] [--steps 4] [--weights PATH] [--out FILE.md]
                              [--plots DIR]

With no section flag, all three sections run. Anything whose data or tool is missing is skipped
with a note (the report says what was skipped and why).

- quality: mean PSNR, SSIM and IE (:mod:`vidiff.metrics`; SSIM per RGB channel, Gaussian 11/1.5,
  averaged) of the middle frame against ground truth on ``middlebury/`` (12 sequences) and
  ``ucf101/`` (379 triplets) for: the 50/50 blend; vidiff's motion estimate alone
  (``vidiff.interpolate_pair(..., steps=0, refine=False)``, the CLI's ``--steps 0 --no-refine``);
  vidiff's default model (whatever the weights hold: the refiner, plus the diffusion model at
  ``--steps`` sampler steps when they hold one; only when weights are found: ``--weights`` or the
  default file), and, for weights with a diffusion model, the refiner alone (``--steps 0``); and
  FFmpeg's ``minterpolate=mi_mode=mci`` (only when an ``ffmpeg`` binary is on PATH).
  ``--limit N`` takes the first N triplets of each set.
- speed: frames per second, end to end (decode, interpolate, encode), of
  ``python -m vidiff interpolate IN -o OUT --fps 60 --overwrite`` with the motion estimate alone
  (``--steps 0 --no-refine``) and with the default model (when weights are found), against
  ``ffmpeg -i IN -vf minterpolate=fps=60:mi_mode=mci`` (same x264 settings as vidiff's default:
  crf 18, preset medium) on a 24 fps clip at 480p, 720p and 1080p, ``--seconds`` long, cut and
  scaled from ``clips/moviepy_big_buck_bunny_0_30.webm`` (a synthetic pattern when absent).
  Wall time and the child's peak RSS (``os.wait4``) are reported.
- memory: peak RSS of the same vidiff command on 10 s and 60 s 720p clips (``--memory-seconds``);
  the 60 s clip loops the 30 s source.

The report is markdown (machine, exact command line, one table per section), printed and written
to ``--out`` when given; ``--plots DIR`` also draws its tables as PNG charts (:mod:`plots`, which
needs matplotlib: ``pip install -e ".[bench]"``; ``python tools/plots.py REPORT.md --out DIR``
draws them from a saved report). Sources and outputs live in a temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from machine import machine_line  # tools/machine.py (this folder)

import vidiff
from vidiff.io import EncodeOptions, open_reader, open_writer
from vidiff.metrics import interpolation_error, psnr, ssim

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
SPEED_SOURCE = "clips/moviepy_big_buck_bunny_0_30.webm"
HEIGHTS = (480, 720, 1080)


# --------------------------------------------------------------------------- machine / report


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- quality


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(path)
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def triplets(data: Path, name: str) -> list[tuple[str, Path, Path, Path]]:
    """(id, frame0, frame1, truth) of a benchmark set, sorted; empty when absent."""
    root = data / name
    if name == "middlebury":
        files = ("frame10.png", "frame11.png", "frame10i11.png")
    else:
        files = ("frame_00.png", "frame_02.png", "frame_01_gt.png")
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        paths = [folder / f for f in files]
        if all(p.is_file() for p in paths):
            out.append((folder.name, *paths))
    return out


def evaluation_sets(data, names: str, limit: int = 0):
    """``(name, triplets)`` for each comma-separated set in ``names`` found under ``data`` (the
    first ``limit`` triplets of each when given); prints a line for each set that is absent."""
    for name in names.split(","):
        found = triplets(Path(data), name)
        if not found:
            print(f"{name}: not found under {data}, skipped")
            continue
        yield name, found[:limit] if limit else found


def blend(frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
    mid = (frame0.astype(np.float64) + frame1.astype(np.float64)) / 2
    return np.rint(mid).astype(np.uint8)


def minterpolate_middle(frame0: np.ndarray, frame1: np.ndarray, work: Path) -> np.ndarray:
    """FFmpeg's minterpolate (mci) middle frame: lossless PNGs at 1 fps resampled to 2 fps.

    minterpolate needs frames ahead of the pair to emit anything, so the input is frame0 then
    frame1 three times (repeating the last frame, as at the end of a clip). Outputs are at
    0, 0.5, 1, ... s: index 1 is the middle frame; index 0 and 2 must match the inputs (checked).
    """
    for old in work.glob("*.png"):
        old.unlink()
    for i, frame in enumerate((frame0, frame1, frame1, frame1), start=1):
        cv2.imwrite(str(work / f"in{i}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    command = [
        "ffmpeg",
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-framerate",
        "1",
        "-i",
        str(work / "in%d.png"),
        "-vf",
        "minterpolate=fps=2:mi_mode=mci",
        "-pix_fmt",
        "rgb24",
        str(work / "out%d.png"),
    ]
    subprocess.run(command, check=True)
    outputs = sorted(work.glob("out*.png"), key=lambda p: int(p.stem[3:]))
    frames = [read_rgb(p) for p in outputs]
    if len(frames) < 3 or psnr(frames[0], frame0) < 35 or psnr(frames[2], frame1) < 35:
        raise RuntimeError(f"unexpected minterpolate output: {len(frames)} frames")
    return frames[1]


def find_weights(weights: str | None) -> Path | None:
    from vidiff.pipelines.weights import default_weights_path

    return Path(weights) if weights else default_weights_path()


def model_label(weights: Path, steps: int) -> str:
    from vidiff.model import read_parts

    parts = read_parts(weights)
    label = ["refiner"] if "refiner" in parts else []
    if "denoiser" in parts and steps > 0:
        label.append(f"diffusion --steps {steps}")
    return "vidiff model (" + " + ".join(label or ["nothing"]) + ")"


def quality(args, notes: list[str]) -> str:
    has_ffmpeg = shutil.which("ffmpeg") is not None and not args.no_ffmpeg
    if not has_ffmpeg:
        notes.append("minterpolate skipped: no `ffmpeg` binary on PATH (or --no-ffmpeg).")
    weights = find_weights(args.weights)
    methods: dict[str, callable] = {"50/50 blend": blend}

    def motion(a, b):
        return vidiff.interpolate_pair(
            a, b, times=(0.5,), steps=0, refine=False, device=args.device
        )[0]

    methods["vidiff motion estimate (--steps 0 --no-refine)"] = motion
    if weights is not None:
        from vidiff.model import read_parts

        parts = read_parts(weights)
        steps = args.steps if "denoiser" in parts else 0

        def model(a, b, steps=steps):
            return vidiff.interpolate_pair(
                a, b, times=(0.5,), steps=steps, weights=weights, device=args.device
            )[0]

        if "refiner" in parts and steps > 0:
            methods["vidiff refiner alone (--steps 0)"] = lambda a, b: model(a, b, 0)
        methods[model_label(weights, steps)] = model
    else:
        notes.append("model skipped: no weights (pass --weights, or weights/vidiff.safetensors).")
    sections = []
    with tempfile.TemporaryDirectory(prefix="vidiff-bench-") as tmp:
        if has_ffmpeg:
            methods["ffmpeg minterpolate (mci)"] = lambda a, b: minterpolate_middle(a, b, Path(tmp))
        for name in ("middlebury", "ucf101"):
            items = triplets(args.data, name)
            if not items:
                notes.append(f"{name} skipped: {args.data / name} not found.")
                continue
            if args.limit:
                items = items[: args.limit]
            scores = {m: [] for m in methods}
            seconds = {m: 0.0 for m in methods}
            for _, p0, p1, pt in items:
                a, b, truth = read_rgb(p0), read_rgb(p1), read_rgb(pt)
                for method, fn in methods.items():
                    start = time.perf_counter()
                    out = fn(a, b)
                    seconds[method] += time.perf_counter() - start
                    scores[method].append(
                        (psnr(out, truth), ssim(out, truth), interpolation_error(out, truth))
                    )
            rows = []
            for method, values in scores.items():
                mean = np.mean(np.array(values), axis=0)
                ms = 1000 * seconds[method] / len(items)
                rows.append(
                    [method, f"{mean[0]:.2f}", f"{mean[1]:.4f}", f"{mean[2]:.3f}", f"{ms:.0f}"]
                )
            sections.append(
                f"### {name} ({len(items)} triplets)\n\n"
                + table(["method", "PSNR (dB)", "SSIM", "IE", "ms / frame"], rows)
            )
            print(sections[-1] + "\n", flush=True)
    return "## Quality (middle frame vs ground truth)\n\n" + "\n\n".join(sections)


# --------------------------------------------------------------------------- speed / memory


def make_clip(data: Path, path: Path, height: int, seconds: float, start: float = 0.0) -> None:
    """A 24 fps H.264 clip of ``seconds`` at ``height`` (16:9), from Big Buck Bunny (looped when
    longer than the source) or, when the footage is absent, a moving synthetic pattern."""
    width = round(height * 16 / 9 / 2) * 2
    count = round(seconds * 24)
    options = EncodeOptions(codec="libx264", crf=18, preset="veryfast")
    source = data / SPEED_SOURCE
    with open_writer(path, Fraction(24), (width, height), options=options, overwrite=True) as out:
        if source.is_file():
            written = 0
            while written < count:
                with open_reader(source) as reader:
                    for frame in reader:
                        if frame.time < start:
                            continue
                        image = cv2.resize(
                            frame.image, (width, height), interpolation=cv2.INTER_AREA
                        )
                        out.write(np.ascontiguousarray(image))
                        written += 1
                        if written == count:
                            break
        else:
            ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
            for i in range(count):
                x = xs - 4 * i
                value = 128 + 60 * np.sin(x / 23) + 60 * np.sin((ys + 2 * i) / 31)
                image = np.repeat(value[..., None], 3, axis=2)
                image[..., 1] = 128 + 100 * np.sin((x + ys) / 47)
                out.write(np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8)))


def run_measured(command: list[str]) -> tuple[float, float]:
    """Run ``command``; return (wall seconds, peak RSS of the child in MiB). Raises on failure.

    The peak is the child's own high-water mark (``VmHWM``), read every 50 ms while it runs:
    ``wait4``'s ``ru_maxrss`` would do, but Linux starts a forked child's at the parent's
    resident size, so after the quality section (models and images loaded here) every small
    child would read as big as this process."""
    start = time.perf_counter()
    child = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = [0.0]

    def watch() -> None:
        status = Path(f"/proc/{child.pid}/status")
        while child.returncode is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]) / 1024.0)
            except (OSError, ValueError):
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    watcher.join()
    if child.returncode != 0:
        err = child.stderr.read().decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{shlex.join(command)} failed ({child.returncode}): {' / '.join(err)}")
    if not peak[0]:  # no /proc (not Linux): the rusage figure, KiB on Linux, bytes on macOS
        peak[0] = usage.ru_maxrss / (1024.0 if sys.platform != "darwin" else 1024.0**2)
    return wall, peak[0]


def count_frames(path: Path) -> int:
    with open_reader(path) as reader:
        return sum(1 for _ in reader)


MOTION_ONLY = ["--steps", "0", "--no-refine"]


def vidiff_command(src: Path, out: Path, args, model: list[str] = MOTION_ONLY) -> list[str]:
    """The CLI command; ``model`` options default to the motion estimate alone."""
    return [
        sys.executable, "-m", "vidiff", "interpolate", str(src), "-o", str(out), "--fps", "60",
        *model, "--overwrite", "--quiet", "--device", args.device,
    ]


def speed(args, notes: list[str]) -> str:
    from vidiff.model import read_parts

    has_ffmpeg = shutil.which("ffmpeg") is not None and not args.no_ffmpeg
    weights = find_weights(args.weights)
    if not (args.data / SPEED_SOURCE).is_file():
        notes.append(f"speed: {args.data / SPEED_SOURCE} not found, using a synthetic clip.")
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidiff-bench-") as tmp:
        for height in HEIGHTS:
            src = Path(tmp) / f"src_{height}p.mp4"
            make_clip(args.data, src, height, args.seconds, start=10.0)
            n_in = count_frames(src)
            runs = [("vidiff --steps 0 --no-refine", Path(tmp) / f"vidiff_{height}p.mp4")]
            if weights is not None and height in args.model_heights:
                runs.append((model_label(weights, args.steps), Path(tmp) / f"model_{height}p.mp4"))
            if has_ffmpeg:
                runs.append(("ffmpeg minterpolate mci", Path(tmp) / f"ffmpeg_{height}p.mp4"))
            for tool, out in runs:
                if tool.startswith("vidiff model"):
                    model = ["--weights", str(weights), "--steps", str(args.steps)]
                    if "denoiser" not in read_parts(weights):
                        model[-1] = "0"
                    command = vidiff_command(src, out, args, model)
                elif tool.startswith("vidiff"):
                    command = vidiff_command(src, out, args)
                else:
                    command = [
                        "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src),
                        "-vf", "minterpolate=fps=60:mi_mode=mci", "-c:v", "libx264",
                        "-crf", "18", "-preset", "medium", "-pix_fmt", "yuv420p", str(out),
                    ]
                wall, rss = run_measured(command)
                n_out = count_frames(out)
                rows.append([
                    f"{height}p", tool, str(n_in), str(n_out), f"{wall:.1f}",
                    f"{n_out / wall:.1f}", f"{rss:.0f}",
                ])
                print(rows[-1], flush=True)
    if not has_ffmpeg:
        notes.append("speed: ffmpeg minterpolate skipped: no `ffmpeg` binary on PATH.")
    header = ["size", "tool", "frames in", "frames out", "wall (s)", "fps out", "peak RSS (MiB)"]
    return (
        f"## Speed (24 fps -> 60 fps, {args.seconds:g} s clip, decode + interpolate + encode)\n\n"
        f"vidiff: `python -m vidiff interpolate IN -o OUT.mp4 --fps 60 --steps 0 --no-refine "
        f"--overwrite` (motion estimate alone) and the same without `--no-refine` (model); "
        f"ffmpeg: `ffmpeg -i IN -vf minterpolate=fps=60:mi_mode=mci -c:v libx264 -crf 18 "
        f"-preset medium OUT.mp4`.\n\n" + table(header, rows)
    )


def memory(args, notes: list[str]) -> str:
    rows = []
    with tempfile.TemporaryDirectory(prefix="vidiff-bench-") as tmp:
        for seconds in args.memory_seconds:
            src = Path(tmp) / f"src_{seconds:g}s.mp4"
            make_clip(args.data, src, 720, seconds)
            out = Path(tmp) / f"out_{seconds:g}s.mp4"
            wall, rss = run_measured(vidiff_command(src, out, args))
            rows.append([f"{seconds:g} s", f"{wall:.1f}", f"{rss:.0f}"])
            print(rows[-1], flush=True)
            out.unlink(missing_ok=True)
    return (
        "## Memory (720p, 24 -> 60 fps, `--steps 0 --no-refine`)\n\n"
        "A streaming pipeline keeps peak RSS flat as the clip gets longer: compare the rows.\n\n"
        + table(["clip", "wall (s)", "peak RSS (MiB)"], rows)
    )


# --------------------------------------------------------------------------- main


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--quality", action="store_true", help="run the quality section")
    parser.add_argument("--speed", action="store_true", help="run the speed section")
    parser.add_argument("--memory", action="store_true", help="run the memory section")
    parser.add_argument("--limit", type=int, default=0, help="first N triplets per set (0 = all)")
    parser.add_argument("--steps", type=int, default=4, help="diffusion steps for the model row")
    parser.add_argument("--weights", default=None, help="model weights (default: the shipped ones)")
    parser.add_argument(
        "--model-heights", type=lambda s: [int(x) for x in s.split(",")], default=[480, 720, 1080],
        help="speed: clip heights at which the model is timed too",
    )
    parser.add_argument("--device", default="cpu", help="device for vidiff (auto, cpu, cuda)")
    parser.add_argument("--seconds", type=float, default=3.0, help="speed clip length (s)")
    parser.add_argument(
        "--memory-seconds",
        type=lambda s: [float(x) for x in s.split(",")],
        default=[10.0, 60.0],
        help="clip lengths for the memory check",
    )
    parser.add_argument("--no-ffmpeg", action="store_true", help="skip the ffmpeg rows")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown report here")
    parser.add_argument(
        "--plots", type=Path, default=None, metavar="DIR",
        help="also write the tables as PNG charts into DIR (needs matplotlib)",
    )
    args = parser.parse_args(argv)
    if not (args.quality or args.speed or args.memory):
        args.quality = args.speed = args.memory = True
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    notes: list[str] = []
    command = shlex.join(["python", *sys.argv]) if argv is None else shlex.join(argv)
    parts = [
        "# vidiff benchmark",
        f"- machine: {machine_line()}\n- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f"\n- command: `{command}`",
    ]
    if args.quality:
        parts.append(quality(args, notes))
    if args.speed:
        parts.append(speed(args, notes))
    if args.memory:
        parts.append(memory(args, notes))
    if notes:
        parts.append("Notes:\n\n" + "\n".join(f"- {n}" for n in notes))
    report = "\n\n".join(parts) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    if args.plots:
        from plots import write_plots  # tools/plots.py (this folder)

        for path in write_plots(report, args.plots):
            print(f"chart: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
