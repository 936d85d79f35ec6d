"""`SQLiteStore`: the default store, one SQLite file, no server.

sqlite3 blocks, so every call runs on one worker thread per store (a single-thread
executor), which also creates and owns the connection: the event loop never waits on the
disk, and calls on one store run in the order they were made.

The journal is WAL (readers, such as ``lacecal status``, never block the writer) with
``synchronous=NORMAL``: a commit survives the process being killed at any instant, and a
power loss can lose only the last few commits, never corrupt the file. Since each page's
rows and its sync state commit together, a lost commit takes both, and the next run fetches
that page again (FULL would fsync every page for a guarantee the API already gives us).
Foreign keys are on: no row names a plant that `add_plant` did not register.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.private_file import create_private_file
from lacecal_async.records import Inverter, InverterRecord, MeterRecord
from lacecal_async.sync import pages
from lacecal_async.sync.follow_lock import follow_lock
from lacecal_async.sync.holes import Hole, attempted, find_gaps, head_gap, reconcile
from lacecal_async.sync.sqlite_faults import store_error
from lacecal_async.sync.sqlite_schema import MIGRATIONS, TABLE_NAMES
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

__all__ = ["SQLiteStore"]

T = TypeVar("T")


def _upsert(table: Table) -> str:
    names = table.names
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in table.key)
    return (
        f"INSERT INTO {TABLE_NAMES[table]} ({', '.join(names)}) "  # noqa: S608 - constants
        f"VALUES ({', '.join('?' * len(names))}) "
        f"ON CONFLICT ({', '.join(table.key)}) DO UPDATE SET {updates}"
    )


_UPSERT = {table: _upsert(table) for table in (METER, PERIODS, INVERTERS)}
_UPSERT_STATE = (
    "INSERT INTO sync_state (plant, endpoint, latest, interval_s, next_poll, failures, "
    "last_error, last_error_at, updated_at, since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (plant, endpoint) DO UPDATE SET latest = excluded.latest, "
    "since = coalesce(sync_state.since, excluded.since), "
    "interval_s = excluded.interval_s, next_poll = excluded.next_poll, "
    "failures = excluded.failures, last_error = excluded.last_error, "
    "last_error_at = excluded.last_error_at, updated_at = excluded.updated_at"
)
_RECORD_ERROR = (
    "INSERT INTO sync_state (plant, endpoint, next_poll, failures, last_error, last_error_at, "
    "updated_at) VALUES (?, ?, ?, 1, ?, ?, ?) "
    "ON CONFLICT (plant, endpoint) DO UPDATE SET failures = failures + 1, "
    "next_poll = excluded.next_poll, last_error = excluded.last_error, "
    "last_error_at = excluded.last_error_at, updated_at = excluded.updated_at"
)
_RECORD_INVENTORY_ERROR = (
    "INSERT INTO inventory_state (plant, failures, last_error, last_error_at, next_poll, "
    "updated_at) VALUES (?, 1, ?, ?, ?, ?) "
    "ON CONFLICT (plant) DO UPDATE SET failures = failures + 1, "
    "last_error = excluded.last_error, last_error_at = excluded.last_error_at, "
    "next_poll = excluded.next_poll, updated_at = excluded.updated_at"
)
_INVENTORY_DONE = (
    "INSERT INTO inventory_state (plant, failures, next_poll, updated_at) VALUES (?, 0, ?, ?) "
    "ON CONFLICT (plant) DO UPDATE SET failures = 0, next_poll = excluded.next_poll, "
    "updated_at = excluded.updated_at"
)
# Parameters: plant, endpoint, the newest period kept (start, interval), now, the latest
# ignored start, periods removed, `after`. The latest moves back only if it was after it.
_NOTE_FUTURE = """
INSERT INTO sync_state (plant, endpoint, latest, interval_s, failures, updated_at,
    future_record, future_seen_at, future_removed)
VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, CASE WHEN ?6 IS NULL THEN NULL ELSE ?5 END, ?7)
ON CONFLICT (plant, endpoint) DO UPDATE SET
    latest = CASE WHEN sync_state.latest > ?8 THEN excluded.latest ELSE sync_state.latest END,
    interval_s = CASE WHEN sync_state.latest > ?8
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
    (SELECT coalesce(sum((end_time - start_time + interval_s - 1) / interval_s), 0)
        FROM holes h WHERE h.plant = s.plant AND h.endpoint = s.endpoint),
    s.failures, s.last_error, s.last_error_at, s.next_poll,
    s.future_record, s.future_seen_at, s.future_removed
FROM sync_state s
UNION ALL
SELECT i.plant, 'inverter_list', NULL, NULL, 0, 0, i.failures, i.last_error, i.last_error_at,
    i.next_poll, NULL, NULL, 0
FROM inventory_state i WHERE i.last_error IS NOT NULL
UNION ALL
SELECT p.plant, NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, 0
FROM plants p WHERE NOT EXISTS (SELECT 1 FROM sync_state s WHERE s.plant = p.plant)
ORDER BY 1, 2
"""


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """Run the block in one write transaction: all of it commits, or none of it.

    A full disk or a lock can fail the COMMIT itself, and SQLite may have rolled the
    transaction back on its own already: either way none of it is left open, so the
    connection's next transaction starts clean (the error is raised as it came).
    """
    db.execute("BEGIN IMMEDIATE")  # take the write lock now: no deadlock upgrading later
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the block's error is the one to see
                db.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def _snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """Run the block's reads in one read transaction: they see one state of the database."""
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


def _retrieve(done: asyncio.Future[Any]) -> None:
    """Mark a job's outcome as seen when its caller was cancelled and will never look."""
    if not done.cancelled():
        done.exception()


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
        if self.plants is not None:
            clauses.append("plant IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(list(self.plants)))
        if self.start is not None:
            clauses.append("unix_time >= ?")
            params.append(self.start)
        if self.end is not None:
            clauses.append("unix_time < ?")
            params.append(self.end)
        if after is not None:
            key, values = after
            clauses.append(f"({key}) > ({', '.join('?' * len(values))})")
            params.extend(values)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _select(
    db: sqlite3.Connection,
    table: Table,
    where: str,
    params: Sequence[Any],
    limit: int = -1,
) -> list[Row]:
    """Return `table`'s rows as the schema has them (``start`` as a datetime), by key."""
    names = table.names
    found = db.execute(
        f"SELECT {', '.join(names)} FROM {TABLE_NAMES[table]}{where} "  # noqa: S608 - constants
        f"ORDER BY {', '.join(table.key)} LIMIT ?",
        (*params, limit),
    )
    if "start" not in names:
        return [tuple(row) for row in found]
    at = names.index("start")
    return [(*row[:at], datetime.fromisoformat(row[at]), *row[at + 1 :]) for row in found]


def _sql_row(row: Row) -> Row:
    """`row` as SQLite stores it: ``start`` as ISO 8601 text with the plant's offset."""
    return tuple(value.isoformat() if isinstance(value, datetime) else value for value in row)


def _write_holes(
    db: sqlite3.Connection,
    plant: str,
    endpoint: Endpoint,
    known: Sequence[Hole],
    holes: Sequence[Hole],
) -> None:
    """Replace the `known` holes of a span by `holes`."""
    db.executemany(
        "DELETE FROM holes WHERE plant = ? AND endpoint = ? AND start_time = ?",
        [(plant, endpoint.value, hole.start) for hole in known],
    )
    db.executemany(
        f"INSERT INTO holes (plant, endpoint, {pages.HOLE_COLUMNS}) "  # noqa: S608
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(plant, endpoint.value, *attrs.astuple(hole)) for hole in holes],
    )


#: How a reader opens a store, in turn while the file system refuses what it needs to write.
_READER_MODES = ("mode=rw", "mode=ro", "mode=ro&immutable=1")
#: The result codes of a file SQLite could not open or write: a read-only file system.
_CANNOT_WRITE = frozenset({sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY})


