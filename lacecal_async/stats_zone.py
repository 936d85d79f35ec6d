"""The zone a plant's records make: each record's own UTC offset, for a rollup given no zone.

The service dates every record in the plant's local time with its offset then (``+02:00``
in a Madrid summer, ``+01:00`` in winter). `RecordOffsets` is a `datetime.tzinfo` built from
those offsets as the records arrive: at an instant, the offset of the latest record at or
before it (the first record's before that). Where every record is there it is the plant's
own zone, DST changes included; where a hole spans a change, the change is placed at the
first record after the hole. Pass a `zoneinfo.ZoneInfo` to a rollup to be exact regardless.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, tzinfo

__all__ = ["RecordOffsets"]

#: Stands for "forever ago": the first offset holds before the first record too.
_ALWAYS = -(2**62)
#: No UTC offset is larger (UTC+14 is the largest in use): bounds a wall time's instants.
_MAX_OFFSET = 16 * 3600
_EPOCH = datetime(1970, 1, 1)  # naive on purpose: wall times are naive


class RecordOffsets(tzinfo):
    """A `tzinfo` whose offset at an instant is that of the latest record observed by then.

    `observe` each record in time order before using the zone for instants near it;
    instants after the last observed record take its offset. Wall times follow PEP 495:
    a time the clocks repeat has ``fold=0`` (first) and ``fold=1`` (second); a time they
    skip maps with the offset before the change (``fold=0``) or after it (``fold=1``).
    """

    def __init__(self) -> None:
        self._starts: list[int] = []  # where each offset begins [UNIX s]; the first: _ALWAYS
        self._offsets: list[int] = []  # [s]
        self._latest: int | None = None

    def observe(self, unix_time: int, offset: int) -> bool:
        """Note a record's start [UNIX s] and offset [s]; return whether the offset changed.

        ValueError for a time before the last one observed (records come in time order).
        """
        if self._latest is not None and unix_time < self._latest:
            raise ValueError("records must come in time order")
        self._latest = unix_time
        if self._offsets and self._offsets[-1] == offset:
            return False
        self._starts.append(_ALWAYS if not self._starts else unix_time)
        self._offsets.append(offset)
        return len(self._offsets) > 1

    def offset_at(self, unix_time: int) -> int:
        """Return the offset [s] in force at an instant [UNIX s]."""
        if not self._offsets:
            raise ValueError("no record observed yet: the zone has no offset")
        return self._offsets[bisect.bisect_right(self._starts, unix_time) - 1]

    def _end(self, index: int) -> int:
        return self._starts[index + 1] if index + 1 < len(self._starts) else 2**62

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        """Return the offset of a wall time (`dt` naive in this zone), by PEP 495's fold."""
        if dt is None:
            return None
        if not self._offsets:
            raise ValueError("no record observed yet: the zone has no offset")
        wall = int((dt.replace(tzinfo=None) - _EPOCH).total_seconds())
        low = max(bisect.bisect_right(self._starts, wall - _MAX_OFFSET) - 1, 0)
        high = bisect.bisect_right(self._starts, wall + _MAX_OFFSET)
        fits = [
            self._offsets[i]
            for i in range(low, high)
            if self._starts[i] <= wall - self._offsets[i] < self._end(i)
        ]
        if fits:  # one instant, or two in a repeated hour: the first for fold=0
            return timedelta(seconds=fits[-1] if dt.fold else fits[0])
        # A skipped wall time: it lies between two segments' instants.
        after = next(
            i for i in range(max(low, 1), high) if wall - self._offsets[i] < self._starts[i]
        )
        return timedelta(seconds=self._offsets[after if dt.fold else after - 1])

    def fromutc(self, dt: datetime) -> datetime:
        """Return the wall time of a UTC time (`dt` with this zone), fold set when repeated."""
        if not self._offsets:
            raise ValueError("no record observed yet: the zone has no offset")
        instant = int((dt.replace(tzinfo=None) - _EPOCH).total_seconds())
        index = max(bisect.bisect_right(self._starts, instant) - 1, 0)
        offset = self._offsets[index]
        local = dt + timedelta(seconds=offset)
        previous = self._offsets[index - 1] if index > 0 else offset
        repeated = previous > offset and instant + offset < self._starts[index] + previous
        return local.replace(fold=int(repeated))

    def dst(self, dt: datetime | None) -> timedelta | None:  # noqa: ARG002 - tzinfo's API
        """Unknown: the records carry offsets, not which part of them is daylight saving."""
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        """Return ``UTC+02:00`` and the like: the offset, as the records give no name."""
        offset = self.utcoffset(dt)
        if offset is None:
            return None
        minutes = int(offset.total_seconds()) // 60
        hours, rest = divmod(abs(minutes), 60)
        return f"UTC{'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d}"

    def __repr__(self) -> str:
        pairs = zip(self._starts, self._offsets, strict=True)
        shown = ", ".join(f"{start}: {offset}" for start, offset in pairs)
        return f"RecordOffsets({{{shown}}})"
