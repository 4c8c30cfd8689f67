"""Which paths are videos, image folders or frame images, and the container defaults for each.

Suffixes are compared lower-case. An output path with a video suffix is encoded as video; a path
with no suffix, an existing directory or a trailing slash is a folder of PNG frames.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import OptionError

# suffix -> (FFmpeg muxer name, default video codec, default pix_fmt)
CONTAINERS: dict[str, tuple[str, str, str]] = {
    ".mp4": ("mp4", "libx264", "yuv420p"),
    ".mov": ("mov", "libx264", "yuv420p"),
    ".mkv": ("matroska", "libx264", "yuv420p"),
    ".webm": ("webm", "libvpx-vp9", "yuv420p"),
    ".avi": ("avi", "mpeg4", "yuv420p"),
    ".gif": ("gif", "gif", "rgb8"),
}

# Audio codec used when the source's audio must be re-encoded for the output container.
REENCODE_AUDIO: dict[str, str] = {
    "mp4": "aac",
    "mov": "aac",
    "matroska": "aac",
    "avi": "aac",
    "webm": "libopus",
}

VIDEO_SUFFIXES: frozenset[str] = frozenset(CONTAINERS)
IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".webp"})

FRAME_NAME = "frame_{:06d}.png"
FRAME_NAME_RE = re.compile(r"frame_\d{6,}\.png")


def is_folder_output(path: str | Path) -> bool:
    """True when ``path`` names a folder of frames rather than a video file.

    A trailing slash, an existing directory or a name without a suffix means a folder. An
    unknown suffix is an error, since guessing would write something the user did not ask for.
    """
    text = str(path)
    p = Path(path)
    if text.endswith(("/", os.sep)) or p.is_dir() or not p.suffix:
        return True
    if p.suffix.lower() in VIDEO_SUFFIXES:
        return False
    raise OptionError(
        f"output {text!r} has an unsupported suffix {p.suffix!r}: use one of "
        f"{', '.join(sorted(VIDEO_SUFFIXES))}, or a folder name for PNG frames"
    )


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``f2.png`` < ``f10.png``."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name
