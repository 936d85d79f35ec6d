"""Which store a command's DB argument names: a SQLite file, or a PostgreSQL DSN."""

from __future__ import annotations

import sys
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from lacecal_async.cli.bounds import check_dsn_ports
from lacecal_async.cli.usage import UsageError
from lacecal_async.redaction import printable
from lacecal_async.sync import NoStoreError, PostgresStore, SchemaVersionError, SQLiteStore
from lacecal_async.sync.postgres import dsn_shown

__all__ = [
    "DSN_PREFIXES",
    "check_db",
    "is_dsn",
    "make_store",
    "read_failed",
    "shown",
    "store_error",
]

#: A DB argument starting with one of these is a PostgreSQL DSN (the `postgres` extra).
DSN_PREFIXES = ("postgresql://", "postgres://")


def is_dsn(db: str) -> bool:
    """Whether `db` names a PostgreSQL database rather than a SQLite file."""
    return db.startswith(DSN_PREFIXES)


def check_db(db: str) -> str:
    """Return `db`; a DSN naming a port that is not 1 to 65535 is a usage error (one line)."""
    return check_dsn_ports(db) if is_dsn(db) else db


def make_store(db: str, *, create: bool = True) -> PostgresStore | SQLiteStore:
    """Return the (unopened) store `db` names; opening a DSN without asyncpg says what to do.

    `create`: False for a command that only reads (``status``, ``export``): opening it
    then creates and upgrades nothing, and refuses a database that holds no store.
    """
    return PostgresStore(db, create=create) if is_dsn(db) else SQLiteStore(db, create=create)


def shown(db: str) -> str:
    """Return `db` fit for a message: a DSN without its password."""
    return dsn_shown(db) if is_dsn(db) else db


def store_error(db: str, error: BaseException) -> str:
    """Return a one-line message for a store that failed: `db` shown, never a DSN password.

    Opening a malformed DSN fails with asyncpg's own ValueError text; any password in the
    DSN is masked in it too, in case a message quotes the DSN. A message that starts with
    `db` already (the stores' own do) is not given it twice.
    """
    text = str(error) or type(error).__name__
    if is_dsn(db):
        try:
            password = urllib.parse.urlsplit(db).password
        except ValueError:
            password = None
        for secret in (password, None if password is None else urllib.parse.unquote(password)):
            if secret:
                text = text.replace(secret, "***")
    where = shown(db)
    if text.startswith((where, str(Path(db)))):
        return printable(text)
    return printable(f"{where}: {text}")


def read_failed(db: str, exc: Exception, *, opened: bool, own_value_errors: bool = False) -> int:
    """Say why a command reading a store failed, in one line; return its exit status.

    2 when `db` names no store (a usage error), else 1. Once the output is `opened`, an
    OSError is the output file's, and (`own_value_errors`) a ValueError the command's own;
    anything else is the store's ("cannot read"). A DSN's password is never shown.
    """
    if isinstance(exc, (SchemaVersionError, NoStoreError)):
        print(f"lacecal: error: {store_error(db, exc)}", file=sys.stderr)
        return 2
    if own_value_errors and isinstance(exc, ValueError) and opened:
        print(f"lacecal: error: {exc}", file=sys.stderr)
    elif isinstance(exc, OSError) and opened:
        print(f"lacecal: error: {exc.strerror or exc}", file=sys.stderr)
    else:
        print(f"lacecal: error: cannot read {store_error(db, exc)}", file=sys.stderr)
    return 1


async def chosen_plants(
    store: SQLiteStore | PostgresStore, wanted: Sequence[str]
) -> list[str] | None:
    """Return the plants asked for (None: all), or `UsageError` naming one the store lacks."""
    if not wanted:
        return None
    known = {entry.plant for entry in await store.plants()}
    for plant in wanted:
        if plant not in known:
            listed = ", ".join(sorted(known)[:10]) or "none"
            raise UsageError(f"the store holds no plant {plant!r} (its plants: {listed})")
    return list(dict.fromkeys(wanted))
