"""Calendar buckets in a time zone: where an hour, a local day or a month starts and ends.

Times are UNIX seconds; the zone is any `datetime.tzinfo` (a `zoneinfo.ZoneInfo`, a fixed
`datetime.timezone`, or the records' own `RecordOffsets`). A local day runs from one local
midnight to the next: 23 hours on the day clocks go forward, 25 on the day they go back.
An hour is a local clock hour; the hour the clocks repeat in autumn is two buckets (02:00
at +02:00, then 02:00 at +01:00), and the skipped spring hour is none.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Final, Literal

__all__ = ["BUCKETS", "LONGEST", "Bucket", "bucket_end", "bucket_start", "check_bucket"]

Bucket = Literal["hour", "day", "month"]
BUCKETS: Final[tuple[Bucket, ...]] = ("hour", "day", "month")
#: An upper bound of each bucket's length [s] in any zone (a month of 31 days, a DST shift).
LONGEST: Final[dict[Bucket, int]] = {"hour": 3600, "day": 27 * 3600, "month": 32 * 86400}


def check_bucket(bucket: str) -> Bucket:
    """Return `bucket` if it is one of `BUCKETS`, else raise ValueError."""
    for known in BUCKETS:
        if bucket == known:
            return known
    raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, not {bucket!r}")


def bucket_start(unix_time: int, bucket: Bucket, zone: tzinfo) -> int:
    """Return the start [UNIX s] of the bucket holding `unix_time` in `zone`."""
    local = datetime.fromtimestamp(unix_time, zone)
    if bucket == "hour":
        first = local.replace(minute=0, second=0, microsecond=0)  # keeps fold: 02:00 twice
    elif bucket == "day":
        first = datetime(local.year, local.month, local.day, tzinfo=zone)
    else:
        first = datetime(local.year, local.month, 1, tzinfo=zone)
    start = int(first.timestamp())
    if start > unix_time:  # pragma: no cover - a zone whose clocks jump over a bucket's start
        raise ValueError(f"{zone}: no {bucket} starts before {unix_time}")
    return start


def bucket_end(start: int, bucket: Bucket, zone: tzinfo) -> int:
    """Return where the bucket starting at `start` [UNIX s] ends: the next one's start.

    ValueError for an hour in a zone whose clocks move by part of an hour (Lord Howe
    Island): its local hours are not buckets that tile time.
    """
    if bucket == "hour":
        end = start + 3600
        if bucket_start(end, "hour", zone) != end:
            raise ValueError(
                f"{zone} moves its clocks by part of an hour: roll it up by day or month, "
                "or by hour in another zone"
            )
        return end
    local = datetime.fromtimestamp(start, zone)
    if bucket == "day":
        following = local.date() + timedelta(days=1)
        first = datetime(following.year, following.month, following.day, tzinfo=zone)
    else:
        year, month = divmod(local.year * 12 + local.month, 12)  # the next month, 0-based
        first = datetime(year, month + 1, 1, tzinfo=zone)
    return int(first.timestamp())
