"""The store core: every statement and every store operation written once, for both databases.

A store's operations are coroutines ("jobs") that talk to a `Driver`, asyncpg's calls
(``execute``, ``fetch``...) with statements in the core's notation (`dialect`). The
PostgreSQL driver awaits asyncpg; the SQLite driver runs sqlite3 at once, so an SQLite job
never suspends and its store runs it to the end on its own thread (`run_at_once`). What a
database does its own way is a method a store overrides: how a page's rows reach the
tables (`StoreCore._write_page`, `_write_rows`, `_upsert`) and who may write a plant
(`StoreCore._lock_plant`, a fleet's lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self, TypeVar

import attrs

from lacecal_async.endpoints import Endpoint, timed
from lacecal_async.records import Inverter, InverterRecord, MeterRecord
from lacecal_async.sync import table_rows
from lacecal_async.sync.dialect import Dialect
from lacecal_async.sync.holes import Hole, attempted, find_gaps, head_gap, reconcile
from lacecal_async.sync.schema import TABLE_NAMES
from lacecal_async.sync.store import (
    NoStoreError,
    PlantEntry,
    SchemaVersionError,
    StatusRow,
    StoreError,
    SyncState,
    check_alias,
    check_fingerprint,
    clean_error,
)
from lacecal_async.tables import (
    INVERTERS,
    METER,
    PERIODS,
    Row,
    Table,
    inverter_record,
    meter_record,
)

__all__ = [
    "STATUS",
    "UPSERT_STATE",
    "Driver",
    "Job",
    "PageWrite",
    "PlantPage",
    "StoreCore",
    "check_version",
    "read_around",
    "retrieve",
    "run_at_once",
    "upsert_from",
]

T = TypeVar("T")


class Driver(Protocol):
    """A connection as a job uses it: statements in the core's notation, asyncpg's calls."""

    async def execute(self, sql: str, /, *args: Any) -> object: ...  # noqa: ANN401, D102
    async def executemany(self, sql: str, args: Iterable[Sequence[Any]], /) -> None: ...  # noqa: D102
    async def fetch(self, sql: str, /, *args: Any) -> Sequence[Sequence[Any]]: ...  # noqa: ANN401, D102
    async def fetchrow(self, sql: str, /, *args: Any) -> Sequence[Any] | None: ...  # noqa: ANN401, D102
    async def fetchval(self, sql: str, /, *args: Any) -> Any: ...  # noqa: ANN401, D102

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """Run the block in one write transaction."""

    def snapshot(self) -> AbstractAsyncContextManager[Any]:
        """Run the block's reads in one read-only transaction: one state of the database."""


Job = Callable[[Driver], Coroutine[Any, Any, T]]


def run_at_once(job: Coroutine[Any, Any, T]) -> T:
    """Run a job whose driver never suspends (SQLite's) to its end, here and now."""
    try:
        job.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    job.close()  # pragma: no cover - a job awaited something else than its driver
    raise RuntimeError("a store job suspended on a driver that runs at once")  # pragma: no cover


def _upsert_sql(table: Table, source: str) -> str:
    updates = ", ".join(f"{n} = excluded.{n}" for n in table.names if n not in table.key)
    return (
        f"INSERT INTO {TABLE_NAMES[table]} ({', '.join(table.names)}) {source} "
        f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}"
    )


def upsert_from(table: Table, source: str | None = None) -> str:
    """Return the statement upserting a data table's rows from `source` (a SELECT).

    Without `source`: one row, its values the parameters.
    """
    if source is None:
        source = f"VALUES ({', '.join(f'${i}' for i in range(1, len(table.names) + 1))})"
    updates = ", ".join(f"{n} = excluded.{n}" for n in table.names if n not in table.key)
    return (
        f"INSERT INTO {TABLE_NAMES[table]} ({', '.join(table.names)}) {source} "
        f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}"
    )


_UPSERT = {table: upsert_from(table) for table in (METER, PERIODS, INVERTERS)}


