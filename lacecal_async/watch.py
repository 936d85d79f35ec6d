"""Watching plants without a store: their records in ``(itr, records, cursor)`` batches.

`catch_up` brings one plant's endpoint from a `Cursor` up to its latest record, a batch per
page. `watch` does that for many plants, then asks each again when its `PollPlan` says
(once per its integration period, `lacecal_async.polling`), forever: a failing plant backs
off on its own and is retried, never dropped, and never holds the others back. The tasks
stop as a fan-out's do (`lacecal_async._producers`): on ``aclose()``, a cancellation, or
the client's close, at once.

The cursor says which records were delivered, so a caller that saves each batch's records
and its cursor in ONE transaction, and passes the saved cursors back after a restart, gets
every record exactly once: a batch either is saved whole with its cursor, or is asked for
again. A cursor is a small frozen value; `Cursor.to_json` / `Cursor.from_json` persist it.
It holds no identifier (key it by your own name for the plant).

Time is the client's: a record starting more than `future_tolerance` after the clock (a
logger's clock glitch: its latest record dated next year) is never delivered and never
moves a cursor. The records before it are, and `catch_up` then raises `LacecalClockError`,
as it does when the server's latest record is older than one already delivered: a plant
that cannot progress is a failure its caller sees, never a quiet "nothing new".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import attrs

from lacecal_async._paging import replies
from lacecal_async._producers import Crash, Producers, consume, reported
from lacecal_async._protocol import validate_range
from lacecal_async._transport import Transport
from lacecal_async.clock import Clock, SystemClock, sleep_until
from lacecal_async.endpoints import DEFAULT_INTERVAL, Endpoint, EndpointLike, timed
from lacecal_async.errors import LacecalClockError, LacecalClosedError, LacecalError
from lacecal_async.itr import redact, validate_itr
from lacecal_async.polling import Outcome, PollPlan

__all__ = ["CLOCK_SKEW", "Cursor", "WatchBatch", "catch_up", "future_tolerance", "watch"]

#: How far a server's or logger's clock may run ahead of the client's and still be believed [s].
CLOCK_SKEW = 300
#: The longest period `future_tolerance` allows for [s]: a record claiming a longer one is
#: no reason to believe a date further ahead.
_LONGEST_PERIOD = 86_400

_log = logging.getLogger("lacecal_async.watch")
_CURSOR_VERSION = 1


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("a cursor's times are int UNIX seconds")
    return value


def _interval(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError("a cursor's interval is a positive int number of seconds, or None")
    return value


def future_tolerance(interval: int | None) -> int:
    """Return how far after the clock a record of period `interval` may start [s].

    One period (at most a day; `DEFAULT_INTERVAL` when unknown), as a server may list the
    period under way, plus `CLOCK_SKEW`: 15 minutes for the usual 10-minute periods.
    """
    return min(interval or DEFAULT_INTERVAL, _LONGEST_PERIOD) + CLOCK_SKEW


def _utc(unix_time: float) -> str:
    """Say when, in UTC; a time no datetime holds (a glitch to 9999-12-31 -12:00) in UNIX s."""
    try:
        return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return f"UNIX time {unix_time:.0f}"


def _span(seconds: float) -> str:
    """Say how far ahead a record is: always more than `CLOCK_SKEW`, so minutes at least."""
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds / 60:.1f} min"


@attrs.frozen
class Cursor:
    """Where one plant's endpoint stands: every record starting at or before `after` is delivered.

    endpoint: "meter" or "inverter".  after: a UNIX time; the next batch starts after it.
    interval: the plant's integration period [s] once a record told it (None before).
    """

    endpoint: Endpoint = attrs.field(converter=timed)
    after: int = attrs.field(converter=_whole)
    interval: int | None = attrs.field(default=None, converter=_interval)

    @classmethod
    def since(cls, endpoint: EndpointLike, since: datetime | int) -> Cursor:
        """Return the cursor of a plant never followed: its first batch starts at `since`."""
        start, _ = validate_range(since, None)
        assert start is not None  # noqa: S101 - validate_range keeps a given start
        return cls(endpoint, start - 1)

    def advanced(self, records: Iterable[Any]) -> Cursor:
        """Return the cursor after `records` (in time order) were delivered.

        One cursor per page, not per record: a backfill's pages hold hundreds of records.
        """
        after, interval, seen = self.after, self.interval, False
        for record in records:
            unix_time = record.unix_time
            after = max(after, unix_time)
            interval, seen = record.interval, True
        return Cursor(self.endpoint, after, interval) if seen else self

    def to_json(self) -> str:
        """Return the cursor as a short JSON text (store it beside the records)."""
        return json.dumps(
            {
                "v": _CURSOR_VERSION,
                "endpoint": self.endpoint.value,
                "after": self.after,
                "interval": self.interval,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Cursor:
        """Return the cursor `to_json` gave; ValueError for anything else."""
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("v") != _CURSOR_VERSION:
            raise ValueError("not a lacecal cursor: not a version-1 cursor's JSON")
        try:
            return cls(data["endpoint"], data["after"], data.get("interval"))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"not a lacecal cursor: {exc}") from None


#: A batch's record type (`MeterRecord`, `InverterRecord`): what `client.watch`'s token names.
R_co = TypeVar("R_co", covariant=True)


@attrs.frozen
class WatchBatch(Generic[R_co]):
    """One page of a plant's new records and the cursor after them.

    Unpacks as ``itr, records, cursor``; its repr shows the identifier redacted.
    """

    itr: str = attrs.field(repr=redact)
    records: tuple[R_co, ...]
    cursor: Cursor

    def __iter__(self) -> Iterator[Any]:
        """Yield the identifier, the records and the cursor."""
        return iter((self.itr, self.records, self.cursor))


async def catch_up(
    transport: Transport, itr: str, cursor: Cursor, *, clock: Clock | None = None
) -> AsyncGenerator[tuple[tuple[Any, ...], Cursor]]:
    """Yield ``(records, cursor)`` per page from after `cursor` up to the latest record.

    One request asks for the latest record; nothing newer than the cursor ends it there.
    When the latest record is the next period's (the usual poll), that request is all;
    otherwise the range in between is paged (the Pager handles gaps), then the latest.

    `clock` (default: the system's) tells what "now" is. A latest record starting more than
    `future_tolerance` after it is refused: the records up to the tolerance are yielded,
    then `LacecalClockError` (future) is raised; so it is when the latest record is older
    than the cursor's (one a record set, not a `Cursor.since`).
    """
    endpoint = cursor.endpoint
    found = await transport.request(endpoint, itr)
    if not found:
        return
    latest = found[-1]
    now = (clock or SystemClock()).now()
    limit = now + future_tolerance(cursor.interval or latest.interval)
    if latest.unix_time > limit:
        end = int(limit) + 1
        if cursor.after + 1 < end:  # the records a working clock dated: they are news
            pages = replies(transport, endpoint, itr, cursor.after + 1, end)
            async with contextlib.aclosing(pages):
                async for reply in pages:
                    if reply.records:
                        cursor = cursor.advanced(reply.records)
                        yield reply.records, cursor
        raise LacecalClockError(
            f"{endpoint.value} for ITR {redact(itr)}: the latest record starts "
            f"{_utc(latest.unix_time)}, {_span(latest.unix_time - now)} after this client's "
            f"clock (more than one period and {CLOCK_SKEW} s of skew): a clock fault of the "
            "logger or server; that record is ignored, the ones before it are kept",
            endpoint=endpoint.value,
            record_time=latest.unix_time,
            reference=now,
            future=True,
        )
    if latest.unix_time < cursor.after and cursor.interval is not None:
        why = (
            "that one is dated after this client's clock: resume from a cursor before it"
            if cursor.after > limit
            else "the server's clock went back or it lost data; nothing newer is fetched "
            "until it passes that one"
        )
        raise LacecalClockError(
            f"{endpoint.value} for ITR {redact(itr)}: the latest record starts "
            f"{_utc(latest.unix_time)}, before the newest one already delivered "
            f"({_utc(cursor.after)}): {why}",
            endpoint=endpoint.value,
            record_time=latest.unix_time,
            reference=cursor.after,
            future=False,
        )
    if latest.unix_time <= cursor.after:
        return
    only_new = (
        cursor.interval is not None
        and latest.interval == cursor.interval
        and latest.unix_time <= cursor.after + cursor.interval
    )
    if not only_new and cursor.after + 1 < latest.unix_time:
        pages = replies(transport, endpoint, itr, cursor.after + 1, latest.unix_time)
        async with contextlib.aclosing(pages):
            async for reply in pages:
                if reply.records:
                    cursor = cursor.advanced(reply.records)
                    yield reply.records, cursor
    yield (latest,), cursor.advanced((latest,))


async def _watch_one(
    transport: Transport,
    key: str,
    cursor: Cursor,
    clock: Clock,
    queue: asyncio.Queue[WatchBatch[Any] | Crash | None],
) -> None:
    itr = validate_itr(key)
    plan = PollPlan.of(itr)
    failures = 0
    while True:
        try:
            pages = catch_up(transport, itr, cursor, clock=clock)
            async with contextlib.aclosing(pages):
                async for records, after in pages:
                    cursor = after
                    await queue.put(WatchBatch(key, records, cursor))
        except LacecalClosedError:
            raise
        except LacecalClockError as exc:
            # The plant goes on (the records before a future one came): keep its schedule.
            failures += 1
            outcome = Outcome.CLOCK_FAULT
            _log.warning(
                "%s %s: %s (%d in a row)", redact(itr), cursor.endpoint.value, exc, failures
            )
        except LacecalError as exc:
            failures += 1
            outcome, error = Outcome.FAILED, exc
        else:
            failures, outcome = 0, Outcome.CAUGHT_UP
        # The periods lie on the latest record's start; before any, on the start asked for.
        grid = cursor.after if cursor.interval is not None else cursor.after + 1
        now = clock.now()
        when = plan.next_poll(outcome, now, interval=cursor.interval, grid=grid, failures=failures)
        if outcome is Outcome.FAILED:
            _log.warning(
                "%s %s: %s (failure %d in a row; again in %.0f s)",
                redact(itr),
                cursor.endpoint.value,
                error,
                failures,
                when - now,
            )
        await sleep_until(clock, when)


def watch(
    transport: Transport,
    itrs: Iterable[str],
    endpoint: EndpointLike,
    since: datetime | int | None,
    cursors: Mapping[str, Cursor] | None,
    *,
    clock: Clock | None = None,
    buffer: int = 64,
) -> AsyncGenerator[WatchBatch[Any]]:
    """Yield every plant's new records as `WatchBatch`es, catching up first, until closed."""
    target = timed(endpoint)
    clock = clock if clock is not None else SystemClock()
    start = None if since is None else Cursor.since(target, since)
    cursors = dict(cursors or {})
    plan: dict[str, Cursor] = {}
    for itr in itrs:
        cursor = cursors.get(itr, start)
        if cursor is None:
            raise ValueError(f"no cursor for {redact(itr)} and no `since`: give one or the other")
        if cursor.endpoint is not target:
            raise ValueError(f"the cursor for {redact(itr)} is for {cursor.endpoint.value}")
        validate_itr(itr)
        plan.setdefault(itr, cursor)
    producers: Producers[WatchBatch[Any]] = Producers(asyncio.Queue(buffer))

    def begin() -> None:
        for itr, cursor in plan.items():
            work = _watch_one(transport, itr, cursor, clock, producers.queue)
            producers.start(reported(work, producers.queue))

    return consume(transport, producers, begin)
