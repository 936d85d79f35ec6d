"""What ``lacecal sync`` shows on stderr: a live table on a terminal, else a line per cycle.

A plant is named by its alias or its redacted identifier; every message passes through the
`Redactor` (no identifier, no control character from a server's text). The client's
request events (`on_event`) add each plant's retries and 429s so far to its line.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

import attrs

from lacecal_async.cli.itrs import Redactor
from lacecal_async.cli.progress import Mode, format_duration
from lacecal_async.sync import Cycle
from lacecal_async.telemetry import ClientEvent, RateLimited, RetryScheduled

__all__ = ["SyncProgress", "when"]


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
class SyncProgress:
    """Show each cycle of each plant's endpoint as it ends."""

    stream: TextIO
    mode: Mode
    names: Mapping[str, str]
    redact: Redactor
    #: Plant keys by fingerprint: request events name a plant by its fingerprint.
    keys: Mapping[str, str] = attrs.field(factory=dict)
    rows: dict[tuple[str, str], str] = attrs.field(factory=dict)
    drawn: int = 0
    retries: dict[tuple[str, str], int] = attrs.field(factory=dict)
    limited: dict[tuple[str, str], int] = attrs.field(factory=dict)

    def on_event(self, event: ClientEvent) -> None:
        """Count a plant's retries and 429s (a client listener: `LacecalClient(on_event=)`)."""
        if isinstance(event, (RetryScheduled, RateLimited)):
            key = (self.keys.get(event.plant, event.plant), event.endpoint.value)
            counts = self.retries if isinstance(event, RetryScheduled) else self.limited
            counts[key] = counts.get(key, 0) + 1

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
        wait = format_duration(max(cycle.next_poll - time.time(), 0.0))
        inventory = (
            ""
            if cycle.inventory_error is None
            else f"; the inverter list failed: {' '.join(cycle.inventory_error.split())}"
        )
        if cycle.error is not None:
            reason = " ".join(cycle.error.split())
            return (
                f"{head} failed ({cycle.failures} in a row): {reason}; "
                f"again in {wait} ({cycle.records} records stored first){inventory}"
                f"{self._trouble(cycle)}"
            )
        repaired = f" ({cycle.repaired} filled holes)" if cycle.repaired else ""
        return (
            f"{head} +{cycle.records} records{repaired}, latest {when(cycle.latest)}, "
            f"next poll in {wait}{inventory}{self._trouble(cycle)}"
        )

    def log(self, line: str) -> None:
        """Write a log line (``-v``); a live table is drawn again below it."""
        self.stream.write(f"lacecal: {self.redact(line)}\n")
        self.stream.flush()
        self.drawn = 0

    def __call__(self, cycle: Cycle) -> None:
        """Report a finished cycle."""
        if self.mode == "none" and cycle.error is None and cycle.inventory_error is None:
            return
        text = self.redact(self.line(cycle))
        if self.mode != "live":
            self.stream.write(f"lacecal: {text}\n")
            self.stream.flush()
            return
        self.rows[(cycle.plant, cycle.endpoint.value)] = text
        up = f"\x1b[{self.drawn}F" if self.drawn else ""
        body = "\n".join(f"{row}\x1b[K" for _, row in sorted(self.rows.items()))
        self.stream.write(f"{up}{body}\x1b[J\n")
        self.stream.flush()
        self.drawn = len(self.rows)
