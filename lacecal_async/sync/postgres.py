"""`PostgresStore`: the store of a fleet, one PostgreSQL database that many workers share.

Same tables, semantics and guarantees as `SQLiteStore` (each page's rows and the plant's
sync state commit in one transaction; holes and their repair schedule; no identifier
stored), on asyncpg, plus the leases by which workers split the plants
(`lacecal_async.sync.leases`). asyncpg is imported when a store opens, so a plain install
of the library does without it.

Calls run on a small connection pool, each in a task of its own that the store awaits
shielded: a write, once called, completes even if its caller is cancelled, and `close`
waits for it. Writes that read before they write (holes, error counts) first lock the
plant's row (``FOR NO KEY UPDATE``, which foreign keys' checks do not wait on), so two
connections committing pages of one plant take turns instead of losing an update.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NoReturn, Self, TypeAlias, TypeVar

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.records import Inverter, InverterRecord, MeterRecord
from lacecal_async.sync import pages
from lacecal_async.sync.holes import Hole, attempted, find_gaps, head_gap, reconcile
from lacecal_async.sync.leases import (
    DEFAULT_SLACK,
    LeaseBalance,
    LeaseLostError,
    fair_share,
    surplus,
)
from lacecal_async.sync.postgres_faults import store_error, transient
from lacecal_async.sync.postgres_page import page_statement, unnest_arguments
from lacecal_async.sync.postgres_schema import MIGRATIONS, TABLE_NAMES, column_type
from lacecal_async.sync.store import (
    NoStoreError,
    PlantEntry,
    SchemaVersionError,
    StatusRow,
    StoreError,
    StoreUnavailableError,
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

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    #: A connection, or one lent by a pool.
    Conn: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

__all__ = ["UPSERT_METHODS", "PostgresStore", "UpsertMethod", "dsn_shown", "upsert_rows"]

T = TypeVar("T")
Job = Callable[["Conn"], Awaitable[T]]
#: Advisory lock keys (the first is this library's, the second the purpose).
_LOCK_SPACE = 0x1ACECA1
_LOCK_MIGRATE = 1
_LOCK_PLANTS = 2

UpsertMethod = Literal["unnest", "copy", "executemany"]
#: How `upsert_rows` may send a page's rows (the benchmark compares them).
UPSERT_METHODS: tuple[UpsertMethod, ...] = ("unnest", "copy", "executemany")
#: The one the store uses: the fastest in ``python -m benchmarks --only postgres``.
STORE_UPSERT: UpsertMethod = "unnest"


def _on_conflict(table: Table) -> str:
    updates = ", ".join(f"{n} = excluded.{n}" for n in table.names if n not in table.key)
    return f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}"


def _upsert_sql(table: Table) -> dict[UpsertMethod, str]:
    name, names = TABLE_NAMES[table], ", ".join(table.names)
    arrays = ", ".join(
        f"${i}::{column_type(c).split(' COLLATE')[0]}[]" for i, c in enumerate(table.columns, 1)
    )
    values = ", ".join(f"${i}" for i in range(1, len(table.columns) + 1))
    conflict = _on_conflict(table)
    return {
        "unnest": f"INSERT INTO {name} ({names}) SELECT * FROM unnest({arrays}) {conflict}",  # noqa: S608
        "executemany": f"INSERT INTO {name} ({names}) VALUES ({values}) {conflict}",  # noqa: S608
        "copy": f"INSERT INTO {name} ({names}) SELECT {names} FROM _stage_{name} {conflict}",  # noqa: S608
    }


_UPSERT = {table: _upsert_sql(table) for table in (METER, PERIODS, INVERTERS)}


def _last_per_key(table: Table, rows: Sequence[Row]) -> list[Row]:
    """Keep the last row of each key: one statement may not update a row twice."""
    at = [table.names.index(name) for name in table.key]
    by_key = {tuple(row[i] for i in at): row for row in rows}
    return list(by_key.values()) if len(by_key) < len(rows) else list(rows)


async def upsert_rows(
    conn: Conn,
    table: Table,
    rows: Sequence[Row],
    method: UpsertMethod = STORE_UPSERT,
) -> None:
    """Insert or replace `rows` of a data table, within the caller's transaction.

    ``unnest``: one statement with a column array per column; ``copy``: COPY into a
    temporary staging table, then one INSERT from it; ``executemany``: a statement per row.
    """
    rows = _last_per_key(table, rows)
    if not rows:
        return
    sql = _UPSERT[table][method]
    if method == "unnest":
        await conn.execute(sql, *(list(column) for column in zip(*rows, strict=True)))
    elif method == "executemany":
        await conn.executemany(sql, rows)
    else:
        stage = f"_stage_{TABLE_NAMES[table]}"
        await conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
            f"(LIKE {TABLE_NAMES[table]}) ON COMMIT DELETE ROWS"
        )
        await conn.copy_records_to_table(stage, records=rows, columns=table.names)
        await conn.execute(sql)


_UPSERT_STATE = (
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
# Parameters: plant, endpoint, the newest period kept (start, interval), now, the latest
# ignored start, periods removed, `after`. The latest moves back only if it was after it.
_NOTE_FUTURE = """
INSERT INTO sync_state (plant, endpoint, latest, interval_s, failures, updated_at,
    future_record, future_seen_at, future_removed)
VALUES ($1, $2, $3, $4, 0, $5::double precision, $6::bigint,
    CASE WHEN $6::bigint IS NULL THEN NULL ELSE $5::double precision END, $7)
