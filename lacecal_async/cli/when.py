"""``--start``/``--end`` values: ISO dates and datetimes, months, years, UNIX seconds, ``now``.

A month (``2024-10``) or a year (``2024``) means its first local midnight, so
``--start 2024-10 --end 2024-11`` is October; four digits are a year, never UNIX seconds.
A date, or a datetime without an offset, is the plants' local time (Europe/Madrid, as the
service's ``date`` field is); a datetime with an offset (or ``Z``) is taken as it is. A
local time the autumn DST change repeats means its first occurrence. A time before 1970 or
after 9999 (UTC) is a usage error, not a negative ``t`` or an overflow.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from lacecal_async.cli.bounds import MAX_UNIX, check_time
from lacecal_async.cli.usage import UsageError

__all__ = ["LOCAL_ZONE", "WHEN_HELP", "parse_when"]

#: The plants' time zone: dates and naive datetimes on the command line mean local time here.
LOCAL_ZONE = ZoneInfo("Europe/Madrid")

WHEN_HELP = """\
WHEN is an ISO date (2024-10-21: local midnight), a month (2024-10: its first local
midnight) or a year (2024), an ISO datetime (2024-10-21T08:30, local; or with an offset:
2024-10-21T08:30+02:00, 2024-10-21T06:30Z), UNIX seconds (1729461600) or 'now'.
Local time is the plants' time zone, Europe/Madrid: --start 2024-10 --end 2024-11
is October."""

_MONTH = re.compile(r"([0-9]{4})(?:-([0-9]{2}))?")


def parse_when(
    text: str, *, now: Callable[[], float] = time.time, zone: tzinfo = LOCAL_ZONE
) -> int:
    """Return the UNIX time `text` names (rounded up to a whole second), 1970 to 9999 UTC.

    `zone`: where a date or a datetime without an offset is local time (the plants').
    """
    value = text.strip()
    if value.lower() == "now":
        return int(now())
    month = _MONTH.fullmatch(value)
    if value.isascii() and value.isdigit() and month is None:
        # More digits than the latest time has are out of range (and int() refuses 4300+).
        return check_time(int(value) if len(value) <= len(str(MAX_UNIX)) else -1, text)
    try:
        if month is not None:
            when = datetime(int(month[1]), int(month[2] or 1), 1)
        else:
            when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"invalid time {text!r}: expected an ISO date (2024-10-21), a month (2024-10), "
            "a year (2024), an ISO datetime (2024-10-21T08:30, 2024-10-21T08:30+02:00), "
            "UNIX seconds or 'now'"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    try:
        stamp = math.ceil(when.timestamp())
    except (OverflowError, ValueError):  # local 9999-12-31T23:59 and the like
        stamp = -1
    return check_time(stamp, text)
