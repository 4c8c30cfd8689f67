"""``vidiff train``: train the diffusion model."""

from __future__ import annotations

import argparse
import sys

EXAMPLE = """example:
  vidiff train --config configs/default.toml --data ../shared/data/clips ../shared/data/sequences --out runs/a
  torchrun --nproc_per_node 8 -m vidiff train --config configs/default.toml --data pack.npz --out runs/a
"""


def add_parser(sub) -> None:
    t = sub.add_parser(
        "train", help="train the diffusion model",
        description="Train the diffusion model on folders of videos and frame sequences.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--config", required=True, help="TOML config (see configs/)")
    t.add_argument(
        "--data", nargs="+", required=True,
        help="video files, folders of videos or frame folders, or a .npz training pack",
    )
    t.add_argument("--out", required=True, help="run folder (checkpoints, logs, last.safetensors)")
    t.add_argument("--steps", type=int, help="total training steps (default: from the config)")
    t.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    t.add_argument("--init-weights", help="start from these inference weights (fresh optimizer)")
    t.add_argument(
        "--max-minutes", type=float, help="stop cleanly (with a checkpoint) after this many minutes"
    )
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: %(default)s)")
    t.set_defaults(run=run)


def run(args) -> int:
    from ..train import train

    path = train(
        args.config, args.data, args.out, steps=args.steps, resume=args.resume,
        device=args.device, init_weights=args.init_weights, max_minutes=args.max_minutes,
    )
    print(f"weights: {path}", file=sys.stderr)
    return 0