def read_around(periods: Table) -> tuple[list[str], str]:
    """Return the CTEs and the query reading what a page's holes depend on.

    Parameters: $1 plant, $2 endpoint, $3 and $4 the page's first and last period start.
    Rows, by kind (the first column):
    - 0: the stored periods ``(0, unix_time, 0, interval_s, NULL, 0, NULL)`` from the
      page's stored neighbour before it to the one after it (or the page's own ends);
    - 1: the holes overlapping that span ``(1, start_time, end_time, interval_s,
      first_seen, attempts, next_attempt)``;
    - 2: one row ``(2, since, first, interval_s, NULL, 0, NULL)``: the state's `since`
      and the plant's first stored period (NULLs where there are none);
    - 3: the holes (as kind 1) starting before that first period or the page's, whichever
      comes first: the head's (`head_gap`).
    """
    name = TABLE_NAMES[periods]
    ctes = [
        f"lo AS (SELECT coalesce(max(unix_time), $3) AS t FROM {name} "  # noqa: S608
        "WHERE plant = $1 AND unix_time < $3)",
        f"hi AS (SELECT coalesce(min(unix_time), $4) AS t FROM {name} "  # noqa: S608
        "WHERE plant = $1 AND unix_time > $4)",
        f"fst AS (SELECT unix_time, interval_s FROM {name} WHERE plant = $1 "  # noqa: S608
        "ORDER BY unix_time LIMIT 1)",
    ]
    query = (
        "SELECT 0 AS kind, unix_time, CAST(0 AS bigint), interval_s, "  # noqa: S608
        f"CAST(NULL AS double precision), 0, CAST(NULL AS double precision) FROM {name} "
        "WHERE plant = $1 AND unix_time BETWEEN (SELECT t FROM lo) AND (SELECT t FROM hi) "
        "UNION ALL SELECT 1, start_time, end_time, interval_s, first_seen, attempts, "
        "next_attempt FROM holes WHERE plant = $1 AND endpoint = $2 "
        "AND start_time < (SELECT t FROM hi) AND end_time > (SELECT t FROM lo) "
        "UNION ALL SELECT 2, (SELECT since FROM sync_state WHERE plant = $1 AND endpoint = $2), "
        "fst.unix_time, fst.interval_s, NULL, 0, NULL FROM (SELECT 1 AS one) o "
        "LEFT JOIN fst ON true "
        "UNION ALL SELECT 3, start_time, end_time, interval_s, first_seen, attempts, "
        "next_attempt FROM holes WHERE plant = $1 AND endpoint = $2 AND start_time < "
        "(SELECT CASE WHEN fst.unix_time < $3 THEN fst.unix_time ELSE $3 END "
        "FROM (SELECT 1 AS one) o LEFT JOIN fst ON true) "
        "ORDER BY 1, 2"
    )
    return ctes, query


def _around(endpoint: Endpoint) -> str:
    ctes, query = read_around(table_rows.PERIOD_TABLES[endpoint])
    return f"WITH {', '.join(ctes)} {query}"


_AROUND = {endpoint: _around(endpoint) for endpoint in (Endpoint.METER, Endpoint.INVERTER)}
_ADD_PLANT = "INSERT INTO plants (plant, fingerprint, alias, added_at) VALUES ($1, $2, $3, $4)"
_PLANT_KEYS = "SELECT plant, fingerprint FROM plants"


def _same_key(fingerprint: str, stored: str, key: str) -> None:
    """Refuse a plant stored under another key than the one it is added with."""
    if stored != key:
        raise StoreError(f"plant {fingerprint} is stored as {stored!r}, not {key!r}")


