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
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import attrs

from lacecal_async.endpoints import Endpoint
from lacecal_async.private_file import create_private_file
from lacecal_async.sync import table_rows
from lacecal_async.sync.core import (
    Driver,
    Job,
    PageWrite,
    StoreCore,
    check_version,
    retrieve,
    run_at_once,
    upsert_from,
)
from lacecal_async.sync.dialect import SQLITE, Dialect
from lacecal_async.sync.follow_lock import follow_lock
from lacecal_async.sync.schema import SQLITE_MIGRATIONS
from lacecal_async.sync.sqlite_faults import schema_gone, store_error
from lacecal_async.sync.store import NoStoreError, SchemaVersionError, StoreError
from lacecal_async.tables import METER

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_UPSERT_METER = upsert_from(METER)


class _Driver:
    """The core's `Driver` on an sqlite3 connection: each call runs at once, in this thread."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    async def execute(self, sql: str, *args: Any) -> None:  # noqa: ANN401
        self.db.execute(SQLITE.sql(sql), SQLITE.args(args))

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        self.db.executemany(SQLITE.sql(sql), args)  # rows of values: no list among them

    async def fetch(self, sql: str, *args: Any) -> list[Any]:  # noqa: ANN401
        return self.db.execute(SQLITE.sql(sql), SQLITE.args(args)).fetchall()

    async def fetchrow(self, sql: str, *args: Any) -> Any:  # noqa: ANN401
        return self.db.execute(SQLITE.sql(sql), SQLITE.args(args)).fetchone()

    async def fetchval(self, sql: str, *args: Any) -> Any:  # noqa: ANN401
        row = self.db.execute(SQLITE.sql(sql), SQLITE.args(args)).fetchone()
        return None if row is None else row[0]

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """Run the block in one write transaction (`_transaction`)."""
        with _transaction(self.db):
            yield

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        """Run the block's reads in one read transaction (`_snapshot`)."""
        with _snapshot(self.db):
            yield


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


_EMPTY = "an empty database, not a lacecal store"
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
class SQLiteStore(StoreCore):
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
    migrations: ClassVar[tuple[tuple[str, ...], ...]] = SQLITE_MIGRATIONS
    dialect: ClassVar[Dialect] = SQLITE
    _executor: ThreadPoolExecutor | None = attrs.field(init=False, default=None)
    _db: sqlite3.Connection | None = attrs.field(init=False, default=None)

    async def _write_rows(self, db: Driver, page: PageWrite) -> None:
        """Upsert a page's rows; a meter page's built once, its start already as text.

        The hot path of a backfill: one pass over the records, no second one for the
        dialect, no second check of their kind (the caller checked it).
        """
        if page.endpoint is not Endpoint.METER:
            await super()._write_rows(db, page)
            return
        rows = table_rows.meter_rows(page.plant, page.records, iso=True)  # type: ignore[arg-type]
        await db.executemany(_UPSERT_METER, rows)

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

    async def _call(self, job: Job[T]) -> T:
        executor = self._executor
        if executor is None:
            raise StoreError(f"the store {self.path} is not open")
        # Shielded: a cancelled caller does not withdraw a job the thread has not started yet,
        # so a call made always completes whole (and `close` waits for it).
        done = asyncio.get_running_loop().run_in_executor(
            executor, self._with_db, lambda db: run_at_once(job(_Driver(db)))
        )
        done.add_done_callback(retrieve)
        return await asyncio.shield(done)

    def _with_db(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:  # pragma: no cover - close() runs after every job submitted
            raise StoreError(f"the store {self.path} is closed")
        try:
            return job(self._db)
        except sqlite3.Error as exc:  # locked, full, damaged: a StoreError; others as they are
            error = store_error(exc, self.path) or schema_gone(exc, self.path)
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
        """Return the file's schema version (0: empty); refuse one this store cannot use."""
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version == 0 and db.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]:
            raise SchemaVersionError(
                f"{self.path}: a database with tables but no lacecal_async schema version; "
                "it is not a lacecal store"
            )
        check_version(
            str(self.path), version, len(self.migrations), create=self.create, empty=_EMPTY
        )
        return int(version)

    def _check_current(self, db: sqlite3.Connection) -> None:
        """Refuse, writing nothing, a file that does not hold this schema version."""
        with _snapshot(db):
            self._version(db)

    def _migrate(self, db: sqlite3.Connection) -> None:
        target = len(self.migrations)
        with _transaction(db):
            version = self._version(db)
            for statements in self.migrations[version:]:
                for statement in statements:
                    db.execute(statement)
            if version != target:
                db.execute(f"PRAGMA user_version = {target:d}")
