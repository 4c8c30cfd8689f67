"""Which files a batch converts, where each output goes, and cleaning up after killed runs.

Conventions
- Inputs are files under INPUT_DIR (its top level, or the whole tree with ``recursive``), in
  natural order of their relative paths. Hidden files and folders (``.name``) are ignored. By
  default only video suffixes (:data:`vidiff.io.VIDEO_SUFFIXES`) are inputs; a ``pattern``
  (a glob matched against the relative path from the right, so ``*.mov`` matches at any depth)
  selects files whatever their suffix. Frame folders are never batch inputs.
- Relative paths are ``/``-separated strings (the manifest's keys).
- The output tree mirrors the input tree: ``sub/clip.mp4`` -> ``OUTPUT_DIR/sub/clip.60fps.mp4``
  with ``fps=60``, ``sub/clip.2x.mp4`` with ``multi=2``. The container is kept when the output
  can be written in it; a GIF or a file with another suffix gets ``<name>.<tag>.mp4``.
- Nothing is ever written inside INPUT_DIR: an OUTPUT_DIR equal to it or inside it is refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path, PurePosixPath

from ..errors import OptionError
from ..io import VIDEO_SUFFIXES
from ..io.atomic import TEMP_MARK
from ..io.formats import natural_key
from ..timebase import format_rate


def check_folders(input_dir: Path, output_dir: Path) -> tuple[Path, Path]:
    """Absolute, resolved folders; refuse a missing INPUT_DIR and an OUTPUT_DIR inside it."""
    src = Path(input_dir).expanduser()
    if not src.is_dir():
        what = "is not a folder" if src.exists() else "does not exist"
        raise OptionError(f"INPUT_DIR {str(input_dir)!r} {what}: give a folder of videos")
    src = src.resolve()
    out = Path(output_dir).expanduser().resolve()
    if out == src or src in out.parents:
        raise OptionError(
            f"OUTPUT_DIR {str(output_dir)!r} is inside INPUT_DIR {str(input_dir)!r}: nothing is "
            "written inside the input folder, so choose an output folder outside it"
        )
    if out.exists() and not out.is_dir():
        raise OptionError(f"OUTPUT_DIR {str(output_dir)!r} exists and is not a folder")
    return src, out


def find_inputs(input_dir: Path, recursive: bool = False, pattern: str | None = None) -> list[str]:
    """Relative paths of the batch's inputs under ``input_dir``, in natural order."""
    found = []
    for rel in _walk(input_dir, recursive):
        if pattern is not None:
            if PurePosixPath(rel).match(pattern):
                found.append(rel)
        elif PurePosixPath(rel).suffix.lower() in VIDEO_SUFFIXES:
            found.append(rel)
    return sorted(found, key=lambda rel: [natural_key(part) for part in rel.split("/")])


def _walk(root: Path, recursive: bool) -> Iterator[str]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")] if recursive else []
        base = Path(folder).relative_to(root)
        for name in files:
            if name.startswith("."):
                continue
            path = Path(folder, name)
            if path.is_file():
                yield (base / name).as_posix()


def rate_tag(fps: Fraction | None, multi: int | None) -> str:
    """What was done, for output names: ``60fps``, ``60000_1001fps`` or ``2x``."""
    if fps is not None:
        return f"{format_rate(fps).replace('/', '_')}fps"
    return f"{multi}x"


def output_relpath(rel: str, tag: str) -> str:
    """``sub/clip.mp4`` -> ``sub/clip.<tag>.mp4``; ``anim.gif`` -> ``anim.gif.<tag>.mp4``."""
    path = PurePosixPath(rel)
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES and suffix != ".gif":
        return str(path.with_name(f"{path.stem}.{tag}{path.suffix}"))
    return str(path.with_name(f"{path.name}.{tag}.mp4"))


def is_vidiff_temp(name: str) -> bool:
    """A temporary name of :mod:`vidiff.io.atomic` (an output that was never completed)."""
    return name.startswith(".") and TEMP_MARK in name


def remove_stale_temps(output_dir: Path, keep_out: Path | None = None) -> list[Path]:
    """Delete vidiff temporaries left in ``output_dir``'s tree by killed runs; return them.

    Call only while holding the manifest lock (no other batch writes here then). Never looks
    inside ``keep_out`` (the input folder, when it lies inside the output folder).
    """
    import shutil

    removed = []
    if not output_dir.is_dir():
        return removed
    for folder, dirs, files in os.walk(output_dir):
        here = Path(folder)
        for name in [d for d in dirs if is_vidiff_temp(d)]:
            shutil.rmtree(here / name, ignore_errors=True)
            removed.append(here / name)
        dirs[:] = [
            d for d in dirs if not is_vidiff_temp(d) and (keep_out is None or here / d != keep_out)
        ]
        for name in files:
            if is_vidiff_temp(name):
                try:
                    (here / name).unlink()
                    removed.append(here / name)
                except FileNotFoundError:
                    pass
    return removed
