"""The ``vidiff`` command line: the only package that parses arguments, prints or exits.

One module per subcommand, each with ``add_parser(subparsers)`` registering its options and a
``run(args) -> int`` function set as the parser's default. Exit codes: 0 success, 1 a job
failed (bad input, unwritable output, ...), 2 bad usage, 130 interrupted. User mistakes
print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from ..errors import VidiffError
from . import batch, compare, generate, interpolate, train, train_refiner
from .common import Parser

COMMANDS = (interpolate, compare, generate, batch, train, train_refiner)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = Parser(prog="vidiff", description="Smoother and longer video with a diffusion model.")
    parser.add_argument("--version", action="version", version=f"vidiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _limit_malloc_arenas() -> None:
    """Keep glibc's heap from growing with the length of a video.

    Every frame passes through a few buffers of several MiB (float frames, flows, warps). By
    default glibc raises its mmap threshold past such sizes after the first one is freed and
    serves the rest from its heaps, where freed buffers between live ones stay resident, and
    peak memory grows with clip length. A fixed 4 MiB threshold gives every buffer that large
    its own mapping, returned when freed, and two arenas keep the smaller allocations of the
    decode, encode and worker threads together (figures: the README's memory table,
    ``tools/benchmark.py --memory``). A 1 MiB threshold also mapped every uint8 frame and cost
    5-15 s of page faults on a 4 s 720p clip. Linux/glibc only; a no-op elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
        libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD (fixed: no dynamic raise)
    except (OSError, AttributeError):
        pass


def _format_warning(message, category, filename, lineno, line=None):
    return f"vidiff: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.formatwarning = _format_warning
    _limit_malloc_arenas()
    try:
        return args.run(args)
    except VidiffError as exc:
        print(f"vidiff: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vidiff: interrupted; no partial output was left", file=sys.stderr)
        return 130
