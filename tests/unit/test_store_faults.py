"""Which driver errors a store calls transient, and the follow lock's refusals, case by case."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from lacecal_async.sync import StoreError, StoreInUseError, StoreUnavailableError
from lacecal_async.sync.follow_lock import follow_lock, lock_path
from lacecal_async.sync.postgres_faults import store_error as pg_error
from lacecal_async.sync.postgres_faults import transient
from lacecal_async.sync.sqlite_faults import schema_gone
from lacecal_async.sync.sqlite_faults import store_error as sqlite_error


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionResetError(104, "Connection reset by peer"),
        TimeoutError(),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        asyncpg.exceptions.InternalClientError("cannot switch to state 15"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_connection_level_asyncpg_errors_are_transient(exc: Exception) -> None:
    assert transient(exc)
    error = pg_error(exc, "postgresql://db:5432/fleet")
    assert isinstance(error, StoreUnavailableError)
    assert str(error).startswith(f"postgresql://db:5432/fleet: {type(exc).__name__}")


@pytest.mark.parametrize(
    "exc",
    [asyncpg.exceptions.UniqueViolationError("duplicate key"), ValueError("bug"), KeyError("k")],
    ids=lambda exc: type(exc).__name__,
)
def test_errors_of_the_statement_are_not_transient(exc: Exception) -> None:
    assert not transient(exc)
    assert pg_error(exc, "postgresql://db/fleet") is None


def _sqlite_fault(tmp_path: Path, sql: str) -> sqlite3.Error:
    db = sqlite3.connect(tmp_path / "f.db")
    try:
        db.execute(sql)
    except sqlite3.Error as exc:
        return exc
    finally:
        db.close()
    raise AssertionError(sql)


def test_sqlite_errors_by_result_code(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY
    assert isinstance(sqlite_error(busy, path), StoreUnavailableError)
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL
    assert isinstance(sqlite_error(full, path), StoreUnavailableError)
    damaged = sqlite3.DatabaseError("database disk image is malformed")
    damaged.sqlite_errorcode = sqlite3.SQLITE_CORRUPT
    error = sqlite_error(damaged, path)
    assert type(error) is StoreError
    assert "damaged" in str(error)
    # An error of the statement, one without a result code, and no SQLite error at all.
    assert sqlite_error(_sqlite_fault(tmp_path, "SELECT * FROM nowhere"), path) is None
    # ... which, from an opened store's own statement, says its schema lost a table.
    gone = schema_gone(_sqlite_fault(tmp_path, "SELECT * FROM nowhere"), path)
    assert type(gone) is StoreError
    assert "schema is damaged" in str(gone)
    assert schema_gone(sqlite3.IntegrityError("UNIQUE constraint failed"), path) is None
    assert sqlite_error(sqlite3.OperationalError("made by hand"), path) is None
    assert sqlite_error(ValueError("bug"), path) is None


def test_a_follow_lock_held_by_a_silent_process_is_refused_all_the_same(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    holder = os.open(lock_path(store), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # locked, nothing written in it yet
        with pytest.raises(StoreInUseError, match="has not said which yet"), follow_lock(store):
            pass
    finally:
        os.close(holder)
    with follow_lock(store):  # its holder gone, the lock is free
        assert f"pid {os.getpid()} on host " in lock_path(store).read_text()
    assert lock_path(store).read_text() == ""  # a holder that left says nothing


def test_a_follow_lock_that_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the follow lock"):
        with follow_lock(tmp_path / "nowhere" / "s.db"):
            pass
