#!/usr/bin/env python
"""Make a triplet pack for training the refiner (vidiff train-refiner).

footage: crops of real video (videos, frame folders), flows by vidiff's own motion step, and
         each crop's whole frame's numbers for the refiner's frame summary (frame_stats.npy).
photos:  synthetic motion (moving, occluding layers) rendered from still photographs, exact
         ground truth, and the true flows to each target's time where they are known
         (true_flows.npy, for the refiner's flow_loss); see vidiff/train/synthetic.py.
predict: crops of real video for the predictor (vidiff generate): a pair of consecutive frames
         and a target 2-5 frames after the first (vidiff/train/predict_pack.py); the frames
         tools/bench_generate.py scores on are kept out unless --keep-bench-windows.
retime:  a copy of a footage pack with each sample's time set to where the motion puts its
         target (vidiff/train/retime.py); arrays other than the times are hard-linked.

examples:
  python tools/make_triplets.py footage ../shared/data/clips ../shared/data/sequences --out packs/footage
  python tools/make_triplets.py photos /work/cache/photos --samples 6000 --out packs/photos
  python tools/make_triplets.py retime packs/footage --out packs/footage-retimed --workers 2
  python tools/make_triplets.py predict ../shared/data/clips ../shared/data/sequences --out packs/predict
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vidiff.errors import VidiffError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=["footage", "photos", "retime", "predict"])
    parser.add_argument("sources", nargs="+", type=Path,
                        help="videos / frame folders (footage), folders of photographs (photos) or one pack "
                        "(retime)")
    parser.add_argument("--out", required=True, type=Path, help="pack folder to create")
    parser.add_argument("--crop", type=int, default=128, help="crop size (default: %(default)s)")
    parser.add_argument("--frame-size", type=int, default=480,
                        help="footage: short side of decoded frames, at most (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=6000,
                        help="photos: number of samples (default: %(default)s)")
    parser.add_argument("--keep-bench-windows", action="store_true",
                        help="predict: also use the frames tools/bench_generate.py scores on")
    parser.add_argument("--stride", type=int, default=2,
                        help="predict: a pair of consecutive frames every STRIDE frames "
                        "(default: %(default)s)")
    parser.add_argument("--backtest", action="store_true",
                        help="predict: damp each pair's flow by a backtest on the frame before it, "
                        "as vidiff generate does from three seeds")
    parser.add_argument("--workers", type=int, default=1,
                        help="retime: processes to fit times in (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        if args.kind == "footage":
            from vidiff.train.segments import check_training_path
            from vidiff.train.triplets import make_footage_triplets

            for path in args.sources:
                check_training_path(path)
            out = make_footage_triplets(args.sources, args.out, frame_size=args.frame_size,
                                        crop=args.crop, seed=args.seed,
                                        log=lambda s: print(s, file=sys.stderr, flush=True))
        elif args.kind == "predict":
            from vidiff.train.predict_pack import make_prediction_pack
            from vidiff.train.segments import check_training_path

            for path in args.sources:
                check_training_path(path)
            out = make_prediction_pack(args.sources, args.out, frame_size=args.frame_size,
                                       crop=args.crop, seed=args.seed, stride=args.stride,
                                       exclude_bench=not args.keep_bench_windows,
                                       backtest=args.backtest,
                                       log=lambda s: print(s, file=sys.stderr, flush=True))
        elif args.kind == "retime":
            from vidiff.train.retime import retime_triplets

            if len(args.sources) != 1:
                raise VidiffError("retime takes one pack")
            stats = retime_triplets(args.sources[0], args.out, workers=args.workers,
                                    log=lambda s: print(s, file=sys.stderr, flush=True))
            out = args.out
            print(f"retime: {stats}", file=sys.stderr)
        else:
            from vidiff.train.synthetic import make_photo_triplets

            out = make_photo_triplets(args.sources, args.out, samples=args.samples,
                                      crop=args.crop, seed=args.seed,
                                      log=lambda s: print(s, file=sys.stderr, flush=True))
    except VidiffError as exc:
        print(f"make_triplets: error: {exc}", file=sys.stderr)
        return 1
    print(f"{out} ({time.monotonic() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
