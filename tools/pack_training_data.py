#!/usr/bin/env python
"""Pack videos and frame folders into one training pack (.npz) for a machine without PyAV.

Decodes every source with PyAV, downscales frames (short side at most --frame-size), splits them
at scene cuts into segments of --segment-frames consecutive frames and keeps evenly spread
segments within a --max-mb budget of file size (shared evenly between the sources).
Training reads the pack with numpy only: vidiff train --data PACK.npz.

example:
  python tools/pack_training_data.py ../shared/data/clips ../shared/data/sequences \
      --out packs/train.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vidiff.errors import VidiffError
from vidiff.train import pack_training_data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "sources",
        nargs="+",
        type=Path,
        help="videos, frame folders, or folders holding them (never middlebury/ucf101)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output pack (.npz)")
    parser.add_argument(
        "--frame-size",
        type=int,
        default=160,
        help="short side of stored frames, downscaled only (default: %(default)s)",
    )
    parser.add_argument(
        "--segment-frames",
        type=int,
        default=20,
        help="consecutive frames per stored segment (default: %(default)s)",
    )
    parser.add_argument(
        "--min-frames",
        type=int,
        default=8,
        help="drop shorter stretches between scene cuts (default: %(default)s)",
    )
    parser.add_argument(
        "--cut-threshold",
        type=float,
        default=0.15,
        help="colour-histogram distance that marks a scene cut (default: %(default)s)",
    )
    parser.add_argument(
        "--max-mb",
        type=float,
        default=40.0,
        help="size budget of the pack in MB (estimated from zlib ratios; default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.overwrite:
        print(f"pack: error: {args.out} exists; pass --overwrite to replace it", file=sys.stderr)
        return 1
    try:
        pack_training_data(
            args.sources,
            args.out,
            frame_size=args.frame_size,
            segment_frames=args.segment_frames,
            min_frames=args.min_frames,
            cut_threshold=args.cut_threshold,
            max_mb=args.max_mb,
            log=lambda line: print(line, file=sys.stderr),
        )
    except VidiffError as exc:
        print(f"pack: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
