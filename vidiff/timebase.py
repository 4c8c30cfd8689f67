"""Exact media time.

Frame rates, time bases and timestamps are :class:`fractions.Fraction` seconds everywhere in
vidiff; nothing is accumulated by adding floats. PyAV returns ``fractions.Fraction`` (PyAV <= 18)
or its own rational type (PyAV 19) and uses ``None`` or a falsy zero for "unset":
:func:`to_fraction` is the one place that converts them.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .errors import OptionError

# Decimal spellings of the NTSC rates mean the exact x/1001 rates, as every video tool reads them.
_NTSC = {
    "23.976": Fraction(24000, 1001),
    "23.98": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "47.952": Fraction(48000, 1001),
    "59.94": Fraction(60000, 1001),
    "119.88": Fraction(120000, 1001),
}


def to_fraction(value) -> Fraction | None:
    """Convert a PyAV rational, Fraction, int or float to Fraction; ``None`` or zero -> ``None``."""
    if value is None:
        return None
    if isinstance(value, Fraction):
        out = value
    elif isinstance(value, int):
        out = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        out = Fraction(value).limit_denominator(1_000_000)
    elif hasattr(value, "numerator") and hasattr(value, "denominator"):
        if not value.denominator:
            return None
        out = Fraction(int(value.numerator), int(value.denominator))
    else:
        raise TypeError(f"cannot convert {type(value).__name__} to a Fraction")
    return out if out != 0 else None


def parse_rate(value, name: str = "--fps") -> Fraction:
    """Parse a frame rate given as ``60``, ``"60000/1001"``, ``"59.94"`` or ``"10.5"``.

    ``"59.94"`` and the other NTSC decimals mean their exact ``x/1001`` rates; any other decimal is
    taken exactly (``"10.5"`` is 21/2). Raises :class:`OptionError` naming ``name``.
    """
    if isinstance(value, Fraction):
        rate = value
    elif isinstance(value, bool):
        raise OptionError(f"{name} must be a number, got {value!r}")
    elif isinstance(value, int):
        rate = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise OptionError(f"{name} must be a finite number, got {value!r}")
        text = repr(value)
        rate = _NTSC.get(text) or Fraction(text)
    else:
        text = str(value).strip()
        if text in _NTSC:
            rate = _NTSC[text]
        else:
            try:
                if "/" in text:
                    num, den = text.split("/", 1)
                    rate = Fraction(int(num), int(den))
                else:
                    rate = Fraction(text)
            except (ValueError, ZeroDivisionError):
                raise OptionError(
                    f"{name} must be a number such as 60, 59.94 or 60000/1001, got {text!r}"
                ) from None
    if rate <= 0:
        raise OptionError(f"{name} must be positive, got {value}")
    if rate > 10_000:
        raise OptionError(f"{name} is too high to be a frame rate, got {value}")
    return rate


def format_rate(rate: Fraction) -> str:
    """Short display form: ``60``, ``59.94``, ``60000/1001``-exact rates print as decimals."""
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


def parse_time(value, name: str = "--start") -> Fraction:
    """Parse a media time: seconds (``5``, ``2.5``, ``"1/3"``) or ``[HH:]MM:SS(.ms)``.

    Returns exact non-negative Fraction seconds (``"00:01:02.5"`` is 125/2). Raises
    :class:`OptionError` naming ``name``.
    """
    if isinstance(value, Fraction):
        seconds = value
    elif isinstance(value, bool):
        raise OptionError(f"{name} must be a time, got {value!r}")
    elif isinstance(value, int):
        seconds = Fraction(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise OptionError(f"{name} must be a finite time, got {value!r}")
        seconds = Fraction(repr(value))
    else:
        text = str(value).strip()
        parts = text.split(":")
        try:
            if len(parts) > 3 or any(not p.strip() for p in parts):
                raise ValueError(text)
            if len(parts) == 1:
                seconds = Fraction(text)
            else:
                *whole, last = parts
                decimal = last.replace(".", "", 1)
                if any(not p.isdigit() for p in whole + [decimal]) or Fraction(last) >= 60:
                    raise ValueError(text)
                if len(whole) == 2 and int(whole[1]) >= 60:
                    raise ValueError(text)
                seconds = Fraction(last)
                for i, part in enumerate(reversed(whole)):
                    seconds += int(part) * 60 ** (i + 1)
        except (ValueError, ZeroDivisionError):
            raise OptionError(
                f"{name} must be seconds (5, 2.5) or HH:MM:SS(.ms) (00:01:02.5), got {text!r}"
            ) from None
    if seconds < 0:
        raise OptionError(f"{name} must not be negative, got {value}")
    return seconds