#: Parameters: plant, endpoint, then `SyncState`'s fields as `state_args` gives them.
UPSERT_STATE = (
    "INSERT INTO sync_state (plant, endpoint, latest, interval_s, next_poll, failures, "
    "last_error, last_error_at, updated_at, since) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
    "ON CONFLICT (plant, endpoint) DO UPDATE SET latest = excluded.latest, "
    "since = coalesce(sync_state.since, excluded.since), "
    "interval_s = excluded.interval_s, next_poll = excluded.next_poll, "
    "failures = excluded.failures, last_error = excluded.last_error, "
    "last_error_at = excluded.last_error_at, updated_at = excluded.updated_at"
)
_RECORD_ERROR = (
    "INSERT INTO sync_state (plant, endpoint, next_poll, failures, last_error, last_error_at, "
    "updated_at) VALUES ($1, $2, $3, 1, $4, $5, $5) "
    "ON CONFLICT (plant, endpoint) DO UPDATE SET failures = sync_state.failures + 1, "
    "next_poll = excluded.next_poll, last_error = excluded.last_error, "
    "last_error_at = excluded.last_error_at, updated_at = excluded.updated_at"
)
_RECORD_INVENTORY_ERROR = (
    "INSERT INTO inventory_state (plant, failures, last_error, last_error_at, next_poll, "
    "updated_at) VALUES ($1, 1, $2, $3, $4, $3) "
    "ON CONFLICT (plant) DO UPDATE SET failures = inventory_state.failures + 1, "
    "last_error = excluded.last_error, last_error_at = excluded.last_error_at, "
    "next_poll = excluded.next_poll, updated_at = excluded.updated_at"
)
_INVENTORY_DONE = (
    "INSERT INTO inventory_state (plant, failures, next_poll, updated_at) VALUES ($1, 0, $2, $3) "
    "ON CONFLICT (plant) DO UPDATE SET failures = 0, next_poll = excluded.next_poll, "
    "updated_at = excluded.updated_at"
)
_UPSERT_INVERTERS = (
    "INSERT INTO inverters (plant, inverter_id, name, manufacturer, model, serial_number, "
    "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
    "ON CONFLICT (plant, inverter_id) DO UPDATE SET name = excluded.name, "
    "manufacturer = excluded.manufacturer, model = excluded.model, "
    "serial_number = excluded.serial_number, updated_at = excluded.updated_at"
)
# Parameters: plant, endpoint, the newest period kept (start, interval), now, the latest
# ignored start, periods removed, `after`. The latest moves back only if it was after it.
_NOTE_FUTURE = """
INSERT INTO sync_state (plant, endpoint, latest, interval_s, failures, updated_at,
    future_record, future_seen_at, future_removed)
VALUES ($1, $2, $3, $4, 0, CAST($5 AS double precision), CAST($6 AS bigint),
    CASE WHEN CAST($6 AS bigint) IS NULL THEN NULL ELSE CAST($5 AS double precision) END, $7)
ON CONFLICT (plant, endpoint) DO UPDATE SET
    latest = CASE WHEN sync_state.latest > CAST($8 AS bigint)
        THEN excluded.latest ELSE sync_state.latest END,
    interval_s = CASE WHEN sync_state.latest > CAST($8 AS bigint)
        THEN coalesce(excluded.interval_s, sync_state.interval_s) ELSE sync_state.interval_s END,
    future_record = coalesce(excluded.future_record, sync_state.future_record),
    future_seen_at = coalesce(excluded.future_seen_at, sync_state.future_seen_at),
    future_removed = sync_state.future_removed + excluded.future_removed,
    updated_at = excluded.updated_at
"""
#: A row per plant and synced endpoint (`table_rows.status_row`), one for a plant never synced.
#: Holes count from a plant's first stored period: the head gap before it is asked for
#: again, but the server may never have had it.
STATUS = """
SELECT s.plant, s.endpoint, s.first_time,
    CASE s.endpoint
        WHEN 'meter' THEN (SELECT max(unix_time) FROM meter WHERE plant = s.plant)
        ELSE (SELECT max(unix_time) FROM inverter_periods WHERE plant = s.plant) END,
    (SELECT count(*) FROM holes h WHERE h.plant = s.plant AND h.endpoint = s.endpoint
        AND h.start_time > s.first_time),
    (SELECT CAST(coalesce(sum((end_time - start_time + interval_s - 1) / interval_s), 0)
        AS bigint) FROM holes h WHERE h.plant = s.plant AND h.endpoint = s.endpoint
        AND h.start_time > s.first_time),
    s.failures, s.last_error, s.last_error_at, s.next_poll,
    s.future_record, s.future_seen_at, s.future_removed
FROM (SELECT *,
    CASE endpoint
        WHEN 'meter' THEN (SELECT min(unix_time) FROM meter m WHERE m.plant = t.plant)
        ELSE (SELECT min(unix_time) FROM inverter_periods i WHERE i.plant = t.plant) END
        AS first_time
    FROM sync_state t) s
UNION ALL
SELECT i.plant, 'inverter_list' COLLATE "C", NULL, NULL, 0, 0, i.failures, i.last_error,
    i.last_error_at, i.next_poll, NULL, NULL, 0
FROM inventory_state i WHERE i.last_error IS NOT NULL
UNION ALL
SELECT p.plant, NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0
FROM plants p WHERE NOT EXISTS (SELECT 1 FROM sync_state s WHERE s.plant = p.plant)
ORDER BY 1, 2
"""
_HOLES = f"SELECT {table_rows.HOLE_COLUMNS} FROM holes WHERE plant = $1 AND endpoint = $2"  # noqa: S608


def state_args(state: SyncState, now: float) -> tuple[Any, ...]:
    """Return `UPSERT_STATE`'s parameters after plant and endpoint."""
    error = None if state.last_error is None else clean_error(state.last_error)
    return (
        *(state.latest, state.interval, state.next_poll, state.failures),
        *(error, state.last_error_at, now, state.since),
    )


@attrs.frozen
class PageWrite:
    """A page as `StoreCore._write_page` writes it, with its plant's sync state."""

    plant: str
    endpoint: Endpoint
    #: Its records, of `endpoint` (`table_rows.check_kind`).
    records: Sequence[MeterRecord] | Sequence[InverterRecord]
    #: The page's first and last period start.
    span: tuple[int, int]
    #: `UPSERT_STATE`'s parameters after plant and endpoint (`state_args`).
    state: tuple[Any, ...]


@attrs.frozen
class PlantPage:
    """One page of `StoreCore.commit_pages`: `commit_page`'s arguments for one plant."""

    plant: str
    endpoint: Endpoint
    records: Sequence[MeterRecord] | Sequence[InverterRecord]
    state: SyncState


@attrs.frozen
class _Filter:
    """The rows a read keeps: some plants only, periods in ``[start, end)``."""

    plants: Sequence[str] | None
    start: int | None
    end: int | None

    def where(self, after: tuple[str, Row] | None = None) -> tuple[str, list[Any]]:
        """Return a WHERE clause and its parameters; `after`: only keys above this one."""
        clauses: list[str] = []
        params: list[Any] = []

        def param(value: Any) -> str:  # noqa: ANN401 - any value a driver can send
            params.append(value)
            return f"${len(params)}"

        if self.plants is not None:
            clauses.append(f"plant = ANY({param(list(self.plants))})")
        if self.start is not None:
            clauses.append(f"unix_time >= {param(self.start)}")
        if self.end is not None:
            clauses.append(f"unix_time < {param(self.end)}")
        if after is not None:
            key, values = after
            clauses.append(f"({key}) > ({', '.join(param(v) for v in values)})")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