ON CONFLICT (plant, endpoint) DO UPDATE SET
    latest = CASE WHEN sync_state.latest > $8::bigint
        THEN excluded.latest ELSE sync_state.latest END,
    interval_s = CASE WHEN sync_state.latest > $8::bigint
        THEN coalesce(excluded.interval_s, sync_state.interval_s) ELSE sync_state.interval_s END,
    future_record = coalesce(excluded.future_record, sync_state.future_record),
    future_seen_at = coalesce(excluded.future_seen_at, sync_state.future_seen_at),
    future_removed = sync_state.future_removed + excluded.future_removed,
    updated_at = excluded.updated_at
"""
_STATUS = """
SELECT s.plant, s.endpoint,
    CASE s.endpoint
        WHEN 'meter' THEN (SELECT min(unix_time) FROM meter WHERE plant = s.plant)
        ELSE (SELECT min(unix_time) FROM inverter_periods WHERE plant = s.plant) END,
    CASE s.endpoint
        WHEN 'meter' THEN (SELECT max(unix_time) FROM meter WHERE plant = s.plant)
        ELSE (SELECT max(unix_time) FROM inverter_periods WHERE plant = s.plant) END,
    (SELECT count(*) FROM holes h WHERE h.plant = s.plant AND h.endpoint = s.endpoint),
    (SELECT coalesce(sum((end_time - start_time + interval_s - 1) / interval_s), 0)::bigint
        FROM holes h WHERE h.plant = s.plant AND h.endpoint = s.endpoint),
    s.failures, s.last_error, s.last_error_at, s.next_poll,
    s.future_record, s.future_seen_at, s.future_removed
FROM sync_state s
UNION ALL
SELECT i.plant, 'inverter_list' COLLATE "C", NULL, NULL, 0, 0, i.failures, i.last_error,
    i.last_error_at, i.next_poll, NULL, NULL, 0
