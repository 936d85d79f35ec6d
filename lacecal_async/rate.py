"""The ``N/SECONDS`` notation of a per-ITR rate limit (``6/60``: 6 requests a minute).

One parser for everyone who reads it from text: the `lacecal` command and the fake server.
"""

from __future__ import annotations

import math

__all__ = ["parse_rate", "parse_rate_or_none"]


def parse_rate(text: str) -> tuple[int, float]:
    """Return ``(N, SECONDS)`` from ``N/SECONDS``.

    Raises ValueError unless N is a whole number of at least 1 and SECONDS a finite,
    positive number.
    """
    return _parse(text, allow_none=False)


def parse_rate_or_none(text: str) -> tuple[int, float] | None:
    """Return ``(N, SECONDS)`` as `parse_rate` does, or None for ``none`` (no limit)."""
    if text.strip().lower() == "none":
        return None
    return _parse(text, allow_none=True)


def _parse(text: str, *, allow_none: bool) -> tuple[int, float]:
    count, sep, seconds = text.partition("/")
    try:
        rate = (int(count), float(seconds))
    except ValueError:
        rate = None
    if not sep or rate is None or rate[0] < 1 or not (math.isfinite(rate[1]) and rate[1] > 0):
        expected = "N/SECONDS, e.g. 6/60" + (", or none" if allow_none else "")
        raise ValueError(f"expected {expected}, not {text!r}")
    return rate
