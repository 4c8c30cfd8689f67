"""Video I/O with PyAV: read videos, GIFs and frame folders; write videos and PNG folders.

Public names: :class:`Frame`, :class:`MediaInfo`, :class:`EncodeOptions`, :func:`open_reader`,
:func:`open_writer`, :func:`check_output_path`, ``VIDEO_SUFFIXES``, ``IMAGE_SUFFIXES``.
Conventions: images are numpy uint8 ``(h, w, 3)`` RGB; times are ``Fraction`` seconds; sizes are
``(w, h)``. This package knows nothing of models; it raises :mod:`vidiff.errors` types only.
"""

from .atomic import check_output_path
from .encoding import EncodeOptions
from .formats import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .reader import open_reader
from .records import Frame, MediaInfo
from .writer import open_writer

__all__ = [
    "Frame",
    "MediaInfo",
    "EncodeOptions",
    "open_reader",
    "open_writer",
    "check_output_path",
    "VIDEO_SUFFIXES",
    "IMAGE_SUFFIXES",
]
