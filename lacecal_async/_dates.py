"""A record's ``date`` text as an aware datetime, with one shared `timezone` per UTC offset.

``datetime.fromisoformat`` makes a new `timezone` object for every text it reads (56 bytes
each, and a plant's 144 records a day all carry the same offset). Here every start with the
same offset shares one object, so a caller may also compare zones by identity.

`aware` reads any text ``fromisoformat`` takes; `start` also checks the instant against the
record's ``unix_time``. Both have a cheap path for the service's own shape
(``2017-06-05 13:00:00 +0200``): the text splits into its day (``2017-06-05 ``) and its time
of day with the offset (``13:00:00 +0200``), and both halves recur (a day's records share
the first, every day repeats the second), so each half is read once and remembered in
`DAYS` and `TIMES`. A start is then one addition, its check against ``unix_time`` an
integer sum, about a third of what reading the text and comparing datetimes costs.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final

__all__ = ["DAYS", "TIMES", "DateMismatchError", "aware", "check", "start", "zone"]

#: Zones kept (distinct offsets seen); beyond it a fresh zone per text, so hostile replies
#: with sub-second offsets cannot grow the table without bound.
_MAX_ZONES: Final = 1024
_ZONES: dict[timedelta, timezone] = {timedelta(0): UTC}
#: Entries each cache keeps at most (about 4 MB at most): beyond it a cache starts over, so
#: hostile replies cannot grow it without bound and a decade-long backfill still fits.
MAX_CACHED: Final = 1 << 14
#: Day text (``2017-06-05 ``, the first 11 characters) -> (its local midnight in seconds
#: from 1970-01-01 00:00 local, that as a timedelta).
DAYS: dict[str, tuple[int, timedelta]] = {}
#: Time of day and offset text (``13:00:00 +0200``, from character 11 on) -> (seconds after
#: local midnight less the offset, 1970-01-01 at that time in the shared zone).
TIMES: dict[str, tuple[int, datetime]] = {}
#: The service's shape, ASCII digits only: a day, then a time of day in whole seconds with an
#: offset in whole minutes. Only texts of this shape are remembered.
_SHAPE: Final = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?: ?[+-]\d\d:?\d\d|Z)", re.ASCII)
_EPOCH_DAY: Final = date(1970, 1, 1).toordinal()
_DAY: Final = 86_400


class DateMismatchError(ValueError):
    """A record's ``date`` text is not the instant its ``unix_time`` says."""


def zone(offset: timedelta) -> timezone:
    """Return the shared `timezone` for `offset`."""
    found = _ZONES.get(offset)
    if found is None:
        found = timezone(offset)
        if len(_ZONES) < _MAX_ZONES:
            found = _ZONES.setdefault(offset, found)
    return found


def aware(text: object) -> datetime:
    """Read ``2017-06-05 13:00:00 +0200`` (any ISO 8601 text with an offset) in a shared zone."""
    if type(text) is not str:
        raise ValueError(f"expected a date with a UTC offset, got {type(text).__name__}")
    day, time = DAYS.get(text[:11]), TIMES.get(text[11:])
    if day is not None and time is not None:
        return time[1] + day[1]
    moment = datetime.fromisoformat(text)
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("expected a date with a UTC offset, got one without")
    shared = zone(offset)
    if moment.tzinfo is not shared:
        moment = moment.replace(tzinfo=shared)
    _learn(text, moment)
    return moment


def check(moment: datetime, unix_time: int, text: str) -> None:
    """Raise DateMismatchError unless `moment`, `aware`'s reading of `text`, is `unix_time`."""
    day, time = DAYS.get(text[:11]), TIMES.get(text[11:])
    if day is not None and time is not None and day[0] + time[0] == unix_time:
        return
    try:
        same = moment == datetime.fromtimestamp(unix_time, moment.tzinfo)
    except (OverflowError, OSError, ValueError):
        same = False
    if not same:
        raise DateMismatchError(f"date {text!r} is not the instant of unix_time {unix_time}")


def start(text: object, unix_time: int) -> datetime:
    """Return the record's start: `text` read by `aware`, checked against `unix_time`.

    The cheap path first: both halves of the text seen before, and their sum is `unix_time`.
    `lacecal_async._json_records` inlines it (a call per record costs ~5% there).
    """
    if type(text) is str:
        day, time = DAYS.get(text[:11]), TIMES.get(text[11:])
        if day is not None and time is not None and day[0] + time[0] == unix_time:
            return time[1] + day[1]
    moment = aware(text)
    check(moment, unix_time, str(text))  # aware takes a str only
    return moment


def _learn(text: str, moment: datetime) -> None:
    """Remember `text`'s two halves for the cheap path, if it has the service's shape."""
    if not _SHAPE.fullmatch(text):
        return
    offset = moment.utcoffset()
    if offset is None or moment.microsecond:  # pragma: no cover - the shape rules both out
        return
    days = date.fromisoformat(text[:10]).toordinal() - _EPOCH_DAY
    since_midnight = moment.hour * 3600 + moment.minute * 60 + moment.second
    day = (days * _DAY, timedelta(days=days))
    time = (
        since_midnight - (offset.days * _DAY + offset.seconds),
        datetime(1970, 1, 1, moment.hour, moment.minute, moment.second, tzinfo=moment.tzinfo),
    )
    if time[1] + day[1] != moment:  # pragma: no cover - a guard on the arithmetic above
        return
    if len(DAYS) >= MAX_CACHED:
        DAYS.clear()
    if len(TIMES) >= MAX_CACHED:
        TIMES.clear()
    DAYS[text[:11]] = day
    TIMES[text[11:]] = time
