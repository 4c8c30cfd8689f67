#!/usr/bin/env python
"""Make one weights file from the parts of others, e.g. the shipped refiner plus a predictor run:

    python tools/combine_weights.py weights/vidiff.safetensors \\
        --refiner weights/vidiff.safetensors --predictor runs/pa/evals/ema-0002000.safetensors

A training run's files hold its network as the part ``refiner`` (``vidiff train-refiner`` trains
both); ``--predictor`` takes that part unless ``--predictor-part predictor`` says the file already
ships one. Writes fp16 (``--full`` for fp32), under a temporary name renamed when complete, so the
output may be one of the inputs. Metadata ``refiner_source``/``predictor_source`` name the inputs.

``--refiner-average B --alpha A`` takes ``(1 - A) * refiner + A * B's refiner``, weight by weight
(a "model soup": meaningful for two runs grown from the same start, which stay in one basin);
both must have the same config.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vidiff.errors import VidiffError
from vidiff.model import load_refiner, read_metadata, save_weights


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="weights file to write")
    ap.add_argument("--refiner", type=Path, help="file whose refiner to take")
    ap.add_argument("--predictor", type=Path, help="file whose network becomes the predictor")
    ap.add_argument("--predictor-part", choices=["refiner", "predictor"], default="refiner",
                    help="which part of --predictor to take (default: %(default)s)")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                    help="metadata to record (repeatable), e.g. name=..., evaluation=...")
    ap.add_argument("--refiner-average", type=Path, metavar="B",
                    help="average the refiner with B's, weight by weight (same config)")
    ap.add_argument("--alpha", type=float, default=0.5,
                    help="B's share in --refiner-average (default: %(default)s)")
    ap.add_argument("--full", action="store_true", help="store fp32 (default: fp16)")
    args = ap.parse_args(argv)
    try:
        if args.refiner is None and args.predictor is None:
            raise VidiffError("give --refiner, --predictor or both")
        meta, nets = {}, {}
        for item in args.meta:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise VidiffError(f"--meta {item!r}: expected KEY=VALUE")
            meta[key] = value
        if args.refiner is not None:
            nets["refiner"] = load_refiner(args.refiner)
            meta["refiner_source"] = _source(args.refiner)
        if args.refiner_average is not None:
            if args.refiner is None or not 0 <= args.alpha <= 1:
                raise VidiffError("--refiner-average needs --refiner and an --alpha in [0, 1]")
            other = load_refiner(args.refiner_average)
            if other.config != nets["refiner"].config:
                raise VidiffError("--refiner-average: the two refiners' configs differ")
            mine = nets["refiner"].state_dict()
            for k, v in other.state_dict().items():
                mine[k].lerp_(v, args.alpha)
            nets["refiner"].load_state_dict(mine)
            meta["refiner_source"] += (f"; averaged with {_source(args.refiner_average)}, "
                                       f"alpha {args.alpha:g}")
        if args.predictor is not None:
            nets["predictor"] = load_refiner(args.predictor, part=args.predictor_part)
            meta["predictor_source"] = _source(args.predictor)
        save_weights(args.out, None, meta, half=not args.full, **nets)
    except VidiffError as exc:
        print(f"combine_weights: error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {', '.join(nets)}", file=sys.stderr)
    return 0


def _source(path: Path) -> str:
    """The file's name and, when it records them, its run step and the sources it was made of."""
    meta = read_metadata(path)
    keys = ("step", "refiner_source", "predictor_source")
    extra = ", ".join(f"{k} {meta[k]}" for k in keys if k in meta)
    return f"{path.name} ({extra})" if extra else path.name


if __name__ == "__main__":
    sys.exit(main())