async def _write_holes(
    db: Driver, plant: str, endpoint: Endpoint, known: Sequence[Hole], holes: Sequence[Hole]
) -> None:
    """Replace the `known` holes of a span by `holes`."""
    if known:
        await db.execute(
            "DELETE FROM holes WHERE plant = $1 AND endpoint = $2 AND start_time = ANY($3)",
            plant,
            endpoint.value,
            [hole.start for hole in known],
        )
    await db.executemany(
        f"INSERT INTO holes (plant, endpoint, {table_rows.HOLE_COLUMNS}) "  # noqa: S608
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [(plant, endpoint.value, *attrs.astuple(hole)) for hole in holes],
    )


async def _update_holes(
    db: Driver,
    page: PageWrite,
    found: Sequence[Sequence[Any]],
    *,
    now: float,
    since: int | None,
) -> None:
    """Rewrite the holes a page changed: around it, and the head before the first period.

    `found`: `read_around`'s rows, read before the page's writes (or after them): the
    page's own periods and `since` are merged in, giving the tables as they are after it.
    `since`: the state's as the page gives it.
    """
    plant, endpoint = page.plant, page.endpoint
    stored = {row[1]: row[3] for row in found if row[0] == 0}
    stored.update((r.unix_time, r.interval) for r in page.records)
    periods = sorted(stored.items())
    # A hole before the span's first period is the head's (below).
    known = [
        hole
        for hole in (table_rows.hole(row[1:]) for row in found if row[0] == 1)
        if hole.start >= periods[0][0]
    ]
    holes = reconcile(find_gaps(periods), known, now)
    if holes != known:
        await _write_holes(db, plant, endpoint, known, holes)
    # The head: between where the sync began (the state's `since`, the first one given
    # staying) and the first stored period.
    _, stored_since, first, interval, *_ = next(row for row in found if row[0] == 2)
    since = since if stored_since is None else stored_since
    if since is None:
        return
    if first is None or page.span[0] <= first:
        first, interval = periods[0]
    head = head_gap(since, first, interval)
    known = [
        hole
        for hole in (table_rows.hole(row[1:]) for row in found if row[0] == 3)
        if hole.start < first
    ]
    holes = reconcile([] if head is None else [head], known, now)
    if holes != known:
        await _write_holes(db, plant, endpoint, known, holes)


def check_version(where: str, version: int, target: int, *, create: bool, empty: str) -> None:
    """Refuse a schema `version` the store (of version `target`) cannot use.

    Newer: `SchemaVersionError`, whatever the store. Older, or none (`empty` says so), for
    a reader (`create` off), which upgrades nothing: `NoStoreError`.
    """
    if version > target:
        raise SchemaVersionError(
            f"{where}: schema version {version} is newer than this lacecal_async knows "
            f"({target}); upgrade lacecal_async to open it"
        )
    if version < target and not create:
        raise NoStoreError(
            f"{where}: schema version {version} is older than this lacecal_async's "
            f"({target}); run `lacecal sync` to upgrade it"
            if version
            else f"{where}: {empty}; `lacecal sync` creates one",
            older=bool(version),
        )


def retrieve(done: asyncio.Future[Any]) -> None:
    """Mark a job's outcome as seen when its caller was cancelled and will never look."""
    if not done.cancelled():
        done.exception()


