"""`PostgresStore`: the store of a fleet, one PostgreSQL database that many workers share.

Same tables, statements and guarantees as `SQLiteStore`: both run the store core
(`lacecal_async.sync.core`), this one on asyncpg. Here live what PostgreSQL does its own
way: the pool, the schema's versions, a page written in one statement
(`lacecal_async.sync.postgres_page`), and the leases by which workers split the plants
(`lacecal_async.sync.leases`), which fence every write. asyncpg is imported when a store
opens, so a plain install of the library does without it.

Calls run on a small connection pool, each in a task of its own that the store awaits
shielded: a write, once called, completes even if its caller is cancelled, and `close`
waits for it. Writes that read before they write (holes, error counts) first lock the
plant's row (``FOR NO KEY UPDATE``, which foreign keys' checks do not wait on), so two
connections committing pages of one plant take turns instead of losing an update.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, TypeAlias, TypeVar

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import table_rows
from lacecal_async.sync.core import (
    STATUS,
    Driver,
    Job,
    PageWrite,
    StoreCore,
    check_version,
    retrieve,
)
from lacecal_async.sync.dialect import POSTGRES, Dialect
from lacecal_async.sync.leases import (
    DEFAULT_SLACK,
    LeaseBalance,
    LeaseLostError,
    fair_share,
    surplus,
)
from lacecal_async.sync.postgres_faults import store_error, transient
from lacecal_async.sync.postgres_page import (
    last_per_key,
    page_arguments,
    page_statement,
    unnest_arguments,
    upsert_unnest,
)
from lacecal_async.sync.schema import POSTGRES_MIGRATIONS, TABLE_NAMES
from lacecal_async.sync.store import (
    SchemaVersionError,
    StatusRow,
    StoreError,
    StoreInUseError,
    StoreUnavailableError,
)
from lacecal_async.tables import INVERTERS, METER, PERIODS, Row, Table

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    #: A connection, or one lent by a pool.
    Conn: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]

__all__ = ["PostgresStore", "dsn_shown"]

T = TypeVar("T")
_EMPTY = "no lacecal store in this database"
#: Advisory lock keys (the first is this library's, the second the purpose).
_LOCK_SPACE = 0x1ACECA1
_LOCK_MIGRATE = 1
_LOCK_PLANTS = 2
#: The follow lock's key, before the store's schema (`PostgresStore.following`).
_FOLLOW_LOCK = "lacecal_async follow: "

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
# A plant the worker refused (no identifier) is never leased to it while it lives. Each
# lease taken comes with the seconds since its previous holder let go of it (its lease
# expired, or it released it; NULL for a plant no worker held), by the database's clock:
# that holder's requests were all sent before then (`lacecal_async.sync.lease_gate`).
_TAKE = """
WITH free AS (
    SELECT plant, CASE WHEN worker IS NULL THEN released_at ELSE expires_at END AS let_go
    FROM leases
    WHERE (worker IS NULL OR expires_at <= clock_timestamp())
        AND ($4::text[] IS NULL OR plant = ANY($4::text[]))
        AND NOT EXISTS (SELECT 1 FROM lease_refusals r
            WHERE r.plant = leases.plant AND r.worker = $1)
    ORDER BY worker IS DISTINCT FROM $1, plant
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE leases l SET worker = $1, acquired_at = clock_timestamp(),
    expires_at = clock_timestamp() + make_interval(secs => $2), adopted = false
FROM free WHERE l.plant = free.plant
RETURNING l.plant, extract(epoch FROM clock_timestamp() - free.let_go)::float8
"""
# Free plants a live worker refused (no identifier) and this one did not: taken beyond the
# share, since the workers that refused them cannot sync them (with `_TAKE`'s seconds).
_ADOPT = """
WITH free AS (
    SELECT plant, CASE WHEN worker IS NULL THEN released_at ELSE expires_at END AS let_go
    FROM leases
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
    expires_at = clock_timestamp() + make_interval(secs => $2), adopted = true
FROM free WHERE l.plant = free.plant
RETURNING l.plant, extract(epoch FROM clock_timestamp() - free.let_go)::float8
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


# The SQL expression (its `{}` a text of milliseconds, 5 s at least: a busy machine's pause
# between two statements is no stall; below 2**31) bounding how long this transaction may
# stay idle (its process stopped, say): then the server ends its session, so the locks it
# holds (lease rows, which other workers skip) cannot keep plants from the fleet for ever.
_IDLE_AT_MOST = "set_config('idle_in_transaction_session_timeout', {}, true)"
_IDLE_FLOOR_MS = 5000
#: The bound of a transaction holding a lock every worker's start waits for.
_IDLE_AT_START = _IDLE_AT_MOST.format("'30000'")
# The plant's row locked, then the worker's lease checked and key-share locked, the
# transaction's idle time bounded by what is left of the lease (`_IDLE_AT_MOST`).
_LOCK_FENCED = (
    "SELECT (SELECT 1 FROM plants WHERE plant = $1 FOR NO KEY UPDATE), (SELECT "  # noqa: S608 - constants
    + _IDLE_AT_MOST.format(
        "least(greatest(ceil(1000 * extract(epoch FROM expires_at - clock_timestamp())), $3), "
        "2147483647)::bigint::text"
    )
    + " FROM leases WHERE plant = $1 AND worker = $2 "
    "AND expires_at > clock_timestamp() FOR KEY SHARE)"
)
#: Per endpoint: the one statement writing a page (its tables in `table_rows.page_rows`' order).
_PAGE_SQL = {
    endpoint: page_statement(
        [table for table, _ in table_rows.page_rows(endpoint, "", [])],
        table_rows.PERIOD_TABLES[endpoint],
    )
    for endpoint in (Endpoint.METER, Endpoint.INVERTER)
}


class _Driver:
    """The core's `Driver` on an asyncpg connection: its calls, awaited."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.execute = conn.execute
        self.executemany = conn.executemany
        self.fetch = conn.fetch
        self.fetchrow = conn.fetchrow
        self.fetchval = conn.fetchval

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Run the block in one transaction."""
        block: contextlib.AbstractAsyncContextManager[Any] = self.conn.transaction()
        return block

    def snapshot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """Run the block's reads in one read-only transaction, one snapshot."""
        block: contextlib.AbstractAsyncContextManager[Any] = self.conn.transaction(
            isolation="repeatable_read", readonly=True
        )
        return block


#: The data tables whose pages go as an array of their row type (`postgres_page`).
_ROW_TYPED = (METER, PERIODS, INVERTERS)


async def _check_rows(conn: Conn, where: str) -> None:
    """`StoreError` unless each row-typed table's columns are its `Table`'s, in its order.

    A page's rows are sent as the table's row type, which is its whole row: a column
    added by hand (or moved by dropping and adding it) would make every page fail, or go
    into the wrong columns. Refused at open, with the columns named, instead.
    """
    for table in _ROW_TYPED:
        name = TABLE_NAMES[table]
        found = await conn.fetchval(
            "SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute "
            "WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
            name,
        )
        if list(found or ()) != list(table.names):
            raise StoreError(
                f"{where}: the table {name} has the columns ({', '.join(found or ())}), "
                f"not the store's ({', '.join(table.names)}): pages are written as its "
                "whole row, so columns added or reordered by hand are refused"
            )


async def _keep_session(conn: Conn) -> None:
    """Return a connection to the pool as it is: no reset query, a round trip saved per call.

    asyncpg's default resets the session (advisory locks, cursors, LISTEN, settings), none
    of which a store's job leaves behind: its locks are the transaction's. An open
    transaction is still rolled back, by asyncpg itself, before this is called.
    """


def _raise_as_store_error(exc: Exception, dsn: str) -> NoReturn:
    """Raise what a store raises for `exc`: a `StoreError` for asyncpg's, else `exc` itself."""
    converted = store_error(exc, dsn_shown(dsn))
    if converted is None:
        raise exc
    raise converted from None


def _refusal(where: str, *, fleet: bool, shared: bool) -> str:
    """Return why a follow of the store at `where` is refused (`PostgresStore.following`)."""
    if fleet:
        return (
            f"{where}: a plain follow runs on this database (follow, not follow_fleet): stop "
            "it first, then start the fleet workers (one follower or a fleet, never both)"
        )
    if shared:
        return (
            f"{where}: fleet workers follow this database: join them with follow_fleet "
            "(lacecal sync DSN --follow) instead of a second follower"
        )
    return (
        f"{where}: another follow runs on this database: one follower at a time "
        "(or a fleet of them: follow_fleet)"
    )


def dsn_shown(dsn: str) -> str:
    """Return the DSN fit for messages and reprs: host, port, database; never a password."""
    try:
        parts = urllib.parse.urlsplit(dsn)
        host = parts.hostname or "localhost"
        where = f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "postgresql://?"
    return f"postgresql://{where}{parts.path}"


@attrs.define
class PostgresStore(StoreCore):
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
    migrations: ClassVar[tuple[tuple[str, ...], ...]] = POSTGRES_MIGRATIONS
    dialect: ClassVar[Dialect] = POSTGRES
    #: Plants are added rarely: one at a time keeps `add_plant`'s checks exact. The lock is
    #: waited for, so its transaction may stay idle 30 s at most (`_IDLE_AT_START`): a worker
    #: stopped while adding plants does not hold every other worker's start for ever.
    _ADD_PLANT_LOCK: ClassVar[str | None] = (
        f"SELECT pg_advisory_xact_lock({_LOCK_SPACE}, {_LOCK_PLANTS}), {_IDLE_AT_START}"
    )
    _PLANT_ADDED: ClassVar[tuple[str, ...]] = ("INSERT INTO leases (plant) VALUES ($1)",)
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
                reset=_keep_session,
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

    @contextlib.asynccontextmanager
    async def following(self, *, fleet: bool = False) -> AsyncIterator[None]:
        """Hold the database's one plain `follow` for the block; `StoreInUseError` if taken.

        A second `follow`, or one beside a live fleet worker (`follow_fleet`), would poll the
        same plants again, past the API's limit per ITR, and write unfenced. The hold is a
        session advisory lock, keyed by the store's schema, on a connection of its own (gone
        with the connection, so with a killed process); a fleet worker is seen by its live
        heartbeat, and holds the same lock shared (`fleet`): fleet workers run beside each
        other, never beside a plain follow, whichever started first.
        """
        where = dsn_shown(self.dsn)
        live = [] if fleet else await self.live_workers()
        if live:
            raise StoreInUseError(
                f"{where}: {len(live)} fleet worker{'s' if len(live) > 1 else ''} follow this "
                "database: join them with follow_fleet (lacecal sync DSN --follow) instead of "
                "a second follower"
            )
        import asyncpg  # noqa: PLC0415 - optional: the store is open, so it is installed

        conn: asyncpg.Connection[Any] | None = None
        key = "hashtextextended($1 || current_schema(), 0)"
        try:
            conn = await asyncpg.connect(self.dsn, timeout=self.timeout)
            # Keyed by the store's schema: stores in other schemas of the database are others.
            take = "pg_try_advisory_lock_shared" if fleet else "pg_try_advisory_lock"
            held = await conn.fetchval(f"SELECT {take}({key})", _FOLLOW_LOCK, timeout=self.timeout)
            # Refused a plain hold: fleet workers hold it if it can be shared (let go at once).
            shared = (
                not fleet
                and not held
                and await conn.fetchval(
                    f"SELECT CASE WHEN pg_try_advisory_lock_shared({key}) "
                    f"THEN pg_advisory_unlock_shared({key}) ELSE false END",
                    _FOLLOW_LOCK,
                    timeout=self.timeout,
                )
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if conn is not None:
                conn.terminate()
            error = StoreUnavailableError if transient(exc) else StoreError
            raise error(
                f"{where}: cannot take the follow lock: {type(exc).__name__}: {exc}"
            ) from None
        try:
            if not held:
                raise StoreInUseError(_refusal(where, fleet=fleet, shared=bool(shared)))
            yield
        finally:
            with contextlib.suppress(Exception):  # a dead connection has let the lock go
                await conn.close(timeout=self.timeout)

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

    async def _call(self, job: Job[T]) -> T:
        pool = self._pool
        if pool is None:
            raise StoreError(f"the store {dsn_shown(self.dsn)} is not open")

        async def attempt() -> T:
            async with pool.acquire() as conn:
                return await job(_Driver(conn))

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
        task.add_done_callback(retrieve)
        return await asyncio.shield(task)

    async def _migrate(self, conn: Conn) -> None:
        target, where = len(self.migrations), dsn_shown(self.dsn)
        # Read-only without `create`: PostgreSQL itself refuses any write by mistake. The
        # lock is taken either way, so a reader waits for a migration under way; and every
        # open waits for it, so its transaction may stay idle 30 s at most (`_IDLE_AT_START`).
        async with conn.transaction(readonly=not self.create):
            await conn.execute(
                f"SELECT pg_advisory_xact_lock($1, $2), {_IDLE_AT_START}",
                _LOCK_SPACE,
                _LOCK_MIGRATE,
            )
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
            check_version(where, version, target, create=self.create, empty=_EMPTY)
            for number, statements in enumerate(self.migrations[version:], version + 1):
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", number)
            await _check_rows(conn, where)

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

    async def _lock_plant(self, db: Driver, plant: str, worker: str | None) -> bool:
        """Lock the plant's row, then check `worker`'s lease, in one round trip (`_LOCK_FENCED`).

        The lease row stays key-share locked until the transaction ends: a worker taking it
        (``FOR UPDATE SKIP LOCKED``) skips it meanwhile, while renewing and releasing (which
        change no key) do not wait. The plant's row is locked first (the subqueries run in
        order), so locks come in one order. The transaction may then stay idle no longer
        than what is left of the lease (5 s at least): a stopped process cannot keep the
        plant from the fleet.
        """
        if worker is None:
            return await super()._lock_plant(db, plant, worker)
        row = await db.fetchrow(_LOCK_FENCED, plant, worker, _IDLE_FLOOR_MS)
        found, held = row or (None, None)
        if held is None:
            _lost(plant, worker)
        return found is not None

    async def _upsert(self, db: Driver, table: Table, rows: Sequence[Row]) -> None:
        """Insert or replace `rows` of a data table in one statement, a column array each."""
        rows = last_per_key(table, rows)
        if rows:
            await db.execute(upsert_unnest(table), *unnest_arguments(rows, len(table.columns)))

    async def _write_page(self, db: Driver, page: PageWrite) -> Sequence[Sequence[Any]]:
        """Write the page and its state and read around it in one statement (one round trip).

        The read sees the tables as they were before the statement (`postgres_page`).
        """
        rows = page_arguments(page.endpoint, page.plant, page.records)
        return await db.fetch(
            _PAGE_SQL[page.endpoint],
            *(page.plant, page.endpoint.value, *page.span, *page.state, *rows),
        )

    async def status(self) -> list[StatusRow]:
        """Return a row per plant and synced endpoint (one row for a plant never synced).

        Each row also says who holds the plant's lease, which live workers refused it (no
        identifier), and whether every live worker did (`StatusRow.orphaned`).
        """

        async def job(db: Driver) -> list[StatusRow]:
            async with db.snapshot():
                rows = await db.fetch(STATUS)
                fleet = {row[0]: row[1:] for row in await db.fetch(_FLEET_STATUS)}
            out = []
            for row in rows:
                holder, refused_by, live = fleet.get(row[0], (None, [], 0))
                base = table_rows.status_row(row)
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

        async def job(conn: Driver) -> list[str]:
            async with _idle_at_most(conn, ttl):
                return sorted(await self._take(conn, worker, want, ttl, among))

        return await self._call(job)

    @staticmethod
    async def _take(
        conn: Driver,
        worker: str,
        want: int,
        ttl: float,
        among: Sequence[str] | None,
    ) -> dict[str, float | None]:
        """Take the leases; return each with the seconds since its last holder let go."""
        await conn.execute(_HEARTBEAT, worker, ttl)
        if want <= 0:
            return {}
        wanted = None if among is None else list(among)
        return {row[0]: row[1] for row in await conn.fetch(_TAKE, worker, ttl, want, wanted)}

    async def renew_leases(self, worker: str, *, ttl: float) -> list[str]:
        """Extend the worker's unexpired leases and heartbeat; return the plants still held."""
        _check_lease_args(worker, ttl)

        async def job(conn: Driver) -> list[str]:
            async with _idle_at_most(conn, ttl):
                return sorted(await self._renew(conn, worker, ttl))

        return await self._call(job)

    @staticmethod
    async def _renew(conn: Driver, worker: str, ttl: float) -> dict[str, bool]:
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

        async def job(conn: Driver) -> list[str]:
            async with _idle_at_most(conn, self.timeout):
                # The worker's row first, as its rounds lock it (heartbeat) before its leases:
                # a round of its own still in flight commits first (no deadlock), and the
                # leases it took are released too.
                await conn.execute("SELECT 1 FROM workers WHERE worker = $1 FOR UPDATE", worker)
                if refused and plants is not None:
                    await conn.execute(_REFUSE, worker, list(plants))
                rows = await conn.fetch(
                    "UPDATE leases SET worker = NULL, acquired_at = NULL, expires_at = NULL, "
                    "adopted = false, released_at = clock_timestamp() WHERE worker = $1 "
                    "AND ($2::text[] IS NULL OR plant = ANY($2::text[])) RETURNING plant",
                    worker,
                    None if plants is None else list(plants),
                )
                if plants is None:
                    await conn.execute("DELETE FROM workers WHERE worker = $1", worker)
                return sorted(row[0] for row in rows)

        return await self._call(job)

    async def live_workers(self) -> list[str]:
        """Return the workers whose heartbeat has not expired, sorted."""

        async def job(conn: Driver) -> list[str]:
            return [row[0] for row in await conn.fetch(_LIVE)]

        return await self._call(job)

    async def leases(self) -> dict[str, str]:
        """Return the unexpired leases: plant -> worker (for status pages and tests)."""

        async def job(conn: Driver) -> dict[str, str]:
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

        async def job(conn: Driver) -> LeaseBalance:
            async with _idle_at_most(conn, ttl):
                renewed = await self._renew(conn, worker, ttl)
                plants = await conn.fetchval("SELECT count(*) FROM plants")
                workers = len(await conn.fetch(_LIVE))
                share = fair_share(plants, workers)
                own = [plant for plant, adopted in renewed.items() if not adopted]
                taken = await self._take(conn, worker, share - len(own), ttl, among)
                wanted = None if among is None else list(among)
                rows = await conn.fetch(_ADOPT, worker, ttl, wanted)
                adopted = {row[0]: row[1] for row in rows}
            kept = sorted(plant for plant, was in renewed.items() if was)
            let_go = {**taken, **adopted}
            return LeaseBalance(
                tuple(sorted([*renewed, *let_go])),
                tuple(sorted(let_go)),
                share,
                workers,
                surplus(len(own) + len(taken), share, slack),
                tuple(sorted([*kept, *adopted])),
                {plant: idle for plant, idle in let_go.items() if idle is not None},
            )

        return await self._call(job)


@contextlib.asynccontextmanager
async def _idle_at_most(conn: Driver, seconds: float) -> AsyncIterator[None]:
    """Open a transaction that locks lease rows, to be idle `seconds` at most."""
    async with conn.transaction():
        limit = 2**31 - 1  # PostgreSQL's largest (in ms)
        ms = max(math.ceil(seconds * 1000), _IDLE_FLOOR_MS) if seconds < limit / 1000 else limit
        await conn.execute(f"SELECT {_IDLE_AT_MOST.format('$1')}", str(ms))
        yield


def _lost(plant: str, worker: str) -> NoReturn:
    raise LeaseLostError(
        f"worker {worker!r} no longer holds the lease on plant {plant!r}: not written"
    )


def _check_lease_args(worker: str, ttl: float) -> None:
    if not isinstance(worker, str) or not worker:
        raise ValueError("a worker id is a non-empty str")
    if not 0 < ttl < math.inf:
        raise ValueError(f"a lease lasts a positive number of seconds, not {ttl}")
