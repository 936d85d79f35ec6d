"""Running sums that survive re-imports: a statistic's total continued from its last export.

A consumer such as Home Assistant keeps, per statistic, a row per bucket with the bucket's
energy (``state``) and a running total (``sum``) that must never restart. `running_sums`
continues it from a `SumAnchor`: the start and sum of a row already exported. The anchor's
bucket must be one of the rows (start the next rollup at or before it): rows after it add
their energy to the anchor's sum, rows before it (an overlap) subtract the energy after
them, so re-running over an overlapping window gives the same rows for the overlap.

The arithmetic is exact (integers of `QUANTUM`, as in `lacecal_async.stats`): the sums
do not depend on where windows were split, and an anchor read back from a float is the
same number (up to 2e9 kWh). A period corrected later (a hole repaired in the store)
changes its bucket's energy and the sums of every row from that bucket on: export again
from the row before it, anchored there; rows with the same start replace the old ones.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import attrs

from lacecal_async.stats import QUANTUM, StatsRow, as_unix

__all__ = ["SumAnchor", "SumRow", "running_sums"]


@attrs.frozen
class SumAnchor:
    """A row already exported: its bucket's start (datetime or UNIX s) and its sum."""

    start: datetime | int
    sum: float


@attrs.frozen
class SumRow:
    """One bucket of a statistic.

    state: the bucket's energy; None where no period of the bucket reported the quantity
    (no row to export: the sum carries over). sum: the running total at the bucket's end.
    final: every expected period of the bucket reported the quantity.
    """

    start: datetime
    end: datetime
    state: float | None
    sum: float
    final: bool

    def anchor(self) -> SumAnchor:
        """Return the row as the anchor of a later export."""
        return SumAnchor(self.start, self.sum)


def _grains(value: float, what: str) -> int:
    if not math.isfinite(value):
        raise ValueError(f"{what} is {value!r}, not a finite number")
    return round(value * QUANTUM)


def running_sums(
    rows: Sequence[StatsRow], quantity: str, anchor: SumAnchor | None = None
) -> list[SumRow]:
    """Return `quantity`'s running sum over one plant's consecutive rows, from `anchor`.

    Without an anchor the sum starts at 0 before the first row. ValueError for rows of
    several plants or with a bucket missing between them (a rollup never skips one), or an
    anchor whose bucket is not among the rows.
    """
    for before, after in itertools.pairwise(rows):
        if after.plant != before.plant:
            raise ValueError("running sums take one plant's rows")
        if after.start != before.end:
            raise ValueError(
                f"{before.plant}: the rows skip from {before.end.isoformat()} to "
                f"{after.start.isoformat()}: give every bucket, as a rollup does"
            )
    states = [
        None if quantity not in row.energy else _grains(row.energy[quantity], quantity)
        for row in rows
    ]
    totals = [0] * len(rows)
    if anchor is None:
        running = 0
        for i, state in enumerate(states):
            running += state or 0
            totals[i] = running
    else:
        at = as_unix(anchor.start, "the anchor's start")
        index = next((i for i, row in enumerate(rows) if as_unix(row.start) == at), None)
        if index is None:
            where = "none"
            if rows:
                where = f"{rows[0].start.isoformat()} to {rows[-1].start.isoformat()}"
            when = datetime.fromtimestamp(at, UTC).isoformat()
            raise ValueError(
                f"the anchor's bucket ({when}) is not among the rows ({where}): "
                "start the rollup at or before it"
            )
        running = _grains(anchor.sum, "the anchor's sum")
        for i in range(index, len(rows)):
            if i > index:
                running += states[i] or 0
            totals[i] = running
        running = totals[index]
        for i in range(index - 1, -1, -1):
            running -= states[i + 1] or 0
            totals[i] = running
    return [
        SumRow(
            start=row.start,
            end=row.end,
            state=None if state is None else row.energy[quantity],
            sum=total / QUANTUM,
            final=row.quantity_complete(quantity),
        )
        for row, state, total in zip(rows, states, totals, strict=True)
    ]