class StoreCore:
    """The operations both stores share; a store adds its lifecycle, driver and `_call`."""

    #: How the store's database says the core's statements.
    dialect: ClassVar[Dialect]
    #: Run before a plant is added (PostgreSQL: one at a time across workers).
    _ADD_PLANT_LOCK: ClassVar[str | None] = None
    #: Run with the new plant's key once it is added (PostgreSQL: its lease row).
    _PLANT_ADDED: ClassVar[tuple[str, ...]] = ()

    async def open(self) -> None:
        """Open the store: create or upgrade its schema, or check it."""
        raise NotImplementedError  # pragma: no cover

    async def close(self) -> None:
        """Let the calls in flight finish, then close the store (safe to call twice)."""
        raise NotImplementedError  # pragma: no cover

    async def __aenter__(self) -> Self:
        """Open the store."""
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        await self.close()

    @contextlib.asynccontextmanager
    async def following(self) -> AsyncIterator[None]:
        """Hold off a second `follow` for the block: nothing here (SQLite overrides it)."""
        yield

    async def _call(self, job: Job[T]) -> T:
        raise NotImplementedError  # pragma: no cover

    async def _fence(self, db: Driver, plant: str, worker: str | None) -> None:  # noqa: ARG002
        """Refuse the write unless `worker` (if given) holds the plant's lease."""
        if worker is not None:
            raise StoreError(f"{type(self).__name__} has no leases: a write names no worker")

    async def _upsert(self, db: Driver, table: Table, rows: Sequence[Row]) -> None:
        """Insert or replace `rows` of a data table, a statement per row."""
        await db.executemany(_UPSERT[table], self.dialect.rows_in(table, rows))

    async def _write_rows(self, db: Driver, page: PageWrite) -> None:
        """Insert or replace a page's rows (its records' kind checked by the caller)."""
        for table, rows in table_rows.page_rows(page.endpoint, page.plant, page.records):
            await self._upsert(db, table, rows)

    async def _write_page(self, db: Driver, page: PageWrite) -> Sequence[Sequence[Any]]:
        """Write a page's rows and its sync state; return `read_around`'s rows before them.

        Read first, as PostgreSQL's one statement does: the page's own periods, which
        `_update_holes` adds anyway, are not read back.
        """
        found = await db.fetch(_AROUND[page.endpoint], page.plant, page.endpoint.value, *page.span)
        await self._write_rows(db, page)
        await db.execute(UPSERT_STATE, page.plant, page.endpoint.value, *page.state)
        return found

    @contextlib.asynccontextmanager
    async def _plant_write(
        self, db: Driver, plant: str, worker: str | None, *, known: bool
    ) -> AsyncIterator[None]:
        """Open a transaction writing for `plant`: its row locked, then `worker`'s lease checked.

        One place for the order of the two locks, so two writers never take them crosswise.
        The plant's row is locked ``FOR NO KEY UPDATE`` (which foreign keys' checks do not
        wait on), so two writers of one plant take turns instead of losing an update.
        """
        async with db.transaction():
            if not await self._lock_plant(db, plant, worker) and known:
                raise StoreError(f"unknown plant {plant!r}: add_plant() it first")
            yield

    async def _lock_plant(self, db: Driver, plant: str, worker: str | None) -> bool:
        """Lock the plant's row, then check `worker`'s lease (`_fence`); whether it is known."""
        found = await db.fetchval("SELECT 1 FROM plants WHERE plant = $1 FOR NO KEY UPDATE", plant)
        await self._fence(db, plant, worker)
        return found is not None

    # -- plants ---------------------------------------------------------------------------
    async def add_plant(self, fingerprint: str, alias: str | None = None) -> str:
        """Register a plant (idempotent) and return its key: `alias`, else `fingerprint`."""
        check_fingerprint(fingerprint)
        key = fingerprint if alias is None else check_alias(alias)

        async def job(db: Driver) -> str:
            async with db.transaction():
                if self._ADD_PLANT_LOCK is not None:
                    await db.execute(self._ADD_PLANT_LOCK)
                stored = await db.fetchval(
                    "SELECT plant FROM plants WHERE fingerprint = $1", fingerprint
                )
                if stored is not None:
                    _same_key(fingerprint, stored, key)
                    return key
                if await db.fetchval("SELECT 1 FROM plants WHERE plant = $1", key):
                    raise StoreError(f"alias {key!r} already names another plant")
                await db.execute(_ADD_PLANT, *(key, fingerprint, alias, time.time()))
                for statement in self._PLANT_ADDED:
                    await db.execute(statement, key)
            return key

        return await self._call(job)

    async def add_plants(self, plants: Sequence[tuple[str, str | None]]) -> list[str]:
        """Register ``(fingerprint, alias)`` plants as `add_plant` would, in one transaction.

        Return their keys, in order. All or none: a plant that `add_plant` would refuse (its
        fingerprint stored under another key, its alias naming another plant) raises the
        same `StoreError`, and none is added. A fleet's first start registers thousands at
        once, a few statements in all instead of a transaction each.
        """
        checked = [
            (check_fingerprint(fp), fp if alias is None else check_alias(alias), alias)
            for fp, alias in plants
        ]

        async def job(db: Driver) -> list[str]:
            async with db.transaction():
                if self._ADD_PLANT_LOCK is not None:
                    await db.execute(self._ADD_PLANT_LOCK)
                stored = {fp: key for key, fp in await db.fetch(_PLANT_KEYS)}
                keys, added = set(stored.values()), time.time()
                new: list[tuple[str, str, str | None, float]] = []
                for fp, key, alias in checked:
                    if fp in stored:
                        _same_key(fp, stored[fp], key)
                        continue
                    if key in keys:
                        raise StoreError(f"alias {key!r} already names another plant")
                    stored[fp] = key
                    keys.add(key)
                    new.append((key, fp, alias, added))
                if new:
                    await db.executemany(_ADD_PLANT, new)
                    for statement in self._PLANT_ADDED:
                        await db.executemany(statement, [(row[0],) for row in new])
            return [key for _, key, _ in checked]

        return await self._call(job) if checked else []

    async def plants(self) -> list[PlantEntry]:
        """Return every registered plant, by key."""

        async def job(db: Driver) -> list[PlantEntry]:
            rows = await db.fetch("SELECT plant, fingerprint, alias FROM plants ORDER BY plant")
            return [PlantEntry(*row) for row in rows]

        return await self._call(job)

    # -- records and state ----------------------------------------------------------------
    async def state(self, plant: str, endpoint: Endpoint) -> SyncState | None:
        """Return the plant's sync state for a timed endpoint, None before its first write.

        `Endpoint.INVERTER_LIST`: the state of its inventory's refreshes (`next_poll`,
        `failures`, the last error), None before the first.
        """
        if endpoint == Endpoint.INVERTER_LIST:
            return await self._inventory_state(plant)
        value = timed(endpoint)

        async def job(db: Driver) -> SyncState | None:
            row = await db.fetchrow(
                "SELECT latest, interval_s, next_poll, failures, last_error, last_error_at, "
                "since FROM sync_state WHERE plant = $1 AND endpoint = $2",
                plant,
                value.value,
            )
            return None if row is None else SyncState(*row)

        return await self._call(job)

    async def states(self, endpoint: Endpoint) -> dict[str, SyncState]:
        """Return every plant's sync state for a timed endpoint, by key, in one query.

        A plant without one is not in it (`state` would return None).
        """
        value = timed(endpoint)

        async def job(db: Driver) -> dict[str, SyncState]:
            rows = await db.fetch(
                "SELECT plant, latest, interval_s, next_poll, failures, last_error, "
                "last_error_at, since FROM sync_state WHERE endpoint = $1",
                value.value,
            )
            return {row[0]: SyncState(*row[1:]) for row in rows}

        return await self._call(job)

    async def _inventory_state(self, plant: str) -> SyncState | None:
        async def job(db: Driver) -> SyncState | None:
            row = await db.fetchrow(
                "SELECT next_poll, failures, last_error, last_error_at FROM inventory_state "
                "WHERE plant = $1",
                plant,
            )
            if row is None:
                return None
            next_poll, failures, error, error_at = row
            return SyncState(
                next_poll=next_poll, failures=failures, last_error=error, last_error_at=error_at
            )

        return await self._call(job)

    async def commit_page(
        self,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[MeterRecord] | Sequence[InverterRecord],
        state: SyncState,
        *,
        now: float,
        worker: str | None = None,
    ) -> None:
        """Upsert a page, update the holes around it and write `state`, in one transaction.

        With `worker` (a fleet's store), only while it holds the plant's lease (else
        `LeaseLostError`).
        """
        value = timed(endpoint)
        table_rows.check_kind(value, records)

        async def job(db: Driver) -> None:
            async with self._plant_write(db, plant, worker, known=True):
                await self._write_page_of(db, PlantPage(plant, value, records, state), now)

        await self._call(job)

    async def commit_pages(
        self, batch: Sequence[PlantPage], *, now: float, worker: str | None = None
    ) -> None:
        """Commit several plants' pages in one transaction, each as `commit_page` would.

        All of them or none: each page still lands whole with its state (exactly once), and
        one commit serves many plants' one-record pages (follow mode's polls). Pages of one
        plant are written in the order given. The plants' rows are locked first, in key
        order, so two batches never take them crosswise. With `worker`, only if it holds
        every plant's lease (else `LeaseLostError`, and nothing is written).
        """
        checked = [attrs.evolve(page, endpoint=timed(page.endpoint)) for page in batch]
        for page in checked:
            table_rows.check_kind(page.endpoint, page.records)

        async def job(db: Driver) -> None:
            async with db.transaction():
                for plant in sorted({page.plant for page in batch}):
                    if not await self._lock_plant(db, plant, worker):
                        raise StoreError(f"unknown plant {plant!r}: add_plant() it first")
                for page in checked:
                    await self._write_page_of(db, page, now)

        if batch:
            await self._call(job)

    async def _write_page_of(self, db: Driver, page: PlantPage, now: float) -> None:
        """Write a page (its endpoint checked), holes and state in the caller's transaction."""
        plant, value, records, state = page.plant, page.endpoint, page.records, page.state
        if not records:
            await db.execute(UPSERT_STATE, plant, value.value, *state_args(state, now))
            return
        times = [r.unix_time for r in records]
        if value is Endpoint.INVERTER:  # a corrected period replaces all its rows
            await db.execute(
                "DELETE FROM inverter WHERE plant = $1 AND unix_time = ANY($2)", plant, times
            )
        write = PageWrite(plant, value, records, (min(times), max(times)), state_args(state, now))
        found = await self._write_page(db, write)
        await _update_holes(db, write, found, now=now, since=state.since)

    # -- reading back ---------------------------------------------------------------------
    async def _select(
        self, db: Driver, table: Table, where: str, params: Sequence[Any], limit: int | None
    ) -> list[Row]:
        """Return `table`'s rows as the schema has them (``start`` at the plant's offset)."""
        names = table.names
        found = await db.fetch(
            f"SELECT {', '.join(names)} FROM {TABLE_NAMES[table]}{where} "  # noqa: S608
            f"ORDER BY {', '.join(table.key)}{'' if limit is None else f' LIMIT {int(limit)}'}",
            *params,
        )
        if "start" not in names:
            return [tuple(row) for row in found]
        at, out = names.index("start"), self.dialect.start_out
        return [(*row[:at], out(row[at], row[at + 1]), *row[at + 1 :]) for row in found]

    async def read_rows(
        self,
        table: Table,
        *,
        plants: Sequence[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        batch: int = table_rows.READ_BATCH,
    ) -> AsyncIterator[list[Row]]:
        """Yield `table`'s rows (a `lacecal_async.tables` table) in batches, ordered by key.

        The order is plant, then time (then inverter). `plants` keeps those plants only;
        `start` / `end` keep periods in ``[start, end)`` [UNIX s] (not for `INVERTER_LIST`).
        Rows are as `Table.rows` makes them, so a batch writes as records' rows would.
        """
        if table not in TABLE_NAMES:
            raise ValueError(f"the store has no table {table.name!r}")
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        if "unix_time" not in table.names and (start, end) != (None, None):
            raise ValueError(f"the {table.name} table has no time to select by")
        rows_filter = _Filter(plants, start, end)
        after: tuple[str, Row] | None = None
        while True:
            where, params = rows_filter.where(after)

            async def job(db: Driver, where: str = where, params: list[Any] = params) -> list[Row]:
                return await self._select(db, table, where, params, batch)

            rows = await self._call(job)
            if not rows:
                return
            yield rows
            if len(rows) < batch:
                return
            after = table_rows.key(table, rows[-1])

    async def read_records(
        self,
        endpoint: Endpoint,
        *,
        plants: Sequence[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        batch: int = table_rows.READ_BATCH,
    ) -> AsyncIterator[tuple[str, list[MeterRecord] | list[InverterRecord]]]:
        """Yield ``(plant, records)`` batches of a timed endpoint, ordered by plant and time.

        The records are those committed (an inverter record's inverters by id); filters as
        in `read_rows`. A batch holds at most `batch` periods of one plant.
        """
        value = timed(endpoint)
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        if value is Endpoint.METER:
            async for rows in self.read_rows(
                METER, plants=plants, start=start, end=end, batch=batch
            ):
                for plant, runs in table_rows.by_plant(rows):
                    yield plant, [meter_record(row) for row in runs]
            return
        rows_filter = _Filter(plants, start, end)
        after: tuple[str, Row] | None = None
        while True:
            where, params = rows_filter.where(after)

            async def job(
                db: Driver, where: str = where, params: list[Any] = params
            ) -> list[tuple[str, list[InverterRecord]]]:
                async with db.snapshot():
                    periods = await self._select(db, PERIODS, where, params, batch)
                    if not periods:
                        return []
                    first, last = (
                        table_rows.key(PERIODS, periods[0]),
                        table_rows.key(PERIODS, periods[-1]),
                    )
                    span, span_params = rows_filter.where()
                    n = len(span_params)
                    span += " AND " if span else " WHERE "
                    span += f"({first[0]}) BETWEEN (${n + 1}, ${n + 2}) AND (${n + 3}, ${n + 4})"
                    inverters = await self._select(
                        db, INVERTERS, span, [*span_params, *first[1], *last[1]], None
                    )
                by_period: dict[tuple[Any, Any], list[Row]] = {}
                for row in inverters:
                    by_period.setdefault((row[0], row[1]), []).append(row)
                return [
                    (plant, [inverter_record(p, by_period.get((p[0], p[1]), [])) for p in runs])
                    for plant, runs in table_rows.by_plant(periods)
                ]

            batches = await self._call(job)
            for plant, records in batches:
                yield plant, records
            if sum(len(records) for _, records in batches) < batch:
                return
            last_plant, last_records = batches[-1]
            after = ("plant, unix_time", (last_plant, last_records[-1].unix_time))

    # -- inventory ------------------------------------------------------------------------
    async def commit_inventory(
        self,
        plant: str,
        inverters: Sequence[Inverter],
        *,
        now: float,
        next_poll: float | None = None,
        worker: str | None = None,
    ) -> None:
        """Replace the plant's inverter inventory with `inverters` in one transaction.

        Its refreshes' failures are cleared; `next_poll` is when the next one is due. With
        `worker`, only while it holds the plant's lease (else `LeaseLostError`).
        """

        async def job(db: Driver) -> None:
            async with self._plant_write(db, plant, worker, known=True):
                await db.execute(_INVENTORY_DONE, plant, next_poll, now)
                await db.execute(
                    "DELETE FROM inverters WHERE plant = $1 AND NOT inverter_id = ANY($2)",
                    plant,
                    [i.id for i in inverters],
                )
                await db.executemany(
                    _UPSERT_INVERTERS,
                    [
                        (plant, i.id, i.name, i.manufacturer, i.model, i.serial_number, now)
                        for i in inverters
                    ],
                )

        await self._call(job)

    async def inventory(self, plant: str) -> list[Inverter]:
        """Return the plant's inverters, by id."""

        async def job(db: Driver) -> list[Inverter]:
            rows = await db.fetch(
                "SELECT inverter_id, name, manufacturer, model, serial_number FROM inverters "
                "WHERE plant = $1 ORDER BY inverter_id",
                plant,
            )
            return [Inverter(*row) for row in rows]

        return await self._call(job)

    # -- holes, errors, status --------------------------------------------------------------
    async def holes(
        self, plant: str, endpoint: Endpoint, *, due_by: float | None = None
    ) -> list[Hole]:
        """Return the plant's holes in time order; with `due_by`, only repairs due by then."""
        value = timed(endpoint)

        async def job(db: Driver) -> list[Hole]:
            rows = await db.fetch(
                f"{_HOLES} AND (CAST($3 AS double precision) IS NULL "
                "OR next_attempt <= $3) ORDER BY start_time",
                plant,
                value.value,
                due_by,
            )
            return [table_rows.hole(row) for row in rows]

        return await self._call(job)

    async def repair_attempted(
        self,
        plant: str,
        endpoint: Endpoint,
        start: int,
        end: int,
        *,
        now: float,
        worker: str | None = None,
    ) -> None:
        """Count a repair of ``[start, end)`` that ended at `now` (its pages committed first).

        With `worker`, only while it holds the plant's lease (else `LeaseLostError`).
        """
        value = timed(endpoint)

        async def job(db: Driver) -> None:
            async with self._plant_write(db, plant, worker, known=False):
                holes = [
                    table_rows.hole(row)
                    for row in await db.fetch(
                        f"{_HOLES} AND start_time < $3 AND end_time > $4",
                        *(plant, value.value, end, start),
                    )
                ]
                await db.executemany(
                    "UPDATE holes SET attempts = $1, next_attempt = $2 "
                    "WHERE plant = $3 AND endpoint = $4 AND start_time = $5",
                    [
                        (done.attempts, done.next_attempt, plant, value.value, done.start)
                        for done in (attempted(hole, now) for hole in holes)
                    ],
                )

        await self._call(job)

    async def record_error(
        self,
        plant: str,
        endpoint: Endpoint,
        message: str,
        next_attempt: float | None,
        *,
        now: float,
        worker: str | None = None,
    ) -> None:
        """Count a failure of the plant's endpoint and when to try again; rows stay as they are.

        `Endpoint.INVERTER_LIST`: a failed refresh of the inverter list. With `worker`, only
        while it holds the plant's lease (else `LeaseLostError`).
        """
        value = Endpoint(endpoint)
        if value is not Endpoint.INVERTER_LIST:
            timed(value)

        async def job(db: Driver) -> None:
            async with self._plant_write(db, plant, worker, known=True):
                if value is Endpoint.INVERTER_LIST:
                    await db.execute(
                        _RECORD_INVENTORY_ERROR, plant, clean_error(message), now, next_attempt
                    )
                    return
                await db.execute(
                    _RECORD_ERROR, plant, value.value, next_attempt, clean_error(message), now
                )

        await self._call(job)

    async def drop_future(
        self,
        plant: str,
        endpoint: Endpoint,
        *,
        after: int,
        seen: int | None,
        now: float,
        worker: str | None = None,
    ) -> int:
        """Remove the stored periods starting after `after` (dated after the clock); how many.

        The holes reaching past `after` go too, the sync state's latest and interval become
        the newest kept period's, and the state notes the latest ignored start (a removed
        period's, or `seen`) at `now`: all in one transaction. With `worker`, only while it
        holds the plant's lease (else `LeaseLostError`).
        """
        value = timed(endpoint)
        table = TABLE_NAMES[table_rows.PERIOD_TABLES[value]]

        async def job(db: Driver) -> int:
            async with self._plant_write(db, plant, worker, known=True):
                counted = await db.fetchrow(
                    f"SELECT count(*), max(unix_time) FROM {table} "  # noqa: S608
                    "WHERE plant = $1 AND unix_time > $2",
                    plant,
                    after,
                )
                assert counted is not None  # noqa: S101 - an aggregate has a row
                removed, newest = counted
                if value is Endpoint.INVERTER:  # its rows refer to the periods
                    await db.execute(
                        "DELETE FROM inverter WHERE plant = $1 AND unix_time > $2", plant, after
                    )
                await db.execute(
                    f"DELETE FROM {table} WHERE plant = $1 AND unix_time > $2",  # noqa: S608
                    plant,
                    after,
                )
                await db.execute(
                    "DELETE FROM holes WHERE plant = $1 AND endpoint = $2 AND end_time > $3",
                    *(plant, value.value, after),
                )
                kept = await db.fetchrow(
                    f"SELECT unix_time, interval_s FROM {table} WHERE plant = $1 "  # noqa: S608
                    "ORDER BY unix_time DESC LIMIT 1",
                    plant,
                )
                ignored = max((t for t in (newest, seen) if t is not None), default=None)
                await db.execute(
                    _NOTE_FUTURE,
                    *(plant, value.value, *(kept or (None, None)), now, ignored, removed, after),
                )
            return int(removed)

        return await self._call(job)

    async def status(self) -> list[StatusRow]:
        """Return a row per plant and synced endpoint (one row for a plant never synced)."""

        async def job(db: Driver) -> list[StatusRow]:
            return [table_rows.status_row(row) for row in await db.fetch(STATUS)]

        return await self._call(job)