FROM inventory_state i WHERE i.last_error IS NOT NULL
UNION ALL
SELECT p.plant, NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0
FROM plants p WHERE NOT EXISTS (SELECT 1 FROM sync_state s WHERE s.plant = p.plant)
ORDER BY 1, 2
"""
_HEARTBEAT = (
    "INSERT INTO workers (worker, started_at, heartbeat_at, expires_at) "
    "VALUES ($1, clock_timestamp(), clock_timestamp(), "
    "clock_timestamp() + make_interval(secs => $2)) "
    "ON CONFLICT (worker) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, "
    "expires_at = excluded.expires_at"
)
# Gone workers' rows, skipping any another worker is deleting (so no one waits: no deadlock).
_FORGET_WORKERS = (
    "DELETE FROM workers WHERE worker IN (SELECT worker FROM workers "
    "WHERE expires_at <= clock_timestamp() - interval '1 hour' FOR UPDATE SKIP LOCKED)"
)
# A plant the worker refused (no identifier) is never leased to it while it lives.
_TAKE = """
WITH free AS (
    SELECT plant FROM leases
    WHERE (worker IS NULL OR expires_at <= clock_timestamp())
        AND ($4::text[] IS NULL OR plant = ANY($4::text[]))
        AND NOT EXISTS (SELECT 1 FROM lease_refusals r
            WHERE r.plant = leases.plant AND r.worker = $1)
    ORDER BY worker IS DISTINCT FROM $1, plant
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE leases l SET worker = $1, acquired_at = clock_timestamp(),
    expires_at = clock_timestamp() + make_interval(secs => $2), refused_by = NULL, adopted = false
FROM free WHERE l.plant = free.plant
RETURNING l.plant
"""
# Free plants a live worker refused (no identifier) and this one did not: taken beyond the
# share, since the workers that refused them cannot sync them.
_ADOPT = """
WITH free AS (
    SELECT plant FROM leases
    WHERE (worker IS NULL OR expires_at <= clock_timestamp())
        AND EXISTS (SELECT 1 FROM lease_refusals r JOIN workers w ON w.worker = r.worker
            WHERE r.plant = leases.plant AND w.expires_at > clock_timestamp())
        AND NOT EXISTS (SELECT 1 FROM lease_refusals r
            WHERE r.plant = leases.plant AND r.worker = $1)
        AND ($3::text[] IS NULL OR plant = ANY($3::text[]))
    ORDER BY plant
    FOR UPDATE SKIP LOCKED
)
UPDATE leases l SET worker = $1, acquired_at = clock_timestamp(),
    expires_at = clock_timestamp() + make_interval(secs => $2), refused_by = NULL, adopted = true
FROM free WHERE l.plant = free.plant
RETURNING l.plant
"""
_RENEW = (
    "UPDATE leases SET expires_at = clock_timestamp() + make_interval(secs => $2) "
    "WHERE worker = $1 AND expires_at > clock_timestamp() RETURNING plant, adopted"
)
_LIVE = "SELECT worker FROM workers WHERE expires_at > clock_timestamp() ORDER BY worker"
# Only a worker with a heartbeat row records refusals (they go with that row); known plants only.
_REFUSE = """
INSERT INTO lease_refusals (plant, worker, refused_at)
SELECT p.plant, w.worker, clock_timestamp() FROM plants p JOIN workers w ON w.worker = $1
WHERE p.plant = ANY($2::text[])
ON CONFLICT (plant, worker) DO UPDATE SET refused_at = excluded.refused_at
"""
# Per plant: the unexpired lease's holder, the live workers that refused it, the live workers.
_FLEET_STATUS = """
WITH live AS (SELECT worker FROM workers WHERE expires_at > clock_timestamp())
SELECT p.plant,
    (SELECT l.worker FROM leases l WHERE l.plant = p.plant AND l.expires_at > clock_timestamp()),
    ARRAY(SELECT r.worker FROM lease_refusals r JOIN live ON live.worker = r.worker
        WHERE r.plant = p.plant ORDER BY r.worker),
    (SELECT count(*) FROM live)
FROM plants p
"""


#: Per endpoint: the one statement writing a page (its tables in `pages.page_rows`' order).
_PAGE_SQL = {
    endpoint: page_statement(
        [table for table, _ in pages.page_rows(endpoint, "", [])], pages.PERIOD_TABLES[endpoint]
    )
    for endpoint in (Endpoint.METER, Endpoint.INVERTER)
}


async def _write_holes(
    conn: Conn, plant: str, endpoint: Endpoint, known: Sequence[Hole], holes: Sequence[Hole]
) -> None:
    """Replace the `known` holes of a span by `holes`."""
    await conn.execute(
        "DELETE FROM holes WHERE plant = $1 AND endpoint = $2 AND start_time = ANY($3)",
        plant,
        endpoint.value,
        [hole.start for hole in known],
    )
    await conn.executemany(
        f"INSERT INTO holes (plant, endpoint, {pages.HOLE_COLUMNS}) "  # noqa: S608
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [(plant, endpoint.value, *attrs.astuple(hole)) for hole in holes],
    )


def _raise_as_store_error(exc: Exception, dsn: str) -> NoReturn:
    """Raise what a store raises for `exc`: a `StoreError` for asyncpg's, else `exc` itself."""
    converted = store_error(exc, dsn_shown(dsn))
    if converted is None:
        raise exc
    raise converted from None


def _retrieve(done: asyncio.Future[Any]) -> None:
    """Mark a job's outcome as seen when its caller was cancelled and will never look."""
    if not done.cancelled():
        done.exception()


def dsn_shown(dsn: str) -> str:
    """Return the DSN fit for messages and reprs: host, port, database; never a password."""
    try:
        parts = urllib.parse.urlsplit(dsn)
        host = parts.hostname or "localhost"
        where = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "postgresql://?"
    return f"postgresql://{where}{parts.path}"


_OFFSETS: dict[int, timezone] = {}


def _at_offset(start: datetime, offset: int) -> datetime:
    """`start` (from the database, in UTC) at the plant's offset, as the record had it."""
    zone = _OFFSETS.get(offset)
    if zone is None:
        zone = _OFFSETS.setdefault(offset, timezone(timedelta(seconds=offset)))
    return start.astimezone(zone)


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

        def param(value: Any) -> str:  # noqa: ANN401 - any value asyncpg can send
            params.append(value)
            return f"${len(params)}"

        if self.plants is not None:
            clauses.append(f"plant = ANY({param(list(self.plants))}::text[])")
        if self.start is not None:
            clauses.append(f"unix_time >= {param(self.start)}")
        if self.end is not None:
            clauses.append(f"unix_time < {param(self.end)}")
        if after is not None:
            key, values = after
            clauses.append(f"({key}) > ({', '.join(param(v) for v in values)})")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


async def _select(
    conn: Conn,
    table: Table,
    where: str,
    params: Sequence[Any],
    limit: int | None = None,
) -> list[Row]:
    """Return `table`'s rows as the schema has them (``start`` at the plant's offset)."""
    names = table.names
    found = await conn.fetch(
        f"SELECT {', '.join(names)} FROM {TABLE_NAMES[table]}{where} "  # noqa: S608 - constants
        f"ORDER BY {', '.join(table.key)} LIMIT {'ALL' if limit is None else int(limit)}",
        *params,
    )
    if "start" not in names:
        return [tuple(row) for row in found]
    at = names.index("start")
    return [(*row[:at], _at_offset(row[at], row[at + 1]), *row[at + 1 :]) for row in found]


@attrs.define
class PostgresStore:
    """Synced records in a PostgreSQL database, shared by any number of workers.

    `dsn`: ``postgresql://user:password@host:port/database`` (libpq's other forms and
    ``?search_path=schema`` too). `pool_size`: connections this store opens at most.
    `timeout` [s]: how long to wait for a connection or a statement.
    `create`: False to open only an existing store of this schema version, for a reader
    (``lacecal status``, ``lacecal export``) pointed at a database that may hold none: the
    checks run in a read-only transaction, and a database without the store's schema (or
    with an older one) is refused with `NoStoreError`, unchanged.
    Use it as ``async with PostgresStore(dsn) as store: ...`` or `open` / `close`.
    """

    dsn: str = attrs.field(repr=dsn_shown)
    pool_size: int = 4
    timeout: float = 30.0
    create: bool = attrs.field(default=True, kw_only=True)
    #: The schema, as migrations (a subclass may append one to test an upgrade).
    migrations: ClassVar[tuple[tuple[str, ...], ...]] = MIGRATIONS
    #: Write a page's rows and state and read around it in one statement
    #: (`lacecal_async.sync.postgres_page`); False: a statement per step, as before (the
    #: benchmark measures both).
    one_statement_pages: ClassVar[bool] = True
    _pool: asyncpg.Pool[Any] | None = attrs.field(init=False, default=None, repr=False)
    _tasks: set[asyncio.Task[Any]] = attrs.field(init=False, factory=set, repr=False)

    # -- lifecycle ------------------------------------------------------------------------
    async def open(self) -> None:
        """Create or upgrade the schema; `SchemaVersionError` for a newer or foreign one.

        With ``create=False``: `NoStoreError` for no schema or an older one, nothing written.
        """
        if self._pool is not None:
            return
        try:
            import asyncpg  # noqa: PLC0415 - optional: only a PostgreSQL store needs it
        except ImportError:
            raise StoreError(
                "PostgresStore needs asyncpg: pip install 'lacecal_async[postgres]'"
            ) from None
        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.pool_size,
                timeout=self.timeout,
                command_timeout=self.timeout,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            error = StoreUnavailableError if transient(exc) else StoreError
            raise error(
                f"cannot connect to {dsn_shown(self.dsn)}: {type(exc).__name__}: {exc}"
            ) from None
        try:
            async with pool.acquire() as conn:
                await self._migrate(conn)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, Exception):
                _raise_as_store_error(exc, self.dsn)
            raise
        self._pool = pool

    async def close(self) -> None:
        """Let the operations in flight finish, then close the connections (safe twice)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            while self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            await pool.close()

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

    async def _call(self, job: Job[T]) -> T:
        pool = self._pool
        if pool is None:
            raise StoreError(f"the store {dsn_shown(self.dsn)} is not open")

        async def attempt() -> T:
            async with pool.acquire() as conn:
                return await job(conn)

        async def run() -> T:
            try:
                return await attempt()
            except Exception as exc:  # noqa: BLE001 - asyncpg's are sorted; others raised
                if not transient(exc):
                    _raise_as_store_error(exc, self.dsn)
            # The connection went (a restart drops them all): retry once on fresh ones. The
            # job's transaction committed whole or not at all, and replaying it is harmless.
            await pool.expire_connections()
            try:
                return await attempt()
            except Exception as exc:  # noqa: BLE001 - as above
                _raise_as_store_error(exc, self.dsn)

        # Shielded: a cancelled caller does not stop a job under way, so a call made always
        # completes whole (and `close` waits for it).
        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _migrate(self, conn: Conn) -> None:
        target, where = len(self.migrations), dsn_shown(self.dsn)
        # Read-only without `create`: PostgreSQL itself refuses any write by mistake. The
        # lock is taken either way, so a reader waits for a migration under way.
        async with conn.transaction(readonly=not self.create):
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _LOCK_SPACE, _LOCK_MIGRATE)
            if await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
                version = await self._version(conn, where)
            else:
                clash = await conn.fetchval(
                    "SELECT string_agg(name, ', ' ORDER BY name) FROM unnest($1::text[]) name "
                    "WHERE to_regclass(name) IS NOT NULL",
                    [
                        *TABLE_NAMES.values(),
                        *("plants", "sync_state", "holes", "leases", "workers", "lease_refusals"),
                        "inventory_state",
                    ],
                )
                if clash:
                    raise SchemaVersionError(
                        f"{where}: tables named as a lacecal store's ({clash}) but no "
                        "schema_version: it is not a lacecal store"
                    )
                if self.create:
                    await conn.execute(
                        "CREATE TABLE schema_version (version integer PRIMARY KEY, "
                        "applied_at timestamptz NOT NULL DEFAULT now())"
                    )
                version = 0
            if version > target:
                raise SchemaVersionError(
                    f"{where}: schema version {version} is newer than this lacecal_async "
                    f"knows ({target}); upgrade lacecal_async to open it"
                )
            if version < target and not self.create:
                raise NoStoreError(
                    f"{where}: schema version {version} is older than this lacecal_async's "
                    f"({target}); run `lacecal sync` to upgrade it"
                    if version
                    else f"{where}: no lacecal store in this database; `lacecal sync` creates one"
                )
            for number, statements in enumerate(self.migrations[version:], version + 1):
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", number)

    @staticmethod
    async def _version(conn: Conn, where: str) -> int:
        """Return the schema version; `SchemaVersionError` for another app's table of the name."""
        import asyncpg  # noqa: PLC0415 - loaded by `open` already

        try:
            version = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        except asyncpg.PostgresError as exc:  # no such column, not a number, ...
            version = exc
        # Ours is never empty (created and filled in one transaction) and comes with tables.
        if (
            type(version) is not int
            or not version
            or not await conn.fetchval(
                "SELECT to_regclass('plants') IS NOT NULL AND to_regclass('sync_state') IS NOT NULL"
            )
        ):
            raise SchemaVersionError(
                f"{where}: its schema_version table is not a lacecal store's: "
                "it is not a lacecal store"
            )
        return version

    # -- plants ---------------------------------------------------------------------------
    async def add_plant(self, fingerprint: str, alias: str | None = None) -> str:
        """Register a plant (idempotent) and return its key: `alias`, else `fingerprint`."""
        check_fingerprint(fingerprint)
        key = fingerprint if alias is None else check_alias(alias)

        async def job(conn: Conn) -> str:
            async with conn.transaction():
                # Plants are added rarely: one at a time keeps the checks below exact.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)", _LOCK_SPACE, _LOCK_PLANTS
                )
                stored = await conn.fetchval(
                    "SELECT plant FROM plants WHERE fingerprint = $1", fingerprint
                )
                if stored is not None:
                    if stored != key:
                        raise StoreError(
                            f"plant {fingerprint} is stored as {stored!r}, not {key!r}"
                        )
                    return key
                if await conn.fetchval("SELECT 1 FROM plants WHERE plant = $1", key):
                    raise StoreError(f"alias {key!r} already names another plant")
                await conn.execute(
                    "INSERT INTO plants (plant, fingerprint, alias, added_at) "
                    "VALUES ($1, $2, $3, $4)",
                    key,
                    fingerprint,
                    alias,
                    time.time(),
                )
                await conn.execute("INSERT INTO leases (plant) VALUES ($1)", key)
            return key

        return await self._call(job)

    async def plants(self) -> list[PlantEntry]:
        """Return every registered plant, by key."""

        async def job(conn: Conn) -> list[PlantEntry]:
            rows = await conn.fetch("SELECT plant, fingerprint, alias FROM plants ORDER BY plant")
            return [PlantEntry(*row) for row in rows]

        return await self._call(job)

    @contextlib.asynccontextmanager
    async def _plant_write(
        self, conn: Conn, plant: str, worker: str | None, *, known: bool
    ) -> AsyncIterator[None]:
        """Open a transaction writing for `plant`: its row locked, then `worker`'s lease checked.

        One place for the order of the two locks, so two writers never take them crosswise.
        """
        async with conn.transaction():
            await self._lock_plant(conn, plant, known=known)
            await self._fence(conn, plant, worker)
            yield

    @staticmethod
    async def _lock_plant(conn: Conn, plant: str, *, known: bool) -> None:
        """Lock the plant's row until the transaction ends (`known`: refuse an unknown one)."""
        found = await conn.fetchval(
            "SELECT 1 FROM plants WHERE plant = $1 FOR NO KEY UPDATE", plant
        )
        if found is None and known:
            raise StoreError(f"unknown plant {plant!r}: add_plant() it first")

    @staticmethod
    async def _fence(conn: Conn, plant: str, worker: str | None) -> None:
        """Refuse the write unless `worker` (if given) holds an unexpired lease on `plant`.

        The lease row stays key-share locked until the transaction ends: a worker taking it
        (``FOR UPDATE SKIP LOCKED``) skips it meanwhile, while renewing and releasing (which
        change no key) do not wait. Called after `_lock_plant`, so locks come in one order.
        """
        if worker is None:
            return
        held = await conn.fetchval(
            "SELECT 1 FROM leases WHERE plant = $1 AND worker = $2 "
            "AND expires_at > clock_timestamp() FOR KEY SHARE",
            plant,
            worker,
        )
        if held is None:
            raise LeaseLostError(
                f"worker {worker!r} no longer holds the lease on plant {plant!r}: not written"
            )

    # -- records and state ----------------------------------------------------------------
    async def state(self, plant: str, endpoint: Endpoint) -> SyncState | None:
        """Return the plant's sync state for a timed endpoint, None before its first write."""
        value = pages.timed(endpoint)

        async def job(conn: Conn) -> SyncState | None:
            row = await conn.fetchrow(
                "SELECT latest, interval_s, next_poll, failures, last_error, last_error_at, "
                "since FROM sync_state WHERE plant = $1 AND endpoint = $2",
                plant,
                value.value,
            )
            return None if row is None else SyncState(*row)

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

        With `worker`, only while it holds the plant's lease (else `LeaseLostError`).
        """
        value = pages.timed(endpoint)
        tables = pages.page_rows(value, plant, records)

        async def job(conn: Conn) -> None:
            async with self._plant_write(conn, plant, worker, known=True):
                if records and value is Endpoint.INVERTER:  # a corrected period: all new rows
                    await conn.execute(
                        "DELETE FROM inverter WHERE plant = $1 AND unix_time = ANY($2)",
                        plant,
                        [r.unix_time for r in records],
                    )
                if records and self.one_statement_pages:
                    await self._page_in_one(conn, plant, value, records, tables, state, now)
                    await self._update_head(conn, plant, value, now)
                    return
                if records:
                    for table, rows in tables:
                        await upsert_rows(conn, table, rows)
                    times = [r.unix_time for r in records]
                    await self._update_holes(conn, plant, value, times, now)
                await conn.execute(
                    _UPSERT_STATE,
                    plant,
                    value.value,
                    state.latest,
                    state.interval,
                    state.next_poll,
                    state.failures,
                    None if state.last_error is None else clean_error(state.last_error),
                    state.last_error_at,
                    now,
                    state.since,
                )
                if records:
                    await self._update_head(conn, plant, value, now)

        await self._call(job)

    @staticmethod
    async def _page_in_one(  # noqa: PLR0917 - private, the page's parts
        conn: Conn,
        plant: str,
        endpoint: Endpoint,
        records: Sequence[MeterRecord] | Sequence[InverterRecord],
        tables: list[tuple[Table, list[Row]]],
        state: SyncState,
        now: float,
    ) -> None:
        """Write the page, its state and read around it in one statement; then the holes."""
        times = [r.unix_time for r in records]
        arrays = [
            column
            for table, rows in tables
            for column in unnest_arguments(_last_per_key(table, rows), len(table.columns))
        ]
        error = None if state.last_error is None else clean_error(state.last_error)
        found = await conn.fetch(
            _PAGE_SQL[endpoint],
            plant,
            endpoint.value,
            min(times),
            max(times),
            *(state.latest, state.interval, state.next_poll, state.failures),
            *(error, state.last_error_at, now, state.since),
            *arrays,
        )
        # The statement read the periods as they were before it: add the page's own.
        stored = {row[1]: row[3] for row in found if row[0] == 0}
        stored.update((r.unix_time, r.interval) for r in records)
        periods = sorted(stored.items())
        # A hole before the span's first period is the head's (`_update_head`'s).
        known = [
            hole
            for hole in (pages.hole(row[1:]) for row in found if row[0] == 1)
            if hole.start >= periods[0][0]
        ]
        holes = reconcile(find_gaps(periods), known, now)
        if holes != known:
            await _write_holes(conn, plant, endpoint, known, holes)

    @staticmethod
    async def _update_holes(
        conn: Conn,
        plant: str,
        endpoint: Endpoint,
        times: list[int],
        now: float,
    ) -> None:
        """Recompute the holes between the stored neighbours of the page's records."""
        table = TABLE_NAMES[pages.PERIOD_TABLES[endpoint]]
        # The page's periods and their stored neighbours, in one round trip.
        periods = await conn.fetch(
            f"SELECT unix_time, interval_s FROM {table} WHERE plant = $1 AND unix_time "  # noqa: S608
            f"BETWEEN (SELECT coalesce(max(unix_time), $2) FROM {table} "
            "WHERE plant = $1 AND unix_time < $2) "
            f"AND (SELECT coalesce(min(unix_time), $3) FROM {table} "
            "WHERE plant = $1 AND unix_time > $3) ORDER BY unix_time",
            plant,
            min(times),
            max(times),
        )
        lo, hi = periods[0][0], periods[-1][0]
        found = find_gaps((row[0], row[1]) for row in periods)
        known = [
            pages.hole(row)
            for row in await conn.fetch(
                f"SELECT {pages.HOLE_COLUMNS} FROM holes WHERE plant = $1 AND endpoint = $2 "  # noqa: S608
                "AND start_time < $3 AND end_time > $4 AND start_time >= $4",
                plant,
                endpoint.value,
                hi,
                lo,
            )
        ]
        holes = reconcile(found, known, now)
        if holes == known:
            return
        await _write_holes(conn, plant, endpoint, known, holes)

    @staticmethod
    async def _update_head(conn: Conn, plant: str, endpoint: Endpoint, now: float) -> None:
        """Recompute the hole between where the sync began and the first stored record.

        Run after the page and the state are written (the state holds `since`).
        """
        table = TABLE_NAMES[pages.PERIOD_TABLES[endpoint]]
        row = await conn.fetchrow(
            f"SELECT s.since, t.unix_time, t.interval_s FROM sync_state s, LATERAL "  # noqa: S608
            f"(SELECT unix_time, interval_s FROM {table} WHERE plant = s.plant "
            "ORDER BY unix_time LIMIT 1) t "
            "WHERE s.plant = $1 AND s.endpoint = $2 AND s.since IS NOT NULL",
            plant,
            endpoint.value,
        )
        if row is None:
            return
        since, first, interval = row
        gap = head_gap(since, first, interval)
        known = [
            pages.hole(hole)
            for hole in await conn.fetch(
                f"SELECT {pages.HOLE_COLUMNS} FROM holes WHERE plant = $1 AND endpoint = $2 "  # noqa: S608
                "AND start_time < $3",
                plant,
                endpoint.value,
                first,
            )
        ]
        holes = reconcile([] if gap is None else [gap], known, now)
        if holes != known:
            await _write_holes(conn, plant, endpoint, known, holes)

    # -- reading back ---------------------------------------------------------------------
    async def read_rows(
        self,
        table: Table,
        *,
        plants: Sequence[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        batch: int = pages.READ_BATCH,
    ) -> AsyncIterator[list[Row]]:
        """Yield `table`'s rows (a `lacecal_async.tables` table) in batches, ordered by key.

        As `SQLiteStore.read_rows`: plant, then time (then inverter); ``start`` comes back
        at the plant's offset, so rows equal those `Table.rows` made.
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

            async def job(conn: Conn, where: str = where, params: list[Any] = params) -> list[Row]:
                return await _select(conn, table, where, params, batch)

            rows = await self._call(job)
            if not rows:
                return
            yield rows
            if len(rows) < batch:
                return
            after = pages.key(table, rows[-1])

    async def read_records(
        self,
        endpoint: Endpoint,
        *,
        plants: Sequence[str] | None = None,
        start: int | None = None,
        end: int | None = None,
        batch: int = pages.READ_BATCH,
    ) -> AsyncIterator[tuple[str, list[MeterRecord] | list[InverterRecord]]]:
        """Yield ``(plant, records)`` batches of a timed endpoint, ordered by plant and time.

        As `SQLiteStore.read_records`: the records committed, at most `batch` periods of one
        plant in a batch.
        """
        value = pages.timed(endpoint)
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        if value is Endpoint.METER:
            async for rows in self.read_rows(
                METER, plants=plants, start=start, end=end, batch=batch
            ):
                for plant, runs in pages.by_plant(rows):
                    yield plant, [meter_record(row) for row in runs]
            return
        rows_filter = _Filter(plants, start, end)
        after: tuple[str, Row] | None = None
        while True:
            where, params = rows_filter.where(after)

            async def job(
                conn: Conn, where: str = where, params: list[Any] = params
            ) -> list[tuple[str, list[InverterRecord]]]:
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    periods = await _select(conn, PERIODS, where, params, batch)
                    if not periods:
                        return []
                    first, last = pages.key(PERIODS, periods[0]), pages.key(PERIODS, periods[-1])
                    span, span_params = rows_filter.where()
                    n = len(span_params)
                    span += " AND " if span else " WHERE "
                    span += f"({first[0]}) BETWEEN (${n + 1}, ${n + 2}) AND (${n + 3}, ${n + 4})"
                    inverters = await _select(
                        conn, INVERTERS, span, [*span_params, *first[1], *last[1]]
                    )
                by_period: dict[tuple[Any, Any], list[Row]] = {}
                for row in inverters:
                    by_period.setdefault((row[0], row[1]), []).append(row)
                return [
                    (plant, [inverter_record(p, by_period.get((p[0], p[1]), [])) for p in runs])
                    for plant, runs in pages.by_plant(periods)
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

        async def job(conn: Conn) -> None:
            async with self._plant_write(conn, plant, worker, known=True):
                await conn.execute(_INVENTORY_DONE, plant, next_poll, now)
                await conn.execute(
                    "DELETE FROM inverters WHERE plant = $1 AND NOT inverter_id = ANY($2)",
                    plant,
                    [i.id for i in inverters],
                )
                await conn.executemany(
                    "INSERT INTO inverters (plant, inverter_id, name, manufacturer, model, "
                    "serial_number, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                    "ON CONFLICT (plant, inverter_id) DO UPDATE SET name = excluded.name, "
                    "manufacturer = excluded.manufacturer, model = excluded.model, "
                    "serial_number = excluded.serial_number, updated_at = excluded.updated_at",
                    [
                        (plant, i.id, i.name, i.manufacturer, i.model, i.serial_number, now)
                        for i in inverters
                    ],
                )

        await self._call(job)

    async def inventory(self, plant: str) -> list[Inverter]:
        """Return the plant's inverters, by id."""

        async def job(conn: Conn) -> list[Inverter]:
            rows = await conn.fetch(
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
        value = pages.timed(endpoint)

        async def job(conn: Conn) -> list[Hole]:
            rows = await conn.fetch(
                f"SELECT {pages.HOLE_COLUMNS} FROM holes WHERE plant = $1 AND endpoint = $2 "  # noqa: S608
                "AND ($3::double precision IS NULL OR next_attempt <= $3) ORDER BY start_time",
                plant,
                value.value,
                due_by,
            )
            return [pages.hole(row) for row in rows]

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
        value = pages.timed(endpoint)

        async def job(conn: Conn) -> None:
            async with self._plant_write(conn, plant, worker, known=False):
                holes = [
                    pages.hole(row)
                    for row in await conn.fetch(
                        f"SELECT {pages.HOLE_COLUMNS} FROM holes WHERE plant = $1 "  # noqa: S608
                        "AND endpoint = $2 AND start_time < $3 AND end_time > $4",
                        plant,
                        value.value,
                        end,
                        start,
                    )
                ]
                await conn.executemany(
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
            pages.timed(value)

        async def job(conn: Conn) -> None:
            async with self._plant_write(conn, plant, worker, known=True):
                if value is Endpoint.INVERTER_LIST:
                    await conn.execute(
                        _RECORD_INVENTORY_ERROR, plant, clean_error(message), now, next_attempt
                    )
                    return
                await conn.execute(
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

        As `SQLiteStore.drop_future`. With `worker`, only while it holds the plant's lease
        (else `LeaseLostError`).
        """
        value = pages.timed(endpoint)
        table = TABLE_NAMES[pages.PERIOD_TABLES[value]]

        async def job(conn: Conn) -> int:
            async with self._plant_write(conn, plant, worker, known=True):
                (counted,) = await conn.fetch(
                    f"SELECT count(*), max(unix_time) FROM {table} "  # noqa: S608
                    "WHERE plant = $1 AND unix_time > $2",
                    plant,
                    after,
                )
                removed, newest = counted
                if value is Endpoint.INVERTER:  # its rows refer to the periods
                    await conn.execute(
                        "DELETE FROM inverter WHERE plant = $1 AND unix_time > $2", plant, after
                    )
                await conn.execute(
                    f"DELETE FROM {table} WHERE plant = $1 AND unix_time > $2",  # noqa: S608
                    plant,
                    after,
                )
                await conn.execute(
                    "DELETE FROM holes WHERE plant = $1 AND endpoint = $2 AND end_time > $3",
                    plant,
                    value.value,
                    after,
                )
                kept = await conn.fetchrow(
                    f"SELECT unix_time, interval_s FROM {table} WHERE plant = $1 "  # noqa: S608
                    "ORDER BY unix_time DESC LIMIT 1",
                    plant,
                )
                ignored = max((t for t in (newest, seen) if t is not None), default=None)
                await conn.execute(
                    _NOTE_FUTURE,
                    plant,
                    value.value,
                    *(kept or (None, None)),
                    now,
                    ignored,
                    removed,
                    after,
                )
            return int(removed)

        return await self._call(job)

    async def status(self) -> list[StatusRow]:
        """Return a row per plant and synced endpoint (one row for a plant never synced).

        Each row also says who holds the plant's lease, which live workers refused it (no
        identifier), and whether every live worker did (`StatusRow.orphaned`).
        """

        async def job(conn: Conn) -> list[StatusRow]:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                rows = await conn.fetch(_STATUS)
                fleet = {row[0]: row[1:] for row in await conn.fetch(_FLEET_STATUS)}
            out = []
            for row in rows:
                holder, refused_by, live = fleet.get(row[0], (None, [], 0))
                base = pages.status_row(row)
                out.append(
                    attrs.evolve(
                        base,
                        holder=holder,
                        refused_by=tuple(refused_by),
                        orphaned=holder is None and 0 < live == len(refused_by),
                    )
                )
            return out

        return await self._call(job)

    # -- leases (`lacecal_async.sync.leases`) ---------------------------------------------------
    async def lease_plants(
        self, worker: str, *, want: int, ttl: float, among: Sequence[str] | None = None
    ) -> list[str]:
        """Take up to `want` free or expired leases (of `among` only, if given); return them.

        Rows another worker is taking are skipped, not waited for; the worker's own expired
        leases come first. The worker's heartbeat is renewed too.
        """
        _check_lease_args(worker, ttl)

        async def job(conn: Conn) -> list[str]:
            async with conn.transaction():
                return await self._take(conn, worker, want, ttl, among)

        return await self._call(job)

    @staticmethod
    async def _take(
        conn: Conn,
        worker: str,
        want: int,
        ttl: float,
        among: Sequence[str] | None,
    ) -> list[str]:
        await conn.execute(_HEARTBEAT, worker, ttl)
        if want <= 0:
            return []
        wanted = None if among is None else list(among)
        rows = await conn.fetch(_TAKE, worker, ttl, want, wanted)
        return sorted(row[0] for row in rows)

    async def renew_leases(self, worker: str, *, ttl: float) -> list[str]:
        """Extend the worker's unexpired leases and heartbeat; return the plants still held."""
        _check_lease_args(worker, ttl)

        async def job(conn: Conn) -> list[str]:
            async with conn.transaction():
                return sorted(await self._renew(conn, worker, ttl))

        return await self._call(job)

    @staticmethod
    async def _renew(conn: Conn, worker: str, ttl: float) -> dict[str, bool]:
        """Renew; return the plants still held, each with whether it was adopted."""
        await conn.execute(_HEARTBEAT, worker, ttl)
        await conn.execute(_FORGET_WORKERS)
        return {row[0]: row[1] for row in await conn.fetch(_RENEW, worker, ttl)}

    async def release_leases(
        self, worker: str, plants: Sequence[str] | None = None, *, refused: bool = False
    ) -> list[str]:
        """Free the worker's leases (`plants` only, if given); return those freed.

        Without `plants` the worker is leaving: its heartbeat goes too, and its refusals.
        `refused`: the worker lacks their identifiers. Its refusal of each is recorded (even
        of one whose lease it no longer held) and lasts while its heartbeat does: it is never
        given them again, and another worker takes them even beyond its fair share.
        """

        async def job(conn: Conn) -> list[str]:
            async with conn.transaction():
                # The worker's row first, as its rounds lock it (heartbeat) before its leases:
                # a round of its own still in flight commits first (no deadlock), and the
                # leases it took are released too.
                await conn.execute("SELECT 1 FROM workers WHERE worker = $1 FOR UPDATE", worker)
                if refused and plants is not None:
                    await conn.execute(_REFUSE, worker, list(plants))
                rows = await conn.fetch(
                    "UPDATE leases SET worker = NULL, acquired_at = NULL, expires_at = NULL, "
                    "adopted = false, refused_by = CASE WHEN $3 THEN worker END "
                    "WHERE worker = $1 AND ($2::text[] IS NULL OR plant = ANY($2::text[])) "
                    "RETURNING plant",
                    worker,
                    None if plants is None else list(plants),
                    refused,
                )
                if plants is None:
                    await conn.execute("DELETE FROM workers WHERE worker = $1", worker)
                return sorted(row[0] for row in rows)

        return await self._call(job)

    async def live_workers(self) -> list[str]:
        """Return the workers whose heartbeat has not expired, sorted."""

        async def job(conn: Conn) -> list[str]:
            return [row[0] for row in await conn.fetch(_LIVE)]

        return await self._call(job)

    async def leases(self) -> dict[str, str]:
        """Return the unexpired leases: plant -> worker (for status pages and tests)."""

        async def job(conn: Conn) -> dict[str, str]:
            rows = await conn.fetch(
                "SELECT plant, worker FROM leases WHERE expires_at > clock_timestamp() "
                "ORDER BY plant"
            )
            return {row[0]: row[1] for row in rows}

        return await self._call(job)

    async def balance_leases(
        self,
        worker: str,
        *,
        ttl: float,
        slack: float = DEFAULT_SLACK,
        among: Sequence[str] | None = None,
    ) -> LeaseBalance:
        """Renew, then take leases up to the fair share; say how many to give back.

        The share is the plants divided by the live workers (this one included), rounded
        up; `surplus` is how many to stop and release once held exceeds it by `slack`.
        Plants another worker released as `refused` are taken too, beyond the share (and not
        counted in it, nor given back to balance): a worker that lacks some identifiers does
        not starve them while the others hold their share.
        """
        _check_lease_args(worker, ttl)
        surplus(0, 0, slack)  # checks slack before anything is written

        async def job(conn: Conn) -> LeaseBalance:
            async with conn.transaction():
                renewed = await self._renew(conn, worker, ttl)
                plants = await conn.fetchval("SELECT count(*) FROM plants")
                workers = len(await conn.fetch(_LIVE))
                share = fair_share(plants, workers)
                own = [plant for plant, adopted in renewed.items() if not adopted]
                taken = await self._take(conn, worker, share - len(own), ttl, among)
                wanted = None if among is None else list(among)
                adopted = [row[0] for row in await conn.fetch(_ADOPT, worker, ttl, wanted)]
            kept = sorted(plant for plant, was in renewed.items() if was)
            return LeaseBalance(
                tuple(sorted([*renewed, *taken, *adopted])),
                tuple(sorted([*taken, *adopted])),
                share,
                workers,
                surplus(len(own) + len(taken), share, slack),
                tuple(sorted([*kept, *adopted])),
            )

        return await self._call(job)


def _check_lease_args(worker: str, ttl: float) -> None:
    if not isinstance(worker, str) or not worker:
        raise ValueError("a worker id is a non-empty str")
    if not ttl > 0:
        raise ValueError(f"a lease lasts a positive number of seconds, not {ttl}")
