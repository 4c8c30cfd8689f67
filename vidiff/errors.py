"""Errors a user can act on.

Every error that reaches the command line as one line (no traceback) is a :class:`VidiffError`.
Its message names what is wrong, the value received and what to do. Anything else escaping the
library is a bug and is shown with a traceback.
"""

from __future__ import annotations


class VidiffError(Exception):
    """Base class: a problem with the user's input, options or environment."""


class OptionError(VidiffError, ValueError):
    """An option value is invalid (e.g. ``--fps must be positive, got -24``)."""


class InputError(VidiffError):
    """The input cannot be used: missing, not a video, no video stream, unreadable."""


class CorruptInputError(InputError):
    """Decoding failed part-way: the input has a corrupt or truncated stretch."""


class OutputError(VidiffError):
    """The output cannot be written: exists, same as the input, not writable."""


class WeightsError(VidiffError):
    """A weights file is missing, damaged or does not match the model."""
