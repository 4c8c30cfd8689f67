"""``vidiff train-refiner``: train the refiner (the learned mean) on triplet packs."""

from __future__ import annotations

import argparse
import sys

EXAMPLE = """example:
  python tools/make_triplets.py footage ../shared/data/clips ../shared/data/sequences --out packs/footage
  vidiff train-refiner --config configs/refiner.toml --data packs/footage --out runs/refiner
  vidiff train-refiner --config configs/refiner.toml --data packs/footage --out runs/refiner --resume

The predictor (the refiner for vidiff generate) trains the same way on a prediction pack:
  python tools/make_triplets.py predict ../shared/data/clips ../shared/data/sequences --out packs/predict
  vidiff train-refiner --config configs/predictor.toml --data packs/predict --out runs/predictor \
      --init-weights weights/vidiff.safetensors
"""


def add_parser(sub) -> None:
    t = sub.add_parser(
        "train-refiner", help="train the refiner (learned correction of the motion estimate)",
        description="Train the refiner on triplet packs (tools/make_triplets.py). The run folder "
        "gets checkpoint.pt, metrics.jsonl and ema.safetensors (the weights inference uses).",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--config", required=True, help="TOML config (configs/refiner.toml)")
    t.add_argument("--data", nargs="+", required=True, help="triplet pack folders")
    t.add_argument("--out", required=True, help="run folder")
    t.add_argument("--steps", type=int, help="total training steps (default: from the config)")
    t.add_argument("--resume", action="store_true", help="continue from the run's checkpoint")
    t.add_argument("--init-weights", help="start from these weights' refiner (fresh optimizer)")
    t.add_argument("--init-part", choices=["refiner", "predictor"], default="refiner",
                   help="which part of --init-weights to start from (default: %(default)s)")
    t.add_argument("--max-minutes", type=float, help="stop cleanly after this many minutes")
    t.set_defaults(run=run)


def run(args) -> int:
    from ..train.refine_loop import train_refiner

    path = train_refiner(
        args.config, args.data, args.out, steps=args.steps, resume=args.resume,
        init_weights=args.init_weights, init_part=args.init_part, max_minutes=args.max_minutes,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(f"weights: {path}", file=sys.stderr)
    return 0
