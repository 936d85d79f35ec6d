"""Shared by the store tests: a plant, its pages, reading a database back, and a writer.

Run as a script (``python tests/support/stores.py DB``), it commits the plant's meter pages
in a loop, resuming after the saved state and printing each page's index once committed.
Each line read from stdin lets it commit that many more pages (all of them at end of
input), so the crash test decides how far it may get before the SIGKILL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

import attrs

from lacecal_async import fingerprint
from lacecal_async.endpoints import Endpoint
from lacecal_async.records import MeterRecord
from lacecal_async.sync import SQLiteStore, SyncState
from lacecal_async.testing import make_plants

PLANT = attrs.evolve(
    make_plants(1, seed=11, days=3)[0],
    gaps=((1727827200 + 6000, 1727827200 + 9000), (1727827200 + 30000, 1727827200 + 31200)),
)
KEY = fingerprint(PLANT.itr)
PAGE_SIZE = 7


def meter_pages(size: int = PAGE_SIZE) -> list[list[MeterRecord]]:
    """The plant's meter records, cut into pages as a sync would commit them."""
    records = PLANT.meter_records(PLANT.first, (PLANT.latest or 0) + 1)
    return [records[i : i + size] for i in range(0, len(records), size)]


def page_state(page: list[MeterRecord]) -> SyncState:
    return SyncState(latest=page[-1].unix_time, interval=page[-1].interval)


def rows(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run a query on a database through a connection of its own (closed after)."""
    db = sqlite3.connect(path)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


async def write_pages(path: Path) -> None:
    """Commit every page after the saved state, printing each index once it is committed."""
    pages = meter_pages()
    async with SQLiteStore(path) as store:
        await store.add_plant(KEY)
        state = await store.state(KEY, Endpoint.METER)
        done = 0
        if state is not None and state.latest is not None:
            done = 1 + [page[-1].unix_time for page in pages].index(state.latest)
        allowed = done
        for index in range(done, len(pages)):
            while index >= allowed:
                line = sys.stdin.readline()
                allowed = allowed + int(line) if line else len(pages)
            page = pages[index]
            await store.commit_page(KEY, Endpoint.METER, page, page_state(page), now=index)
            sys.stdout.write(f"{index}\n")
            sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(write_pages(Path(sys.argv[1])))


def sync_states(db: Path) -> int:
    """Count a SQLite store's sync states, read-only, while a daemon writes it (0: none yet)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM sync_state").fetchone()[0])
    except sqlite3.OperationalError:  # no schema yet
        return 0
    finally:
        conn.close()
