"""The ranges of the numbers the command takes: times, durations, counts and ports.

A huge, negative, nan or inf value is a usage error here, never an ``OverflowError`` from
``datetime``, SQLite or a socket deep inside, nor a negative ``t`` the server refuses.
Values the command reads itself fail with `UsageError` (one line); the argparse types
(``type=``) fail as argparse does, with the usage.
"""

from __future__ import annotations

import argparse
import math
import urllib.parse
from collections.abc import Callable

from lacecal_async.cli.usage import UsageError
from lacecal_async.redaction import cut

__all__ = [
    "MAX_RATE_COUNT",
    "MAX_RETRIES",
    "MAX_SECONDS",
    "MAX_UNIX",
    "MAX_WORKERS",
    "check_dsn_ports",
    "check_duration",
    "check_time",
    "check_workers",
    "finite_seconds",
    "positive_number",
    "whole_number",
]

#: The latest instant a time may name: 9999-12-31T23:59:59Z, the end of `datetime`'s range.
MAX_UNIX = 253_402_300_799
#: The longest duration [s]: as long as 1970 to 9999, far beyond any sensible one.
MAX_SECONDS = float(MAX_UNIX)
#: Most worker processes ``--workers`` starts on one host.
MAX_WORKERS = 256
#: Most ``--retries`` (each waits up to a rate period: 100 is over an hour of them at 6/60).
MAX_RETRIES = 100
#: Most requests per period a ``--rate`` may allow.
MAX_RATE_COUNT = 1_000_000
#: Longest run of digits read as a number: more is out of every range here (and
#: Python's int() refuses more than 4300 digits with a ValueError).
_MAX_DIGITS = 18
#: How much of a value a message quotes.
_QUOTED = 40
_MAX_PORT = 65_535


def _digits(text: str) -> bool:
    """Whether `text` is ASCII digits, few enough to read as a number."""
    return text.isascii() and text.isdigit() and len(text) <= _MAX_DIGITS


def check_time(value: int, text: str) -> int:
    """Return UNIX seconds `value` if in 1970 .. 9999 (UTC), else a `UsageError`."""
    if not 0 <= value <= MAX_UNIX:
        raise UsageError(
            f"time {cut(text, _QUOTED)!r} is out of range: from 1970-01-01 to 9999-12-31 "
            f"(UTC), UNIX seconds 0 to {MAX_UNIX}"
        )
    return value


def check_duration(value: float, text: str) -> float:
    """Return `value` [s] if finite, 0 or more and at most `MAX_SECONDS`, else a `UsageError`."""
    if not (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
        raise UsageError(
            f"duration {cut(text, _QUOTED)!r} is out of range: at most {MAX_SECONDS:.0f} seconds"
        )
    return value


def check_workers(workers: int) -> int:
    """Return ``--workers`` if from 1 to `MAX_WORKERS`, else a `UsageError`."""
    if not 1 <= workers <= MAX_WORKERS:
        raise UsageError(f"--workers is at least 1 and at most {MAX_WORKERS}")
    return workers


def _ports(dsn: str) -> list[str]:
    """Return the ports a PostgreSQL URI names, in its hosts and its ``port=`` parameter.

    Both may list several, comma-separated (``h1:5432,h2:5433``); ``[::1]:5432`` is IPv6.
    """
    rest = dsn.partition("://")[2]
    netloc, _, query = rest.partition("?")
    netloc = netloc.partition("/")[0].rpartition("@")[2]
    ports = []
    for host in netloc.split(","):
        spec = host.rpartition("]")[2] if host.startswith("[") else host  # [IPv6]:port
        if ":" in spec:
            ports.append(spec.rpartition(":")[2])
    for value in urllib.parse.parse_qs(query, keep_blank_values=True).get("port", []):
        ports.extend(value.split(","))
    return ports


def check_dsn_ports(dsn: str) -> str:
    """Return `dsn` if every port it names is a number from 1 to 65535, else a `UsageError`.

    The message does not quote the DSN (it may hold a password) nor the port.
    """
    for port in _ports(dsn):
        if port and not (_digits(port) and 1 <= int(port) <= _MAX_PORT):
            raise UsageError(
                f"the PostgreSQL DSN names a port that is not a number from 1 to {_MAX_PORT}"
            )
    return dsn


def positive_number(high: float, what: str = "number") -> Callable[[str], float]:
    """Return an argparse type: a finite number above 0, at most `high` (nan, inf refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 0 < value <= high):
            raise argparse.ArgumentTypeError(
                f"expected a positive {what} up to {high:g}, not {cut(text, _QUOTED)!r}"
            )
        return value

    return parse


def finite_seconds() -> Callable[[str], float]:
    """Return an argparse type: a positive, finite number of seconds up to `MAX_SECONDS`."""
    return positive_number(MAX_SECONDS, "number of seconds")


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """Return an argparse type: a whole number in ASCII digits from `low` to `high`."""

    def parse(text: str) -> int:
        value = text.strip()
        if not (_digits(value) and low <= int(value) <= high):
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {low} to {high}, not {cut(text, _QUOTED)!r}"
            )
        return int(value)

    return parse
