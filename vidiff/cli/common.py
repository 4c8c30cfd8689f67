"""Options shared by several subcommands."""

from __future__ import annotations

import argparse
import re

SIZE_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit code 2, like every other user mistake
        self.exit(2, f"vidiff: error: {message}\n")


def add_output_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output encoding")
    g.add_argument("--codec", help="video codec (default: by container; libx264 for mp4/mkv/mov)")
    g.add_argument("--crf", type=int, help="quality, lower is better (default: 18 for x264)")
    g.add_argument("--preset", help="encoder speed preset (default: medium)")
    g.add_argument("--pix-fmt", help="pixel format (default: yuv420p, which browsers play)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output")


def add_model_options(p: argparse.ArgumentParser, ensemble_default: str | None = None) -> None:
    """The model options; ``ensemble_default``: what ``--ensemble`` defaults to in this
    subcommand, for its help (:data:`ENSEMBLE_DEFAULT_HELP` when not given)."""
    g = p.add_argument_group("model")
    g.add_argument(
        "--steps", type=int, default=None,
        help="diffusion sampler steps; 0 = no diffusion "
        "(default: 4 when the weights hold a diffusion model, else 0)",
    )
    g.add_argument(
        "--no-refine", action="store_true",
        help="skip the refiner and the predictor (learned corrections of the motion estimate); "
        "with --steps 0 this is the motion estimate alone, the fastest setting",
    )
    g.add_argument(
        "--ensemble", type=ensemble_option, metavar="SYMMETRIES",
        help="average the learned frame (the refiner's, and in generate the predictor's) over "
        "these symmetries of each pair: a comma-separated set of mirror, flip, reverse (time), "
        "or none; 2^k times the network's time for a steadier frame "
        f"(default: {ensemble_default or ENSEMBLE_DEFAULT_HELP})",
    )
    g.add_argument("--sampler", help="sampler name (default: the deterministic few-step one)")
    g.add_argument(
        "--weights", help="model weights (.safetensors: refiner, predictor and/or diffusion model; "
        "default: the weights shipped with vidiff)"
    )
    g.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    g.add_argument(
        "--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: %(default)s)"
    )
    g.add_argument(
        "--max-memory", type=memory_size, metavar="SIZE",
        help="memory the model may use, e.g. 6G or 512M (K, M, G, T: powers of 1024); big "
        "frames are run in overlapping tiles to fit (default: 60%% of the free memory of a "
        "GPU, on the CPU half the available RAM up to 4G)",
    )


ENSEMBLE_DEFAULT_HELP = "none"  # vidiff.pipelines.weights.DEFAULT_ENSEMBLE, kept without torch
GENERATE_ENSEMBLE_DEFAULT_HELP = "mirror"  # ... and DEFAULT_GENERATE_ENSEMBLE


def ensemble_option(text: str) -> tuple[str, ...]:
    """``mirror,reverse`` or ``none`` -> symmetry names (argparse ``type``); the names are
    checked when the model is resolved (:func:`vidiff.pipelines.weights.resolve_ensemble`)."""
    names = tuple(n.strip() for n in str(text).split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("names no symmetry (use none for no averaging)")
    return () if names == ("none",) else names


def memory_size(text: str) -> int:
    """``6G``, ``512M``, ``1.5G``, ``4096K`` or plain bytes -> bytes (argparse ``type``)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(
            f"must be a size such as 6G, 512M or 1.5G, got {text!r}"
        )
    value = int(float(match.group(1)) * SIZE_UNITS[match.group(2).upper()])
    if value < 64 * 2**20:
        raise argparse.ArgumentTypeError(f"must be at least 64M, got {text!r}")
    return value


def add_scene_options(p: argparse.ArgumentParser, what: str, off: str) -> None:
    """``--scene-threshold X | --no-scene-detect``; ``what`` a cut means, ``off`` what turning
    detection off does."""
    p.add_argument(
        "--scene-threshold", type=float, default=0.15,
        help=f"scene-cut sensitivity in (0, 1]; {what} (default: %(default)s)",
    )
    p.add_argument("--no-scene-detect", action="store_true", help=off)


def scene_threshold(args) -> float | None:
    return None if args.no_scene_detect else args.scene_threshold


def add_interpolate_options(p: argparse.ArgumentParser) -> None:
    """Options of ``interpolate`` that ``batch`` shares (all but input/output)."""
    rate = p.add_mutually_exclusive_group(required=True)
    rate.add_argument("--fps", help="output frame rate: 60, 59.94 (=60000/1001) or 60000/1001")
    rate.add_argument("--multi", type=int, help="output rate as a multiple of the input rate")
    p.add_argument("--input-fps", help="frame rate of a folder of frames (required for folders)")
    add_scene_options(p, "frames are never blended across a cut", "interpolate across scene cuts too")
    p.add_argument(
        "--dedup", type=int, default=3,
        help="runs of up to N identical frames are animation holds, re-timed so motion stays "
        "even; 1 = off (default: %(default)s)",
    )
    p.add_argument("--no-audio", action="store_true", help="do not carry audio/subtitles over")
    add_model_options(p)
    add_output_options(p)


def interpolate_kwargs(args) -> dict:
    """Keyword arguments for :func:`vidiff.interpolate_video` from parsed shared options."""
    return dict(
        fps=args.fps, multi=args.multi, input_fps=args.input_fps, steps=args.steps,
        sampler=args.sampler, device=args.device, weights=args.weights, seed=args.seed,
        refine=False if args.no_refine else None, max_memory=args.max_memory,
        ensemble=args.ensemble, overwrite=args.overwrite, codec=args.codec, crf=args.crf,
        preset=args.preset,
        pix_fmt=args.pix_fmt,
        scene_threshold=scene_threshold(args),
        dedup=args.dedup, audio=not args.no_audio,
    )


def add_stretch_options(p: argparse.ArgumentParser, what: str = "convert") -> None:
    """``--start`` / ``--duration``: work on one stretch of the input."""
    p.add_argument(
        "--start", metavar="T",
        help=f"{what} from this time: seconds (5, 2.5) or HH:MM:SS(.ms) (default: the beginning)",
    )
    p.add_argument(
        "--duration", metavar="D",
        help="this long: seconds or HH:MM:SS(.ms) (default: to the end)",
    )
