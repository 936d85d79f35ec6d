"""Rollups of a sync store: a range of its plants summed per bucket, batch by batch.

`rollup_store` reads a `SQLiteStore` or `PostgresStore` (anything with their ``read_rows``
and ``read_records``) in batches, plant by plant, and yields each `StatsRow` as its bucket
closes: a year of a fleet never sits in memory, only a bucket per plant. The rows are those
`lacecal_async.stats.rollup` gives for the same records, with one difference that only a
store can make: a plant's rows begin with its first STORED period, even inside the window
(periods before a plant's first record are not missing, they never existed).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from datetime import datetime, tzinfo
from typing import Any, TypeVar

from lacecal_async.endpoints import Endpoint
from lacecal_async.record_source import RecordSource
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.stats import PlantRollup, StatsRow, as_unix
from lacecal_async.stats_buckets import LONGEST, Bucket, check_bucket
from lacecal_async.tables import METER, PERIODS, Row, Table

__all__ = ["READ_BATCH", "RecordSource", "rollup_store"]

#: Periods read at once.
READ_BATCH = 5000
T = TypeVar("T")


@asynccontextmanager
async def _closing(iterator: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Close a store's reading generator when left early (its batch, its connection)."""
    try:
        yield iterator
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


async def _first_period(store: RecordSource, table: Table, plant: str) -> int | None:
    """Return the start of the plant's first stored period [UNIX s]."""
    async with _closing(store.read_rows(table, plants=[plant], batch=1)) as batches:
        async for rows in batches:
            first = rows[0][1]
            return first if isinstance(first, int) else None
    return None  # pragma: no cover - only asked about a plant with rows


async def _batches(
    store: RecordSource, kind: Endpoint, window: dict[str, Any]
) -> AsyncGenerator[tuple[str, list[Row] | list[MeterRecord] | list[InverterRecord]], None]:
    """Yield ``(plant, rows or records)``: meter rows as they are stored, inverter records."""
    if kind is Endpoint.METER:
        async with _closing(store.read_rows(METER, **window)) as batches:
            async for rows in batches:
                for plant, run in itertools.groupby(rows, key=lambda row: row[0]):
                    yield str(plant), list(run)
    else:
        async with _closing(store.read_records(Endpoint.INVERTER, **window)) as pages:
            async for plant, records in pages:
                yield plant, records


async def rollup_store(
    store: RecordSource,
    endpoint: Endpoint | str,
    bucket: Bucket,
    tz: tzinfo | None = None,
    *,
    plants: Sequence[str] | None = None,
    start: int | datetime | None = None,
    end: int | datetime | None = None,
    batch: int = READ_BATCH,
) -> AsyncGenerator[StatsRow, None]:
    """Yield the rows of the store's meter or inverter periods, by plant and time.

    `plants`: those plants only (None: every plant with periods in the window). `tz`,
    `start` and `end` as for `lacecal_async.stats.rollup` (the window widened to whole
    buckets). Errors are the store's (reading) and the rollup's (a value that is not a
    finite number). Leaving early, close it (``contextlib.aclosing``): the store's read in
    progress ends then, not when the event loop shuts down.
    """
    kind = Endpoint(endpoint)
    if kind not in (Endpoint.METER, Endpoint.INVERTER):
        raise ValueError(f"{kind} has no periods to roll up: meter or inverter")
    bucket = check_bucket(bucket)
    low = None if start is None else as_unix(start, "start")
    high = None if end is None else as_unix(end, "end")
    if low is not None and high is not None and high <= low:
        raise ValueError("end must be after start")
    # Read a bucket's length beyond each bound: the window widens to whole buckets.
    pad = LONGEST[bucket]
    window: dict[str, Any] = {
        "plants": None if plants is None else list(plants),
        "start": None if low is None else low - pad,
        "end": None if high is None else high + pad,
        "batch": batch,
    }
    table = METER if kind is Endpoint.METER else PERIODS
    current: PlantRollup | None = None
    async with aclosing(_batches(store, kind, window)) as batches:
        async for plant, found in batches:
            if current is None or current.plant != plant:
                if current is not None:
                    for done in current.finish():
                        yield done
                first = None if low is None else await _first_period(store, table, plant)
                current = PlantRollup(plant, bucket, tz, start=low, end=high, first=first)
            if kind is Endpoint.METER:
                rows = current.add_meter_rows(found)  # type: ignore[arg-type]
            else:
                rows = current.add_records(found)  # type: ignore[arg-type]
            for done in rows:
                yield done
    if current is not None:
        for done in current.finish():
            yield done
