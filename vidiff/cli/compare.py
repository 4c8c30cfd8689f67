"""``vidiff compare``: videos or frame folders side by side, in a grid or as a wipe, labelled."""

from __future__ import annotations

import argparse
import sys

from .common import add_output_options, add_stretch_options

EXAMPLES = """examples:
  vidiff compare clip.mp4 clip.60fps.mp4 -o compare.mp4            # 24 fps held next to 60 fps
  vidiff compare clip.mp4 clip.60fps.mp4 -o compare.mp4 --diff --start 3 --duration 2 --slow 4
  vidiff compare a.mp4 b.mp4 c.mp4 d.mp4 --layout grid --labels orig,flow,model,ffmpeg -o g.mp4
  vidiff compare clip.mp4 clip.60fps.mp4 --layout wipe --wipe-at 0.5 -o wipe.mp4
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare", help="show videos side by side (or as a wipe) to see the result",
        description="Write a video that shows two or more videos (or frame folders) together, "
        "each labelled, at the highest input frame rate: a lower-rate input shows each of its "
        "frames until the next one is due, as a player does. Inputs are scaled to a common "
        "height. No audio is written.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="two or more videos or frame folders")
    p.add_argument("-o", "--output", required=True, help="output video (.mp4 .mkv .mov .webm ...)")
    p.add_argument(
        "--layout", choices=("side", "wipe", "grid"), default="side",
        help="side: in a row; grid: rows and columns; wipe: two inputs split by a moving line "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--labels", metavar="A,B,...", help="one label per input, comma separated "
        "(default: the file names)",
    )
    p.add_argument(
        "--diff", action="store_true",
        help="add a panel with the absolute difference of the first two inputs, amplified",
    )
    p.add_argument(
        "--diff-gain", type=float, default=4.0, metavar="G",
        help="amplification of the difference panel (default: %(default)s)",
    )
    p.add_argument(
        "--wipe-at", type=float, metavar="P",
        help="wipe layout: fixed split at this fraction of the width, 0..1 "
        "(default: the line sweeps across every 4 s)",
    )
    add_stretch_options(p, what="compare")
    p.add_argument(
        "--slow", default="1", metavar="N",
        help="play N times slower (output timestamps stretched, every frame kept), "
        "to see interpolation artifacts (default: %(default)s)",
    )
    p.add_argument(
        "--height", type=int, metavar="H",
        help="scale every input to this height (default: the first input's height)",
    )
    p.add_argument("--input-fps", help="frame rate of frame-folder inputs")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    add_output_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..jobs.compare_file import compare_videos
    from ..timebase import format_rate

    result = compare_videos(
        args.inputs, args.output, layout=args.layout, labels=args.labels, diff=args.diff,
        diff_gain=args.diff_gain, wipe=args.wipe_at, start=args.start, duration=args.duration,
        slow=args.slow, height=args.height, input_fps=args.input_fps, overwrite=args.overwrite,
        codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt,
        progress=not args.quiet,
    )
    if not args.quiet:
        w, h = result.size
        print(
            f"wrote {result.output}: {result.frames} frames, {w}x{h}, at "
            f"{format_rate(result.fps)} fps in {result.seconds:.1f} s",
            file=sys.stderr,
        )
    return 0
