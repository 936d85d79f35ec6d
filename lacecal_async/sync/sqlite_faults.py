"""Which SQLite errors mean the database failed for a while, or for good, and what a store raises.

SQLite reports its faults with result codes, under `sqlite3.OperationalError` and
`sqlite3.DatabaseError` alike. A lock another process held past the store's timeout
(``SQLITE_BUSY``, "database is locked"), a full disk (``SQLITE_FULL``, "database or disk is
full") and an I/O error (``SQLITE_IOERR``: a disk that came back, a network file system)
pass: they become `StoreUnavailableError`, which the engine logs and retries, so a daemon
carries on once the lock is gone or the disk has room. A damaged file (``SQLITE_CORRUPT``,
``SQLITE_NOTADB``, or a table or column of the schema gone) does not pass: a `StoreError`
saying so in one line. Any other error (a constraint a write broke) is the caller's to see
as it is.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lacecal_async.sync.store import StoreError, StoreUnavailableError

__all__ = ["schema_gone", "store_error"]

_TRANSIENT = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
    }
)
_DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
#: What SQLite says of a table or column the schema version promised (a hand edit, half a
#: restore): a damaged store too, not a statement's error.
_SCHEMA_GONE = ("no such table: ", "no such column: ")


def store_error(exc: BaseException, path: Path) -> StoreError | None:
    """Return the `StoreError` a store raises for SQLite's `exc` (None: raise `exc` as it is)."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = code & 0xFF  # an extended code's primary one (SQLITE_IOERR_WRITE: SQLITE_IOERR)
    if primary in _TRANSIENT:
        return StoreUnavailableError(f"{path}: {exc} (a transient fault: tried again later)")
    if primary in _DAMAGED:
        return StoreError(
            f"{path}: the database file is damaged ({exc}): restore it from a backup, or "
            "move it away and sync again"
        )
    return None


def schema_gone(exc: BaseException, path: Path) -> StoreError | None:
    """Return the `StoreError` for a store's statement that found a table or column gone.

    Only for the statements of an opened store, whose schema version promised them (a
    migration's own error is the library's, not the file's).
    """
    if not isinstance(exc, sqlite3.OperationalError) or not str(exc).startswith(_SCHEMA_GONE):
        return None
    return StoreError(
        f"{path}: the store's schema is damaged ({exc}): restore it from a backup, or "
        "move it away and sync again"
    )
