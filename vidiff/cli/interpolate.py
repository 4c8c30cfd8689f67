"""``vidiff interpolate``: one video or frame folder to a new frame rate."""

from __future__ import annotations

import argparse
import sys

from .common import add_interpolate_options, add_stretch_options, interpolate_kwargs

EXAMPLES = """examples:
  vidiff interpolate clip.mp4 --fps 60                 # writes clip.60fps.mp4
  vidiff interpolate clip.mp4 --multi 2 -o smooth.mkv
  vidiff interpolate frames/ --input-fps 24 --fps 59.94 -o out/   # folder of PNGs in and out
  vidiff interpolate clip.mp4 --fps 60 --steps 0 --no-refine   # motion estimate only (fastest)
  vidiff interpolate clip.mp4 --fps 60 --ensemble mirror    # steadier refiner, 2x its time
  vidiff interpolate film.mkv --fps 60 --start 00:42:10 --duration 5 -o try.mp4   # 5 s to try
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "interpolate", help="write a video at a higher frame rate",
        description="Write a video (or a folder of frames) at a new frame rate, generating "
        "the in-between frames. Scene cuts are held, not blended; audio is carried over. "
        "--start/--duration convert just a stretch (output and its audio start at 0).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="video file or folder of frames (png/jpg/webp)")
    p.add_argument(
        "-o", "--output",
        help="video file or folder (default: beside the input, e.g. clip.60fps.mp4)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    add_stretch_options(p)
    add_interpolate_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..jobs.interpolate_file import interpolate_video
    from ..timebase import format_rate

    result = interpolate_video(
        args.input, args.output, start=args.start, duration=args.duration,
        progress=not args.quiet, **interpolate_kwargs(args),
    )
    if not args.quiet:
        s = result.stats
        notes = []
        if s.cuts:
            notes.append(f"{s.cuts} scene cut(s) held")
        if s.duplicates_dropped:
            notes.append(f"{s.duplicates_dropped} duplicate frame(s) re-timed")
        if s.out_of_order:
            notes.append(f"{s.out_of_order} frame(s) with repeated timestamps dropped")
        if result.steps == 0 and not result.refined:
            notes.append(
                "motion estimate only" if args.steps == 0 or args.no_refine
                else "motion estimate only: no model weights found"
            )
        elif result.refined:
            notes.append("refined" + (f", {result.steps} diffusion steps" if result.steps else ""))
        extra = f" ({'; '.join(notes)})" if notes else ""
        print(
            f"wrote {result.output}: {s.output_frames} frames at {format_rate(result.fps)} fps "
            f"from {s.input_frames}, {s.interpolated} generated, in {result.seconds:.1f} s{extra}",
            file=sys.stderr,
        )
    return 0
