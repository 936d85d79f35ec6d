"""A record's ``date`` text as an aware datetime, with one shared `timezone` per UTC offset.

``datetime.fromisoformat`` makes a new `timezone` object for every text it reads (56 bytes
each, and a plant's 144 records a day all carry the same offset). Here every start with the
same offset shares one object, so a caller may also compare zones by identity.

`aware` reads any text ``fromisoformat`` takes; `start` also checks the instant against the
record's ``unix_time`` and has a cheap path for the service's own shape
(``2017-06-05 13:00:00 +0200``): the local time parsed naive, the offset looked up from the
text after it, which is ~3x cheaper than a comparison of two aware datetimes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

__all__ = ["EPOCH", "SUFFIXES", "DateMismatchError", "aware", "check", "start", "zone"]

#: Zones kept (distinct offsets seen); beyond it a fresh zone per text, so hostile replies
#: with sub-second offsets cannot grow the table without bound.
_MAX_ZONES: Final = 1024
_ZONES: dict[timedelta, timezone] = {timedelta(0): UTC}
#: Offset text after the 19-character local time -> (offset [s], 1970-01-01 00:00 there).
SUFFIXES: dict[str, tuple[int, datetime]] = {}
#: What may become a `SUFFIXES` key: an offset in whole minutes, nothing else.
_SUFFIX: Final = re.compile(r" ?(?:[+-]\d\d:?\d\d|Z)", re.ASCII)
EPOCH: Final = datetime(1970, 1, 1)
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
    known = SUFFIXES.get(text[19:])
    if known is not None:  # the service's shape: the local time, then an offset seen before
        try:
            local = datetime.fromisoformat(text[:19])
        except ValueError:
            local = None
        if local is not None and local.tzinfo is None:
            return known[1] + (local - EPOCH)
    moment = datetime.fromisoformat(text)
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("expected a date with a UTC offset, got one without")
    shared = zone(offset)
    if moment.tzinfo is not shared:
        moment = moment.replace(tzinfo=shared)
    if known is None:
        _learn(text, moment)
    return moment


def check(moment: datetime, unix_time: int, text: object) -> None:
    """Raise DateMismatchError unless `moment` is the instant `unix_time`."""
    try:
        same = moment == datetime.fromtimestamp(unix_time, moment.tzinfo)
    except (OverflowError, OSError, ValueError):
        same = False
    if not same:
        raise DateMismatchError(f"date {text!r} is not the instant of unix_time {unix_time}")


def start(text: object, unix_time: int) -> datetime:
    """Return the record's start: `text` read by `aware`, checked against `unix_time`."""
    moment = aware(text)
    check(moment, unix_time, text)
    return moment


def _learn(text: str, moment: datetime) -> None:
    """Remember `text`'s offset suffix for the cheap path, if it is an offset in whole minutes."""
    suffix = text[19:]
    if len(SUFFIXES) >= _MAX_ZONES or not _SUFFIX.fullmatch(suffix):
        return
    try:
        local = datetime.fromisoformat(text[:19])
    except ValueError:
        return
    offset = moment.utcoffset()
    if offset is not None and local.tzinfo is None and local == moment.replace(tzinfo=None):
        epoch_there = EPOCH.replace(tzinfo=moment.tzinfo)
        SUFFIXES[suffix] = (offset.days * _DAY + offset.seconds, epoch_there)
