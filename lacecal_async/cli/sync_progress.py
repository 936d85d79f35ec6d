"""What ``lacecal sync`` shows on stderr: live backfill progress on a terminal, else log lines.

On a terminal (``live``) the backfill is a table redrawn in place: plants done of total,
pages and records done of expected, and an ETA from the rate limit (`backfill_cost`: both
endpoints of a plant share its limiter, so their requests add up). Once every plant has
caught up, or when stderr is not a terminal (``plain``), each plant's endpoint gets one
line per cycle: new records and re-read ones (``--lookback``) apart, filled holes, and with
``--follow`` when it polls next. Log lines carry a UTC timestamp unless journald stamps them
(`log_lines`). A plant is named by its alias or its redacted identifier; every line passes
through the `Redactor`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TextIO

import attrs

from lacecal_async.cli.backfill_cost import effective_period, endpoint_requests
from lacecal_async.cli.fleet import fleet_line
from lacecal_async.cli.itrs import Redactor
from lacecal_async.cli.log_lines import stamp
from lacecal_async.cli.progress import Mode, eta_seconds, format_duration
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import Cycle, FleetEvent, SyncState
from lacecal_async.telemetry import ClientEvent, RequestDone, RetryScheduled

__all__ = ["SyncProgress", "when"]

#: Integration period assumed for a plant until a page tells the real one [s].
_ASSUMED_INTERVAL = 600
#: How often the live table is redrawn without news (its ETA counts down) [s].
_TICK = 0.5
_BAR = 20


def when(unix_time: float | None) -> str:
    """Return ``2024-10-02 13:50:00Z``, or ``-`` for None.

    A time no datetime holds (a logger's clock glitch to ``9999-12-31 23:00 -1200``, noted
    by the store) is shown in UNIX seconds.
    """
    if unix_time is None:
        return "-"
    try:
        return datetime.fromtimestamp(unix_time, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return f"UNIX time {unix_time:.0f}"


@attrs.define
class _Backfill:
    """One plant's endpoint catching up: where it stands, what it committed."""

    position: int
    interval: int | None
    pages: int = 0
    records: int = 0
    done: bool = False
    #: The newest record the server named (its first reply is the latest record): the end.
    end: int | None = None

    def remaining(self, now: float) -> tuple[int, int]:
        """Return the requests (the latest record's, then pages) and records left."""
        if self.done:
            return 0, 0
        interval = self.interval or _ASSUMED_INTERVAL
        horizon = now if self.end is None else min(self.end + interval, now)
        requests = endpoint_requests(
            self.position, horizon, interval, asked_latest=self.end is not None
        )
        return requests, max(int((horizon - interval - self.position) // interval), 0)


@attrs.define
class _Plant:
    name: str
    work: dict[Endpoint, _Backfill] = attrs.field(factory=dict)
    #: Every request of the plant (its endpoints share one limiter), failed ones too.
    requests: int = 0
    exchange: float = 0.0

    @property
    def done(self) -> bool:
        return all(w.done for w in self.work.values())


@attrs.define
class SyncProgress:
    """Progress of one ``lacecal sync``: fed by the client, the store and the engine.

    `on_event` takes the client's request events, `committed` each page the store
    committed, and a call takes each finished `Cycle`. `log` writes a line (above a live
    table). `follow`: a daemon (its lines say when it polls next).
    """

    stream: TextIO
    mode: Mode
    names: Mapping[str, str]
    redact: Redactor
    #: Plant keys by fingerprint: request events name a plant by its fingerprint.
    keys: Mapping[str, str] = attrs.field(factory=dict)
    follow: bool = False
    rate: tuple[int, float] = (6, 60.0)
    stamps: bool = True
    clock: Callable[[], float] = time.time
    plants: dict[str, _Plant] = attrs.field(factory=dict)
    retries: dict[tuple[str, str], int] = attrs.field(factory=dict)
    limited: dict[tuple[str, str], int] = attrs.field(factory=dict)
    #: Records committed by this run (new, filled and re-read), and re-read ones alone.
    total: int = 0
    reread: int = 0
    started: float = attrs.field(factory=time.monotonic)
    drawn: int = 0
    backfilling: bool = False

    # -- what the run is to do ------------------------------------------------------------
    def plan(
        self,
        plant: str,
        endpoints: Sequence[Endpoint],
        states: Sequence[SyncState | None],
        since: int | None,
    ) -> None:
        """Note a plant's endpoints and where each starts: its stored state, else `since`.

        An endpoint with neither (no ``--start``) is not planned: the engine refuses it.
        """
        entry = self.plants.setdefault(plant, _Plant(self.names.get(plant, plant)))
        for endpoint, state in zip(endpoints, states, strict=True):
            start = None if state is None else (state.latest or state.since)
            first = since if start is None else start
            if first is None:
                continue
            entry.work[endpoint] = _Backfill(first, None if state is None else state.interval)
        self.backfilling = self.mode == "live"

    # -- what happens ---------------------------------------------------------------------
    def on_event(self, event: ClientEvent) -> None:
        """Count a plant's requests, retries and 429s; learn where its backfill ends.

        A client listener: the first reply of an endpoint's backfill is its latest record.
        """
        key = self.keys.get(event.plant, event.plant)
        if isinstance(event, RequestDone):
            plant = self.plants.get(key)
            if plant is not None:
                plant.requests += 1
                plant.exchange += (event.duration - plant.exchange) / plant.requests
                work = plant.work.get(event.endpoint)
                if work is not None and event.newest is not None:
                    work.end = max(work.end or event.newest, event.newest)
            return
        pair = (key, event.endpoint.value)
        counts = self.retries if isinstance(event, RetryScheduled) else self.limited
        counts[pair] = counts.get(pair, 0) + 1

    def committed(self, plant: str, endpoint: Endpoint, records: int, state: SyncState) -> None:
        """Take in a page the store committed (a `CommitListener`)."""
        self.total += records
        entry = self.plants.get(plant)
        work = None if entry is None else entry.work.get(endpoint)
        if work is None or work.done or not records:
            return
        work.pages += 1
        work.records += records
        if state.latest is not None:
            work.position = state.latest
        work.interval = state.interval or work.interval
        self._draw()

    def _trouble(self, cycle: Cycle) -> str:
        key = (cycle.plant, cycle.endpoint.value)
        retries, limited = self.retries.get(key, 0), self.limited.get(key, 0)
        if not (retries or limited):
            return ""
        return f"; so far {retries} {'retry' if retries == 1 else 'retries'}, {limited} x 429"

    def line(self, cycle: Cycle) -> str:
        """One plant's endpoint after a cycle, as plain text."""
        name = self.names.get(cycle.plant, cycle.plant)
        head = f"{name} {cycle.endpoint.value}:"
        wait = format_duration(max(cycle.next_poll - self.clock(), 0.0))
        inventory = (
            ""
            if cycle.inventory_error is None
            else f"; the inverter list failed: {' '.join(cycle.inventory_error.split())}"
        )
        again = f"; again in {wait}" if self.follow else ""
        if cycle.error is not None:
            reason = " ".join(cycle.error.split())
            return (
                f"{head} failed ({cycle.failures} in a row): {reason}{again} "
                f"({cycle.records} records stored first){inventory}{self._trouble(cycle)}"
            )
        fresh = cycle.records - cycle.reread
        repaired = f" ({cycle.repaired} filled holes)" if cycle.repaired else ""
        reread = f", {cycle.reread} re-read" if cycle.reread else ""
        poll = f", next poll in {wait}" if self.follow else ""
        return (
            f"{head} +{fresh} records{repaired}{reread}, latest {when(cycle.latest)}"
            f"{poll}{inventory}{self._trouble(cycle)}"
        )

    def __call__(self, cycle: Cycle) -> None:
        """Report a finished cycle: the backfill of its endpoint is over."""
        self.reread += cycle.reread
        entry = self.plants.get(cycle.plant)
        work = None if entry is None else entry.work.get(cycle.endpoint)
        first = work is not None and not work.done
        if work is not None:
            work.done = True
        failed = cycle.error is not None or cycle.inventory_error is not None
        if self.mode == "none" and not failed:
            return
        if self.backfilling and first and not failed:
            self._draw()
        else:
            self.log(f"lacecal: {self.line(cycle)}")
        if self.backfilling and all(p.done for p in self.plants.values()):
            self._draw()
            self.backfilling, self.drawn = False, 0  # the last table stays; lines follow

    # -- output ---------------------------------------------------------------------------
    def log(self, text: str) -> None:
        """Write a log line (redacted, stamped unless journald stamps), above a live table."""
        line = self.redact(text)
        if self.stamps:
            line = f"{stamp(self.clock())} {line}"
        if self.backfilling and self.drawn:
            self._write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0
        self._write(line + "\n")
        self._draw()

    def fleet_log(self, event: FleetEvent) -> None:
        """Log what a fleet worker did with its leases (an `on_fleet` callback)."""
        self.log(f"lacecal: {fleet_line(event)}")

    def summary(self) -> str:
        """One line: plants caught up of all, pages, records, time elapsed and the ETA."""
        now = self.clock()
        elapsed = time.monotonic() - self.started
        plants = list(self.plants.values())
        pages = sum(w.pages for p in plants for w in p.work.values())
        records = sum(w.records for p in plants for w in p.work.values())
        left = [[w.remaining(now) for w in p.work.values()] for p in plants]
        more_pages = sum(r[0] for rows in left for r in rows)
        more_records = sum(r[1] for rows in left for r in rows)
        text = (
            f"sync: {sum(p.done for p in plants)}/{len(plants)} plants caught up, "
            f"{pages}/{pages + more_pages} pages, {records:,}/{records + more_records:,} records"
        )
        if all(p.done for p in plants):
            return f"{text} in {format_duration(elapsed)}"
        eta = max(self.eta(p, elapsed) for p in plants)
        return f"{text}, {format_duration(elapsed)} elapsed, ETA {format_duration(eta)}"

    def eta(self, plant: _Plant, elapsed: float) -> float:
        """Seconds until the plant's last backfill request can go, under its ITR's limit."""
        if plant.done:
            return 0.0
        now = self.clock()
        remaining = sum(w.remaining(now)[0] for w in plant.work.values())
        inventory = plant.work.get(Endpoint.INVERTER)
        remaining += 1 if inventory is not None and not inventory.done else 0  # its list
        count, period = self.rate
        rate = (count, effective_period(period, plant.exchange))
        return eta_seconds(plant.requests, max(remaining, 1), elapsed, rate)

    def _frame(self) -> list[str]:
        elapsed = time.monotonic() - self.started
        now = self.clock()
        width = max((len(p.name) for p in self.plants.values()), default=0)
        lines = [self.summary()]
        for plant in sorted(self.plants.values(), key=lambda p: p.done)[:20]:
            pages = sum(w.pages for w in plant.work.values())
            records = sum(w.records for w in plant.work.values())
            left = [w.remaining(now) for w in plant.work.values()]
            expected = pages + sum(r[0] for r in left)
            filled = _BAR * pages // expected if expected else _BAR
            eta = format_duration(self.eta(plant, elapsed))
            status = "caught up" if plant.done else f"ETA {eta}"
            lines.append(
                f"  {plant.name:<{width}} [{'#' * filled}{'.' * (_BAR - filled)}] "
                f"{f'{pages}/{expected}':>9} pages "
                f"{f'{records:,}/{records + sum(r[1] for r in left):,}':>15} records  {status}"
            )
        if len(self.plants) > 20:
            lines.append(f"  ... and {len(self.plants) - 20} more")
        return [self.redact(line) for line in lines]

    def _draw(self) -> None:
        if not self.backfilling:
            return
        lines = self._frame()
        up = f"\x1b[{self.drawn}F" if self.drawn else ""
        self._write(up + "".join(f"{line}\x1b[K\n" for line in lines) + "\x1b[J")
        self.drawn = len(lines)

    async def run(self) -> None:
        """Redraw the live table every half second (its ETA counts down), until cancelled."""
        while self.backfilling:
            await asyncio.sleep(_TICK)
            self._draw()

    def stopped(self, *, interrupted: bool) -> str:
        """Return the end of the run's line: what it committed, and that a rerun resumes."""
        if self.backfilling:
            self._draw()
            self.backfilling, self.drawn = False, 0
        reread = f" ({self.reread:,} of them re-read)" if self.reread else ""
        text = f"{self.total:,} records committed by this run{reread}"
        if interrupted:
            return f"{text}; run it again to resume after the last committed page"
        return text

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