class _CannotWriteError(Exception):
    """A reader's open failed for want of writing: the next of `_READER_MODES` may do."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error


@attrs.define
class SQLiteStore:
    """Synced records in one SQLite file at `path` (created with mode 0600).

    `timeout` [s]: how long a write waits for another process's write lock.
    `create`: False to open only an existing store of this schema version, for a reader
    (``lacecal status``, ``lacecal export``) pointed at a file that may be something else:
    no file is created, nothing is migrated, and a file without a store (empty, another
    application's) is refused, `NoStoreError` or `SchemaVersionError`, byte for byte as it
    was (not even switched to WAL).
    Use it as ``async with SQLiteStore(path) as store: ...`` or `open` / `close`.
    """

    path: Path = attrs.field(converter=Path)
    timeout: float = 30.0
    create: bool = attrs.field(default=True, kw_only=True)
    #: The schema, as migrations (a subclass may append one to test an upgrade).
    migrations: ClassVar[tuple[tuple[str, ...], ...]] = MIGRATIONS
    _executor: ThreadPoolExecutor | None = attrs.field(init=False, default=None)
    _db: sqlite3.Connection | None = attrs.field(init=False, default=None)

    # -- lifecycle ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def following(self) -> AsyncIterator[None]:
        """Hold the store's follow lock (`lacecal_async.sync.follow_lock`) for the block.

        `follow` holds it while it runs: one follow daemon per file. `StoreInUseError`, naming
        the holder (pid and host), if another process (or another store here) holds it.
        """
        with follow_lock(self.path):
            yield

    async def open(self) -> None:
        """Create or upgrade the schema; `SchemaVersionError` for a newer or foreign one.

        With ``create=False``: `NoStoreError` for a missing file, an empty database or an
        older schema, and the file is left untouched.
        """
        if self._executor is not None:
            return
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lacecal-sqlite")
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._open_sync)
        except BaseException:
            executor.submit(self._close_sync)  # after the open, if it is still running
            executor.shutdown(wait=False)
            raise
        self._executor = executor

    async def close(self) -> None:
        """Let the operation in flight finish, then close the database (safe to call twice)."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._close_sync)
        finally:
            executor.shutdown(wait=False)

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

    async def _call(self, job: Callable[[sqlite3.Connection], T]) -> T:
        executor = self._executor
        if executor is None:
            raise StoreError(f"the store {self.path} is not open")
        # Shielded: a cancelled caller does not withdraw a job the thread has not started yet,
        # so a call made always completes whole (and `close` waits for it).
        done = asyncio.get_running_loop().run_in_executor(executor, self._with_db, job)
        done.add_done_callback(_retrieve)
        return await asyncio.shield(done)

    def _with_db(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:  # pragma: no cover - close() runs after every job submitted
            raise StoreError(f"the store {self.path} is closed")
        try:
            return job(self._db)
        except sqlite3.Error as exc:  # locked, full, damaged: a StoreError; others as they are
            error = store_error(exc, self.path)
            if error is None:
                raise
            raise error from None

    def _open_sync(self) -> None:
        if self.create:
            self._db = self._checked(self._connect())
            return
        if not self.path.exists():
            raise NoStoreError(f"{self.path}: no such file; `lacecal sync` creates a store")
        # mode=rw first: SQLite never creates the file (and, as the last connection to a WAL
        # store, removes the -wal and -shm files it needed on closing, where mode=ro leaves
        # them). A store on a read-only file system (or in a directory this user may not
        # write) cannot have its -shm file made: read it with mode=ro, which uses one a
        # writer elsewhere made, else as immutable (no writer can be at work there).
        first: StoreError | None = None
        for mode in _READER_MODES:
            try:
                self._db = self._checked(self._connect(mode))
            except _CannotWriteError as exc:
                first = first or exc.error
                continue
            return
        assert first is not None  # noqa: S101 - the loop ran
        raise first

    def _checked(self, db: sqlite3.Connection) -> sqlite3.Connection:
        """Return `db` with the schema created or upgraded, or checked (`create` off)."""
        try:
            if self.create:
                self._configure(db)
                self._migrate(db)
            else:  # only read: no WAL switch (it rewrites the header), no pragma that writes
                self._check_current(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            if exc.sqlite_errorcode == sqlite3.SQLITE_NOTADB:
                raise SchemaVersionError(f"{self.path} is not an SQLite database") from None
            error = store_error(exc, self.path)
            if error is not None:
                raise error from None
            if not self.create:  # a file it may not read, a WAL store it cannot share, ...
                error = StoreError(f"cannot read {self.path}: {exc}")
                if exc.sqlite_errorcode & 0xFF in _CANNOT_WRITE:
                    raise _CannotWriteError(error) from None
                raise error from None
            raise
        except BaseException:
            db.close()
            raise
        return db

    def _connect(self, mode: str = "mode=rw") -> sqlite3.Connection:
        """Connect to the file: created (mode 0600) if missing, unless `create` is off.

        `mode`: how a reader (`create` off) opens it, one of `_READER_MODES`.
        """
        if self.create:
            try:
                create_private_file(self.path)
            except OSError as exc:  # a directory, no such folder, no permission
                raise StoreError(f"cannot open {self.path}: {exc.strerror}") from None
            return sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            return sqlite3.connect(
                f"{self.path.absolute().as_uri()}?{mode}",
                uri=True,
                timeout=self.timeout,
                isolation_level=None,
            )
        except sqlite3.OperationalError as exc:  # a directory, no permission
            error = StoreError(f"cannot open {self.path}: {exc}")
            if exc.sqlite_errorcode & 0xFF in _CANNOT_WRITE:
                raise _CannotWriteError(error) from None
            raise error from None

    def _configure(self, db: sqlite3.Connection) -> None:
        db.execute("PRAGMA foreign_keys = ON")
        # Turning a new file to WAL takes a lock for which SQLite does not always call the
        # busy handler: a process converting at the same moment as another gets SQLITE_BUSY
        # at once. Wait for it as `timeout` says, as for any other lock.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                (mode,) = db.execute("PRAGMA journal_mode = WAL").fetchone()
                break
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # extended codes too
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        if mode != "wal":  # pragma: no cover - only where the file system has no shm
            raise StoreError(f"{self.path}: SQLite refused WAL mode (journal_mode={mode})")
        db.execute("PRAGMA synchronous = NORMAL")

    def _close_sync(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _version(self, db: sqlite3.Connection) -> int:
        """Return the file's schema version (0: empty); refuse a newer or foreign one."""
        target = len(self.migrations)
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > target:
            raise SchemaVersionError(
                f"{self.path}: schema version {version} is newer than this lacecal_async "
                f"knows ({target}); upgrade lacecal_async to open it"
            )
        if version == 0 and db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
            raise SchemaVersionError(
                f"{self.path}: a database with tables but no lacecal_async schema version; "
                "it is not a lacecal store"
            )
        return int(version)

    def _check_current(self, db: sqlite3.Connection) -> None:
        """Refuse, writing nothing, a file that does not hold this schema version."""
        with _snapshot(db):
            version = self._version(db)
        if version == 0:
            raise NoStoreError(
                f"{self.path}: an empty database, not a lacecal store; `lacecal sync` creates one"
            )
        if version < len(self.migrations):
            raise NoStoreError(
                f"{self.path}: schema version {version} is older than this lacecal_async's "
                f"({len(self.migrations)}); run `lacecal sync` to upgrade it"
            )

    def _migrate(self, db: sqlite3.Connection) -> None:
        target = len(self.migrations)
        with _transaction(db):
            version = self._version(db)
            for statements in self.migrations[version:]:
                for statement in statements:
                    db.execute(statement)
            if version != target:
                db.execute(f"PRAGMA user_version = {target:d}")

    # -- plants ---------------------------------------------------------------------------
    async def add_plant(self, fingerprint: str, alias: str | None = None) -> str:
        """Register a plant (idempotent) and return its key: `alias`, else `fingerprint`."""
        check_fingerprint(fingerprint)
        key = fingerprint if alias is None else check_alias(alias)

        def job(db: sqlite3.Connection) -> str:
            with _transaction(db):
                row = db.execute(
                    "SELECT plant FROM plants WHERE fingerprint = ?", (fingerprint,)
                ).fetchone()
                if row is not None:
                    if row[0] != key:
                        raise StoreError(
                            f"plant {fingerprint} is stored as {row[0]!r}, not {key!r}"
                        )
                    return key
                if db.execute("SELECT 1 FROM plants WHERE plant = ?", (key,)).fetchone():
                    raise StoreError(f"alias {key!r} already names another plant")
                db.execute(
                    "INSERT INTO plants (plant, fingerprint, alias, added_at) VALUES (?, ?, ?, ?)",
                    (key, fingerprint, alias, time.time()),
                )
            return key

        return await self._call(job)

    async def plants(self) -> list[PlantEntry]:
        """Return every registered plant, by key."""

        def job(db: sqlite3.Connection) -> list[PlantEntry]:
            rows = db.execute("SELECT plant, fingerprint, alias FROM plants ORDER BY plant")
            return [PlantEntry(*row) for row in rows]

        return await self._call(job)

    @staticmethod
    def _require_plant(db: sqlite3.Connection, plant: str) -> None:
        if db.execute("SELECT 1 FROM plants WHERE plant = ?", (plant,)).fetchone() is None:
            raise StoreError(f"unknown plant {plant!r}: add_plant() it first")

    # -- records and state ----------------------------------------------------------------
    async def state(self, plant: str, endpoint: Endpoint) -> SyncState | None:
        """Return the plant's sync state for a timed endpoint, None before its first write."""
        value = pages.timed(endpoint)

        def job(db: sqlite3.Connection) -> SyncState | None:
            row = db.execute(
                "SELECT latest, interval_s, next_poll, failures, last_error, last_error_at, "
                "since FROM sync_state WHERE plant = ? AND endpoint = ?",
                (plant, value.value),
            ).fetchone()
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
    ) -> None:
        """Upsert a page, update the holes around it and write `state`, in one transaction."""
        value = pages.timed(endpoint)

        def job(db: sqlite3.Connection) -> None:
            tables = pages.page_rows(value, plant, records)
            with _transaction(db):
                self._require_plant(db, plant)
                if records:
                    if value is Endpoint.INVERTER:  # a corrected period replaces all its rows
                        db.executemany(
                            "DELETE FROM inverter WHERE plant = ? AND unix_time = ?",
                            [(plant, r.unix_time) for r in records],
                        )
                    for table, rows in tables:
                        db.executemany(_UPSERT[table], [_sql_row(row) for row in rows])
                    self._update_holes(db, plant, value, [r.unix_time for r in records], now)
                    self._update_head(db, plant, value, state.since, now)
                db.execute(
                    _UPSERT_STATE,
                    (
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
                    ),
                )

        await self._call(job)

    @staticmethod
    def _update_head(
        db: sqlite3.Connection, plant: str, endpoint: Endpoint, since: int | None, now: float
    ) -> None:
        """Recompute the hole between where the sync began and the first stored record."""
        row = db.execute(
            "SELECT since FROM sync_state WHERE plant = ? AND endpoint = ?",
            (plant, endpoint.value),
        ).fetchone()
        since = since if row is None or row[0] is None else row[0]
        if since is None:
            return
        table = TABLE_NAMES[pages.PERIOD_TABLES[endpoint]]
        first, interval = db.execute(
            f"SELECT unix_time, interval_s FROM {table} WHERE plant = ? "  # noqa: S608
            "ORDER BY unix_time LIMIT 1",
            (plant,),
        ).fetchone()
        gap = head_gap(since, first, interval)
        known = [
            pages.hole(row)
            for row in db.execute(
                f"SELECT {pages.HOLE_COLUMNS} FROM holes WHERE plant = ? AND endpoint = ? "  # noqa: S608
                "AND start_time < ?",
                (plant, endpoint.value, first),
            )
        ]
        holes = reconcile([] if gap is None else [gap], known, now)
        if holes == known:
            return
        _write_holes(db, plant, endpoint, known, holes)

    @staticmethod
    def _update_holes(
        db: sqlite3.Connection, plant: str, endpoint: Endpoint, times: list[int], now: float
    ) -> None:
        """Recompute the holes between the stored neighbours of the page's records."""
        table = TABLE_NAMES[pages.PERIOD_TABLES[endpoint]]
        lo, hi = min(times), max(times)
        (before,) = db.execute(
            f"SELECT max(unix_time) FROM {table} WHERE plant = ? AND unix_time < ?",  # noqa: S608
            (plant, lo),
        ).fetchone()
        (after,) = db.execute(
            f"SELECT min(unix_time) FROM {table} WHERE plant = ? AND unix_time > ?",  # noqa: S608
            (plant, hi),
        ).fetchone()
        lo = lo if before is None else before
        hi = hi if after is None else after
        periods = db.execute(
            f"SELECT unix_time, interval_s FROM {table} "  # noqa: S608
            "WHERE plant = ? AND unix_time BETWEEN ? AND ? ORDER BY unix_time",
            (plant, lo, hi),
        )
        found = find_gaps(periods)
        known = [
            pages.hole(row)
            for row in db.execute(
                f"SELECT {pages.HOLE_COLUMNS} FROM holes WHERE plant = ? AND endpoint = ? "  # noqa: S608
                "AND start_time < ? AND end_time > ? AND start_time >= ?",
                (plant, endpoint.value, hi, lo, lo),
            )
        ]
        holes = reconcile(found, known, now)
        if holes == known:
            return
        _write_holes(db, plant, endpoint, known, holes)

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

            def job(
                db: sqlite3.Connection, where: str = where, params: list[Any] = params
            ) -> list[Row]:
                return _select(db, table, where, params, batch)

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

        The records are those committed (an inverter record's inverters by id); filters as
        in `read_rows`. A batch holds at most `batch` periods of one plant.
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

            def job(
                db: sqlite3.Connection, where: str = where, params: list[Any] = params
            ) -> list[tuple[str, list[InverterRecord]]]:
                with _snapshot(db):
                    periods = _select(db, PERIODS, where, params, batch)
                    if not periods:
                        return []
                    first, last = pages.key(PERIODS, periods[0]), pages.key(PERIODS, periods[-1])
                    span, span_params = rows_filter.where()
                    span += " AND " if span else " WHERE "
                    span += f"({first[0]}) BETWEEN (?, ?) AND (?, ?)"
                    inverters = _select(db, INVERTERS, span, [*span_params, *first[1], *last[1]])
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
    ) -> None:
        """Replace the plant's inverter inventory with `inverters` in one transaction.

        Its refreshes' failures are cleared; `next_poll` is when the next one is due.
        """

        def job(db: sqlite3.Connection) -> None:
            with _transaction(db):
                self._require_plant(db, plant)
                db.execute(_INVENTORY_DONE, (plant, next_poll, now))
                db.execute(
                    "DELETE FROM inverters WHERE plant = ? AND inverter_id NOT IN "
                    "(SELECT value FROM json_each(?))",
                    (plant, json.dumps([i.id for i in inverters])),
                )
                db.executemany(
                    "INSERT INTO inverters (plant, inverter_id, name, manufacturer, model, "
                    "serial_number, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
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

        def job(db: sqlite3.Connection) -> list[Inverter]:
            rows = db.execute(
                "SELECT inverter_id, name, manufacturer, model, serial_number FROM inverters "
                "WHERE plant = ? ORDER BY inverter_id",
                (plant,),
            )
            return [Inverter(*row) for row in rows]

        return await self._call(job)

    # -- holes, errors, status --------------------------------------------------------------
    async def holes(
        self, plant: str, endpoint: Endpoint, *, due_by: float | None = None
    ) -> list[Hole]:
        """Return the plant's holes in time order; with `due_by`, only repairs due by then."""
        value = pages.timed(endpoint)

        def job(db: sqlite3.Connection) -> list[Hole]:
            rows = db.execute(
                f"SELECT {pages.HOLE_COLUMNS} FROM holes WHERE plant = ? AND endpoint = ? "  # noqa: S608
                "AND (? IS NULL OR next_attempt <= ?) ORDER BY start_time",
                (plant, value.value, due_by, due_by),
            )
            return [pages.hole(row) for row in rows]

        return await self._call(job)

    async def repair_attempted(
        self, plant: str, endpoint: Endpoint, start: int, end: int, *, now: float
    ) -> None:
        """Count a repair of ``[start, end)`` that ended at `now` (its pages committed first)."""
        value = pages.timed(endpoint)

        def job(db: sqlite3.Connection) -> None:
            with _transaction(db):
                holes = [
                    pages.hole(row)
                    for row in db.execute(
                        f"SELECT {pages.HOLE_COLUMNS} FROM holes WHERE plant = ? "  # noqa: S608
                        "AND endpoint = ? AND start_time < ? AND end_time > ?",
                        (plant, value.value, end, start),
                    )
                ]
                db.executemany(
                    "UPDATE holes SET attempts = ?, next_attempt = ? "
                    "WHERE plant = ? AND endpoint = ? AND start_time = ?",
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
    ) -> None:
        """Count a failure of the plant's endpoint and when to try again; rows stay as they are.

        `Endpoint.INVERTER_LIST`: a failed refresh of the inverter list.
        """
        value = Endpoint(endpoint)
        if value is not Endpoint.INVERTER_LIST:
            pages.timed(value)

        def job(db: sqlite3.Connection) -> None:
            with _transaction(db):
                self._require_plant(db, plant)
                if value is Endpoint.INVERTER_LIST:
                    db.execute(
                        _RECORD_INVENTORY_ERROR,
                        (plant, clean_error(message), now, next_attempt, now),
                    )
                    return
                db.execute(
                    _RECORD_ERROR,
                    (plant, value.value, next_attempt, clean_error(message), now, now),
                )

        await self._call(job)

    async def drop_future(
        self, plant: str, endpoint: Endpoint, *, after: int, seen: int | None, now: float
    ) -> int:
        """Remove the stored periods starting after `after` (dated after the clock); how many.

        The holes reaching past `after` go too, the sync state's latest and interval become
        the newest kept period's, and the state notes the latest ignored start (a removed
        period's, or `seen`) at `now`: all in one transaction.
        """
        value = pages.timed(endpoint)
        table = TABLE_NAMES[pages.PERIOD_TABLES[value]]

        def job(db: sqlite3.Connection) -> int:
            with _transaction(db):
                self._require_plant(db, plant)
                removed, newest = db.execute(
                    f"SELECT count(*), max(unix_time) FROM {table} "  # noqa: S608
                    "WHERE plant = ? AND unix_time > ?",
                    (plant, after),
                ).fetchone()
                if value is Endpoint.INVERTER:  # its rows refer to the periods
                    db.execute(
                        "DELETE FROM inverter WHERE plant = ? AND unix_time > ?", (plant, after)
                    )
                db.execute(
                    f"DELETE FROM {table} WHERE plant = ? AND unix_time > ?",  # noqa: S608
                    (plant, after),
                )
                db.execute(
                    "DELETE FROM holes WHERE plant = ? AND endpoint = ? AND end_time > ?",
                    (plant, value.value, after),
                )
                kept = db.execute(
                    f"SELECT unix_time, interval_s FROM {table} WHERE plant = ? "  # noqa: S608
                    "ORDER BY unix_time DESC LIMIT 1",
                    (plant,),
                ).fetchone() or (None, None)
                ignored = max((t for t in (newest, seen) if t is not None), default=None)
                db.execute(_NOTE_FUTURE, (plant, value.value, *kept, now, ignored, removed, after))
            return int(removed)

        return await self._call(job)

    async def status(self) -> list[StatusRow]:
        """Return a row per plant and synced endpoint (one row for a plant never synced)."""

        def job(db: sqlite3.Connection) -> list[StatusRow]:
            return [pages.status_row(row) for row in db.execute(_STATUS)]

        return await self._call(job)
