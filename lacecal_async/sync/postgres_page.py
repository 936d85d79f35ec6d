"""One statement per page for PostgreSQL: its rows, the sync state, and the holes' reads.

`PostgresStore.commit_page` used a round trip per step (upsert, the page's stored
neighbours, the known holes, the sync state), each a wait on a busy server. Here the
upserts and the state are data-modifying CTEs of one statement whose main query reads the
neighbours and the holes. That query sees the tables as they were before the statement
(PostgreSQL runs the CTEs and the query on one snapshot), so the caller merges the page's
own periods into what it returns: the same periods the separate reads gave after the
upsert, since every row the page writes lies between those neighbours.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from lacecal_async.endpoints import Endpoint
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.sync import table_rows
from lacecal_async.sync.core import read_around, upsert_from
from lacecal_async.sync.schema import TABLE_NAMES, column_type
from lacecal_async.tables import Row, Table

__all__ = [
    "STATE_VALUES",
    "last_per_key",
    "page_arguments",
    "page_statement",
    "unnest_arguments",
    "upsert_records",
    "upsert_unnest",
]

#: The sync state's values, in the statement's order after plant, endpoint, first, last.
STATE_VALUES = (
    "latest", "interval_s", "next_poll", "failures", "last_error", "last_error_at", "updated_at",
    "since",
)  # fmt: skip
_FIRST_ARRAY = 5 + len(STATE_VALUES)
# `since` is where the sync began: the first one given stays.
_STATE_UPDATE = ", ".join(
    f"{name} = coalesce(sync_state.since, excluded.since)"
    if name == "since"
    else f"{name} = excluded.{name}"
    for name in STATE_VALUES
)


@functools.cache
def upsert_unnest(table: Table, first: int = 1) -> str:
    """Return the statement upserting a data table's rows sent as a column array per column.

    The arrays are parameters `first`, `first` + 1, ...
    """
    arrays = ", ".join(
        f"${first + i}::{column_type(c).split(' COLLATE')[0]}[]"
        for i, c in enumerate(table.columns)
    )
    return upsert_from(table, f"SELECT * FROM unnest({arrays})")  # noqa: S608 - constants


def upsert_records(table: Table, param: int) -> str:
    """Return the statement upserting a data table's rows sent as one array of its row type.

    asyncpg encodes such an array a row (a tuple) at a time, where a column array costs a
    check per value (is it an array itself?): a third of the client's time on a page.
    """
    source = f"SELECT * FROM unnest(${param}::{TABLE_NAMES[table]}[])"  # noqa: S608 - constants
    return upsert_from(table, source)


def page_statement(tables: Sequence[Table], periods: Table) -> str:
    """Return the statement writing a page of `tables` and the state, reading around it.

    Parameters: $1 plant, $2 endpoint, $3 and $4 the page's first and last period start,
    then `STATE_VALUES`, then each table's rows, an array of its row type (`upsert_records`).
    Rows: those of `lacecal_async.sync.core.read_around`, as the tables were before it.
    """
    ctes = [
        f"u{n} AS ({upsert_records(table, _FIRST_ARRAY + n)})" for n, table in enumerate(tables)
    ]
    states = ", ".join(f"${5 + i}" for i in range(len(STATE_VALUES)))
    ctes.append(
        f"st AS (INSERT INTO sync_state (plant, endpoint, {', '.join(STATE_VALUES)}) "  # noqa: S608
        f"VALUES ($1, $2, {states}) ON CONFLICT (plant, endpoint) DO UPDATE SET {_STATE_UPDATE})"
    )
    around, query = read_around(periods)
    return f"WITH {', '.join([*ctes, *around])} {query}"


def unnest_arguments(rows: Sequence[Row], width: int) -> list[list[Any]]:
    """Return a page's rows as one list per column (`width` columns; empty lists if none)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def last_per_key(table: Table, rows: Sequence[Row]) -> list[Row]:
    """Keep the last row of each key: one statement may not update a row twice."""
    at = [table.names.index(name) for name in table.key]
    by_key = {tuple(row[i] for i in at): row for row in rows}
    return list(by_key.values()) if len(by_key) < len(rows) else list(rows)


def page_arguments(
    endpoint: Endpoint, plant: str, records: Sequence[MeterRecord] | Sequence[InverterRecord]
) -> list[list[Row]]:
    """Return a page's rows, a list per table (`table_rows.page_rows`' order).

    A row given twice keeps its last values: one statement may not update a row twice.
    """
    if endpoint is Endpoint.METER:
        meter: Sequence[MeterRecord] = records  # type: ignore[assignment]
        if len({record.unix_time for record in meter}) < len(meter):
            meter = list({record.unix_time: record for record in meter}.values())
        return [table_rows.meter_rows(plant, meter)]
    return [
        last_per_key(table, rows) for table, rows in table_rows.page_rows(endpoint, plant, records)
    ]
