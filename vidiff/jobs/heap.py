"""Give freed frame memory back to the system while a long video is processed.

Each frame passes through several buffers of a few MiB (decoded uint8, float tensors, flows,
warps). glibc serves them from its heap once its dynamic mmap threshold has grown past their
size, and freed chunks between live ones stay resident: over a long video the heap fragments and
peak memory creeps up with length. ``malloc_trim(0)`` returns every free page of every arena to
the system (``madvise``), so calling it every few dozen frames bounds what fragmentation can hold
at a cost of a few page faults per frame. Linux/glibc only; a no-op elsewhere.
"""

from __future__ import annotations

import ctypes
import os
import sys

TRIM_EVERY = int(os.environ.get("VIDIFF_TRIM_EVERY", "24"))  # output frames between trims

_libc = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL("libc.so.6")
        _libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        _libc = None


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc ``malloc_trim(0)``)."""
    if _libc is not None:
        _libc.malloc_trim(0)


class Trimmer:
    """Call :func:`release_free_memory` every ``every`` ticks (0: never)."""

    def __init__(self, every: int = TRIM_EVERY):
        self.every = every
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        if self.every > 0 and self.count % self.every == 0:
            release_free_memory()
