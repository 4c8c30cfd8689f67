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
from . import batch, generate, interpolate, train
from .common import Parser

COMMANDS = (interpolate, generate, batch, train)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = Parser(prog="vidiff", description="Smoother and longer video with a diffusion model.")
    parser.add_argument("--version", action="version", version=f"vidiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _return_big_buffers_to_the_os() -> None:
    """Serve every allocation over 1 MiB (a frame) with its own mmap, freed back to the OS.

    glibc otherwise raises this threshold after the first freed frame and serves later frames
    from per-thread heaps, which fragment: with decode, encode and worker threads, peak memory
    then creeps up over a long video. Linux/glibc only; elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def _format_warning(message, category, filename, lineno, line=None):
    return f"vidiff: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.formatwarning = _format_warning
    _return_big_buffers_to_the_os()
    try:
        return args.run(args)
    except VidiffError as exc:
        print(f"vidiff: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vidiff: interrupted; no partial output was left", file=sys.stderr)
        return 130
