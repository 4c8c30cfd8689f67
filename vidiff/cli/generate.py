"""``vidiff generate``: a short clip that continues one or more seed frames."""

from __future__ import annotations

import argparse
import sys

from .common import (
    GENERATE_ENSEMBLE_DEFAULT_HELP,
    add_model_options,
    add_output_options,
    add_scene_options,
    scene_threshold,
)

EXAMPLES = """examples:
  vidiff generate a.png b.png -o next.mp4 --frames 8          # 2 seeds + 8 new frames
  vidiff generate a.png b.png c.png -o next.mp4 --frames 8    # 3 seeds: the motion backtested
  vidiff generate clip.mp4 -o more.mp4 --frames 12            # its last 3 frames + 12 new ones
  vidiff generate a.png b.png -o takes.mp4 --frames 8 --samples 3 --seed 7
                                            # takes_0.mp4 takes_1.mp4 takes_2.mp4
  vidiff generate a.png b.png -o frames/ --frames 24 --hierarchical   # PNG folder
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="continue seed frames with a short generated clip",
        description="Generate the frames that follow one or more seed frames. The output holds "
        "the seeds first, then the new frames. The motion of the last two seeds is "
        "extrapolated (one seed is held), damped where it failed to predict the last seed from "
        "the one before (three seeds or more), and corrected by the predictor when the weights "
        "hold one (averaged with its result on the mirrored frames; --ensemble none: once, "
        "about 1.6x as fast). A video whose pictures are held in a regular cadence "
        "(animation on twos, a frame repeated every third) is continued in that cadence.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "seeds",
        nargs="+",
        metavar="SEED",
        help="image files in order (png/jpg/webp), or one video, GIF or folder of frames",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="video file (.mp4 .mkv .mov .webm .avi), .gif, or a folder for PNG frames",
    )
    p.add_argument(
        "--frames", type=int, required=True, metavar="N", help="number of frames to generate"
    )
    p.add_argument(
        "--fps", metavar="F", help="output frame rate (default: the seed video's rate, else 24)"
    )
    p.add_argument(
        "--seed-frames",
        type=int,
        metavar="K",
        help="how many of the last frames of the seeds to use (default: 3 of a video, all images)",
    )
    p.add_argument(
        "--samples",
        type=int,
        metavar="M",
        default=1,
        help="write M different continuations, OUTPUT_0 ... OUTPUT_{M-1}, reproducible from "
        "--seed (default: %(default)s)",
    )
    g = p.add_argument_group("windows (clips longer than the model's window)")
    g.add_argument(
        "--window-known",
        type=int,
        metavar="K",
        default=3,
        help="frames already made that each window sees (default: %(default)s)",
    )
    g.add_argument(
        "--window-unknown",
        type=int,
        metavar="U",
        default=4,
        help="frames each window generates (default: %(default)s)",
    )
    g.add_argument(
        "--hierarchical",
        action="store_true",
        help="generate sparse keyframes first, then fill in between them "
        "(default: autoregressive, window after window)",
    )
    g.add_argument(
        "--stride",
        type=int,
        metavar="S",
        help="keyframe spacing for --hierarchical (default: window-unknown + 1)",
    )
    p.add_argument(
        "--no-cadence",
        action="store_true",
        help="treat every seed frame as a new picture, even where a video holds its pictures "
        "in a regular cadence (default: continue the cadence)",
    )
    add_scene_options(
        p, "seeds that cross a cut continue the last shot only",
        "extrapolate across a cut among the seeds too",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    add_model_options(p, GENERATE_ENSEMBLE_DEFAULT_HELP)
    add_output_options(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..jobs.generate_file import generate_video
    from ..timebase import format_rate

    result = generate_video(
        args.seeds,
        args.output,
        frames=args.frames,
        fps=args.fps,
        seed_frames=args.seed_frames,
        samples=args.samples,
        steps=args.steps,
        sampler=args.sampler,
        device=args.device,
        weights=args.weights,
        seed=args.seed,
        refine=False if args.no_refine else None, max_memory=args.max_memory,
        ensemble=args.ensemble,
        known=args.window_known,
        unknown=args.window_unknown,
        hierarchical=args.hierarchical,
        stride=args.stride,
        cadence=not args.no_cadence,
        scene_threshold=scene_threshold(args),
        overwrite=args.overwrite,
        codec=args.codec,
        crf=args.crf,
        preset=args.preset,
        pix_fmt=args.pix_fmt,
        progress=not args.quiet,
    )
    if not args.quiet:
        how = f"{result.steps} sampler steps" if result.steps else "motion extrapolation only"
        names = ", ".join(str(p) for p in result.outputs)
        print(
            f"wrote {names}: {result.seeds} seed + {result.frames} generated frames at "
            f"{format_rate(result.fps)} fps ({how}) in {result.seconds:.1f} s",
            file=sys.stderr,
        )
    return 0
