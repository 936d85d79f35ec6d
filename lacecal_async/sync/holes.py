"""Holes in a plant's stored records, and when to ask for them again (pure: no I/O).

A hole is a run of periods with no record between a plant's first and latest stored
records, or between where its sync began (`head_gap`) and its first stored record. The
latter is asked for again like any hole (a logger may upload its backlog), but a store's
status does not count it: the server may never have had those periods.
Loggers upload backlogs after an outage, so a hole may fill in later; a store asks for
it again on a decaying schedule counted in integration periods since the hole was first seen
(so a test with short periods runs fast), then gives up but keeps the hole listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

__all__ = [
    "REPAIR_AFTER",
    "Gap",
    "Hole",
    "attempted",
    "find_gaps",
    "head_gap",
    "next_attempt",
    "reconcile",
]

#: Ask for a hole again this many integration periods after it was first seen; then give up.
REPAIR_AFTER: tuple[int, ...] = (6, 36, 144, 1008)


@attrs.frozen
class Gap:
    """Missing periods ``[start, end)`` [UNIX s]; `interval` [s] is the period before them."""

    start: int
    end: int
    interval: int

    @property
    def periods(self) -> int:
        """How many periods are missing (a partial period counts as one)."""
        return -(-(self.end - self.start) // self.interval)


@attrs.frozen
class Hole:
    """A gap a store knows about, with its repair schedule.

    first_seen: when the store first saw it [UNIX s].  attempts: repairs asked so far.
    next_attempt: when to ask again [UNIX s]; None once the schedule is over (given up).
    """

    start: int
    end: int
    interval: int
    first_seen: float
    attempts: int = 0
    next_attempt: float | None = None

    @property
    def periods(self) -> int:
        """How many periods are missing (a partial period counts as one)."""
        return Gap(self.start, self.end, self.interval).periods


def find_gaps(periods: Iterable[tuple[int, int]]) -> list[Gap]:
    """Return the gaps between stored periods, given as ``(start, interval)`` in time order.

    A gap lies between a record whose period ends before the next record starts; nothing
    before the first or after the last period is a gap.
    """
    gaps: list[Gap] = []
    previous: tuple[int, int] | None = None
    for start, interval in periods:
        if previous is not None:
            end_of_previous = previous[0] + previous[1]
            if end_of_previous < start:
                gaps.append(Gap(end_of_previous, start, previous[1]))
        previous = (start, interval)
    return gaps


def head_gap(since: int | None, first: int, interval: int) -> Gap | None:
    """Return the whole periods missing between `since` and the `first` stored record.

    The periods are counted back from `first` (a `since` inside a period does not want it);
    None when the sync's start is unknown or no whole period is missing.
    """
    if since is None:
        return None
    missing = (first - since) // interval
    return Gap(first - missing * interval, first, interval) if missing > 0 else None


def next_attempt(
    first_seen: float, interval: int, now: float, after: Sequence[int] = REPAIR_AFTER
) -> float | None:
    """Return the first scheduled repair strictly after `now`, or None when none is left.

    Repairs missed while the process was down are skipped, not run in a burst.
    """
    for periods in after:
        due = first_seen + periods * interval
        if due > now:
            return due
    return None


def attempted(hole: Hole, now: float) -> Hole:
    """Return `hole` after a repair asked for it at `now` and it is (partly) still missing."""
    return attrs.evolve(
        hole,
        attempts=hole.attempts + 1,
        next_attempt=next_attempt(hole.first_seen, hole.interval, now),
    )


def reconcile(found: Iterable[Gap], known: Sequence[Hole], now: float) -> list[Hole]:
    """Return the holes for gaps `found` in a window, keeping what `known` holes knew.

    Stored records are never removed, so a gap found after a commit is either inside a
    known hole (the hole shrank or split: its pieces keep its schedule) or new (first seen
    `now`, first repair `REPAIR_AFTER[0]` periods later).
    """
    holes: list[Hole] = []
    for gap in found:
        parent = next((h for h in known if h.start < gap.end and gap.start < h.end), None)
        if parent is None:
            holes.append(
                Hole(
                    gap.start,
                    gap.end,
                    gap.interval,
                    first_seen=now,
                    next_attempt=next_attempt(now, gap.interval, now),
                )
            )
        else:
            holes.append(attrs.evolve(parent, start=gap.start, end=gap.end, interval=gap.interval))
    return holes
