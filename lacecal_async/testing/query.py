"""Reading a request's parameters exactly as the spec words them, and rejecting the rest.

Decisions where the spec is silent: a missing or bad ``out``, ``n`` outside 1..144, and a
non-numeric ``t`` or malformed ``d`` get HTTP 400 with a short reason, so that a client bug
shows up in its tests rather than as a quietly shortened page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import attrs

from lacecal_async.endpoints import Endpoint, WireFormat
from lacecal_async.testing.plants import MADRID

__all__ = ["MAX_N", "BadRequestError", "Query", "parse_local", "parse_query"]

#: The largest ``n`` the spec allows.
MAX_N = 144
_D_RE = re.compile(r"\d{12}", re.ASCII)
_INT_RE = re.compile(r"-?\d{1,15}", re.ASCII)


class BadRequestError(ValueError):
    """A request the fake answers with HTTP 400; the message is the reply body."""


@attrs.frozen
class Query:
    """What one request asks for: format, first instant (None: the latest record) and n."""

    wire_format: WireFormat
    start: int | None = None
    n: int = 1


def _exists(naive: datetime) -> bool:
    aware = naive.replace(tzinfo=MADRID)
    back = aware.astimezone(UTC).astimezone(MADRID).replace(tzinfo=None)
    return back == naive


def parse_local(d: str) -> int:
    """Turn ``yyyyMMddhhmm`` Madrid wall time into UNIX seconds.

    An ambiguous time (the hour repeated in autumn) is its first occurrence (summer time);
    a time that does not exist (the hour skipped in spring) is the instant the clocks
    jumped, i.e. the first instant after the gap.
    """
    if not _D_RE.fullmatch(d):
        raise BadRequestError("d must be yyyyMMddhhmm")
    try:
        naive = datetime.strptime(d, "%Y%m%d%H%M")
    except ValueError:
        raise BadRequestError("d is not a valid date") from None
    while not _exists(naive):
        naive += timedelta(minutes=1)
    return int(naive.replace(tzinfo=MADRID, fold=0).timestamp())


def _int(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None:
        return None
    if not _INT_RE.fullmatch(value):
        raise BadRequestError(f"{name} must be an integer")
    return int(value)


def parse_query(endpoint: Endpoint, query: Mapping[str, str]) -> Query:
    """Validate a request's parameters; raise `BadRequestError` with the reason if invalid."""
    out = query.get("out")
    if out not in ("json", "xml"):
        raise BadRequestError("out must be json or xml")
    wire_format = WireFormat(out)
    if not endpoint.is_timed:
        return Query(wire_format)
    n = _int(query, "n")
    if n is not None and not 1 <= n <= MAX_N:
        raise BadRequestError(f"n must be between 1 and {MAX_N}")
    t = _int(query, "t")
    d = query.get("d")
    start = t if t is not None else (parse_local(d) if d is not None else None)
    return Query(wire_format, start, 1 if n is None else n)
