"""A SQLite store whose file may be kept from growing: SQLite's own "database or disk is full".

``PRAGMA max_page_count`` caps a connection's database at a number of pages; a write that
needs more fails with ``SQLITE_FULL``, the code and message a full disk gives, on any
machine and without root. `CappedStore.full` caps the store's connection at the pages it
has; `CappedStore.room` lifts the cap. (A real full disk, a tmpfs, needs root: see
``tests/process/test_sqlite_disk_full.py``.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from lacecal_async.sync import SQLiteStore

T = TypeVar("T")
#: SQLite's default cap (pages): no cap in practice.
_NO_CAP = 4294967294


class CappedStore(SQLiteStore):
    """A `SQLiteStore` whose database may be kept at its size (`full`) and let grow (`room`)."""

    capped = False

    def full(self) -> None:
        """From the next call on, the database may not grow: writes that need room fail."""
        self.capped = True

    def room(self) -> None:
        """From the next call on, the database grows as it needs."""
        self.capped = False

    def _with_db(self, job: Callable[[sqlite3.Connection], T]) -> T:
        def capped(db: sqlite3.Connection) -> T:
            pages = db.execute("PRAGMA page_count").fetchone()[0] if self.capped else _NO_CAP
            db.execute(f"PRAGMA max_page_count = {int(pages)}")
            return job(db)

        return super()._with_db(capped)
