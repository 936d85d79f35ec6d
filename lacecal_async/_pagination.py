"""Sans-I/O pagination over a time range: which page to ask for next, and what to keep.

The API answers "records dated on or after `t`, at most `n`" but does not say whether `n`
counts records (a ``>= t LIMIT n`` query) or integration periods (then a page across a gap
comes back short, or empty, although later data exists). `Pager` loses nothing either way:

* every request sends `t` (never the local-time `d`, which DST makes ambiguous) and as `n`
  the number of periods left in the range (at most 144);
* a full page continues just after its last record;
* a short page is not proof of the end: the pager learns where the data ends (one request
  without `t` returns the latest record) and goes on past the gap if there is more. The
  first time it must cross a gap it re-asks just after the last record; an answer with
  nothing before the end of the short page's window proves the server counts periods, and
  from then on gaps are skipped a whole window at a time;
* records come out strictly increasing and never twice; a server that goes backwards or
  does not advance is a `LacecalParseError`, not an endless loop.

Cost, for P periods in the range: a bounded range the pages complete (it ends before the
latest record, or its last page's window reaches its end) costs ceil(P/144) requests and
no lookup, for any period of at least `MIN_INTERVAL` (the first page is sized in those).
The latest record is looked up only when `end` is open (first), or when a short page
leaves it unknown whether data goes on; a looked-up record inside the range is handed
out, not fetched again. Gaps cost at most two more requests (one when `n` counts records).
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Sequence
from typing import Protocol

import attrs

from lacecal_async.endpoints import DEFAULT_INTERVAL, MAX_PAGE, expected_pages
from lacecal_async.errors import LacecalParseError

__all__ = ["DEFAULT_INTERVAL", "MAX_PAGE", "MIN_INTERVAL", "PageRequest", "Pager", "TimedRecord"]
_UNIX_TIME = operator.attrgetter("unix_time")
#: Shortest integration period plants use [s] (300, 600, 900, 3600 are seen). The first page,
#: asked before any reply tells the period, counts the range in these: a longer period
#: brings records past the range's end (bandwidth) instead of a second request.
MIN_INTERVAL = 300


class TimedRecord(Protocol):
    """What the pager needs of a record: when its period starts, and how long it is."""

    @property
    def unix_time(self) -> int: ...

    @property
    def interval(self) -> int: ...


@attrs.frozen
class PageRequest:
    """One request to make: `t` is None for "the latest record" (no `t`, no `n`)."""

    t: int | None
    n: int


@attrs.define
class Pager:
    """Plan the requests for records in ``[start, end)``; `end` None means up to the latest.

    Drive it with ``while (req := pager.next_request()) is not None: pager.feed(req, page)``;
    `feed` returns the records to hand to the caller, in order. `requests` counts the
    replies fed so far (retries are the transport's business).
    """

    start: int
    end: int | None
    endpoint: str
    interval: int | None = attrs.field(init=False, default=None)
    requests: int = attrs.field(init=False, default=0)
    _cursor: int = attrs.field(init=False)
    _next_period: int = attrs.field(init=False)
    _last: int | None = attrs.field(init=False, default=None)
    _latest: int | None = attrs.field(init=False, default=None)
    _latest_known: bool = attrs.field(init=False, default=False)
    #: The looked-up latest record, inside the range: handed out after the pages before it.
    _tail: TimedRecord | None = attrs.field(init=False, default=None)
    _counts_periods: bool = attrs.field(init=False, default=False)
    #: After a short page: its (t, n), while we wait for the latest record.
    _short: tuple[int, int] | None = attrs.field(init=False, default=None)
    #: A re-ask after a short page: the end of the window the short page covered.
    _probe_until: int | None = attrs.field(init=False, default=None)
    _done: bool = attrs.field(init=False, default=False)
    #: Any record's start: periods begin at it plus a multiple of the interval.
    _phase: int | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self._cursor = self._next_period = self.start
        if self.end is not None and self.end <= self.start:
            self._done = True

    def next_request(self) -> PageRequest | None:
        """Return the next request to make, or None when the range is complete."""
        if self._done:
            return None
        if not self._latest_known and (self.end is None or self._short is not None):
            return PageRequest(t=None, n=1)
        limit = self._limit()
        n = MAX_PAGE if limit is None else min(MAX_PAGE, self._periods_before(limit))
        return PageRequest(t=self._cursor, n=max(n, 1))

    def expected_pages(self) -> int | None:
        """Pages the range takes once the period is known and the range bounded (no gaps)."""
        if self.end is None or self.interval is None:
            return None
        return expected_pages(self.start, self.end, self.interval)

    def feed(self, request: PageRequest, records: Sequence[TimedRecord]) -> list[TimedRecord]:
        """Take the reply to `request`; return the records that belong to the range."""
        self.requests += 1
        if records:
            self.interval = records[-1].interval
            self._phase = records[-1].unix_time
        if request.t is None:
            self._take_latest(records)
            return self._settle([])
        if request.t != self._cursor:
            raise ValueError("feed() takes the request that next_request() returned")
        times = self._check_order(request.t, records)
        limit = self._limit()
        # Increasing (checked), so the records before `limit` are a prefix.
        kept = list(records if limit is None else records[: bisect.bisect_left(times, limit)])
        if kept:
            self._last = kept[-1].unix_time
        if len(kept) < len(records):
            self._done = True  # data goes on beyond the range: it is complete
            return self._settle(kept)
        probe_until, self._probe_until = self._probe_until, None
        if probe_until is not None and (not records or records[0].unix_time >= probe_until):
            self._counts_periods = True  # nothing where a records-counting server had data
        if len(records) >= request.n:
            self._advance_after(records[-1])
        else:
            self._after_short(request.t, request.n, records)
        return self._settle(kept)

    # -- internals ---------------------------------------------------------------------------

    def _limit(self) -> int | None:
        """First instant not to fetch: `end`, or the latest record (which the lookup holds)."""
        latest = self._latest
        if self._latest_known and latest is not None and (self.end is None or latest < self.end):
            return latest
        return self.end

    def _periods_before(self, limit: int) -> int:
        return math.ceil((limit - self._next_period) / (self.interval or MIN_INTERVAL))

    def _settle(self, kept: list[TimedRecord]) -> list[TimedRecord]:
        """Finish once nothing is left before the limit; then hand out the looked-up tail."""
        if not self._done:
            limit = self._limit()
            if limit is not None and self._periods_before(limit) <= 0:
                self._done = True
        if self._done and self._tail is not None:
            kept.append(self._tail)
            self._tail = None
        return kept

    def _advance_after(self, last: TimedRecord) -> None:
        self._cursor = last.unix_time + 1
        self._next_period = last.unix_time + last.interval

    def _seen(self) -> int:
        """Return the newest instant covered: the last record kept, else just before `t`."""
        return self._last if self._last is not None else self._cursor - 1

    def _take_latest(self, records: Sequence[TimedRecord]) -> None:
        self._latest_known = True
        latest = records[-1] if records else None
        self._latest = None if latest is None else latest.unix_time
        short, self._short = self._short, None
        if latest is None or latest.unix_time <= self._seen():
            self._done = True  # no data at all, or none after what we have
            return
        if self.end is None or latest.unix_time < self.end:
            self._tail = latest
        if short is not None:
            self._after_gap_found(*short)

    def _after_short(self, t: int, n: int, records: Sequence[TimedRecord]) -> None:
        if records:
            self._advance_after(records[-1])
        if self.interval is not None and self._covers_rest(t, n):
            self._done = True
        elif not self._latest_known:
            self._short = (t, n)  # ask where the data ends, then decide
        else:  # the latest record is known and lies beyond what we have (else we were done)
            self._after_gap_found(t, n)

    def _after_gap_found(self, t: int, n: int) -> None:
        """Stop if the short page covered the rest of the range; else cross the gap after it."""
        if self._covers_rest(t, n):
            self._done = True
        else:
            self._cross_gap(t, n)

    def _covers_rest(self, t: int, n: int) -> bool:
        """Whether a short page completes the range under either reading of `n`.

        Counting records, a short page is the end of the data; counting periods, its window
        covered everything up to the limit. Needs the interval (known from some record).
        """
        limit = self._limit()
        return limit is not None and self._window_end(t, n) >= limit

    def _window_end(self, t: int, n: int) -> int:
        """End of the periods a page asked for, were `n` to count periods (safe either way)."""
        interval = self.interval or DEFAULT_INTERVAL
        if self._phase is not None:  # the first period on or after t, on the data's grid
            t += (self._phase - t) % interval
        return t + n * interval

    def _cross_gap(self, t: int, n: int) -> None:
        """More data exists after a short page: re-ask once, then skip whole windows."""
        window_end = self._window_end(t, n)
        if self._counts_periods:
            self._cursor = self._next_period = max(self._cursor, window_end)
        else:
            self._probe_until = window_end  # re-ask right after the last record (or at t)

    def _check_order(self, t: int, records: Sequence[TimedRecord]) -> list[int]:
        """Return the records' times, checked to increase strictly from `t` and the last kept.

        Compared in C (`map` over `operator.lt`); only a page that fails is walked again, to
        name the first record out of order.
        """
        floor = t if self._last is None else max(t, self._last + 1)
        times = list(map(_UNIX_TIME, records))
        if not times or (times[0] >= floor and all(map(operator.lt, times, times[1:]))):
            return times
        previous = floor - 1
        for index, record in enumerate(records):  # pragma: no branch - one is out of order
            if record.unix_time <= previous:
                raise LacecalParseError(
                    f"records out of order or repeated (unix_time {record.unix_time} "
                    f"after {previous}, asked for t={t}): the server did not advance",
                    endpoint=self.endpoint,
                    path=f"$[{index}].unix_time",
                )
            previous = record.unix_time
        raise AssertionError("unreachable: the check above found one")  # pragma: no cover
