"""A page's rows, its holes and the sync state commit together or not at all.

A second guard beside the contract tests' constraint violations: here the database itself
interrupts the commit, behind the store's back, at each of the tables a page writes (a
trigger that fails, on SQLite and PostgreSQL), and on PostgreSQL a commit is held inside
its transaction (a trigger waiting on a lock the test holds) so that another connection
looks at the database mid-commit, and the writer's connection is then killed there, as a
crash would. Whatever the order of the writes, nothing of the page may be seen.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from lacecal_async.endpoints import Endpoint
from lacecal_async.records import InverterRecord, MeterRecord
from lacecal_async.sync import PostgresStore, Store, SyncState
from lacecal_async.sync.core import StoreCore
from lacecal_async.tables import INVERTERS, METER, PERIODS, Row
from tests.support.fleet import until
from tests.support.store_kinds import StoreKind
from tests.support.stores import KEY, PLANT, page_state

PAGE = 7
#: A lock key of the test's own: the trigger that holds a commit waits on it.
HOLD = 0x7E57


def _pages(endpoint: Endpoint) -> list[list[Any]]:
    """The plant's first two pages; the second spans its first gap (a hole inside it)."""
    span = (PLANT.first, PLANT.first + 2 * PAGE * PLANT.interval + 6000)
    records: list[MeterRecord] | list[InverterRecord] = (
        PLANT.meter_records(*span) if endpoint is Endpoint.METER else PLANT.inverter_records(*span)
    )
    return [list(records[:PAGE]), list(records[PAGE : 2 * PAGE])]


async def _everything(store: Store) -> tuple[Any, ...]:
    """All a caller can see of the store: every table's rows, states and holes."""
    rows: list[list[Row]] = []
    for table in (METER, PERIODS, INVERTERS):
        rows.append([row async for batch in store.read_rows(table) for row in batch])
    states = [await store.state(KEY, e) for e in (Endpoint.METER, Endpoint.INVERTER)]
    holes = [await store.holes(KEY, e) for e in (Endpoint.METER, Endpoint.INVERTER)]
    return (rows, states, holes)


def _fault_sql(kind: str, table: str) -> tuple[str, str]:
    """SQL adding a trigger that fails every write to `table`, and SQL dropping it."""
    if kind == "sqlite":
        ops = ("INSERT", "UPDATE", "DELETE")
        add = "".join(
            f"CREATE TRIGGER fault_{op.lower()} BEFORE {op} ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'interrupted in the window'); END;"
            for op in ops
        )
        drop = "".join(f"DROP TRIGGER fault_{op.lower()};" for op in ops)
        return add, drop
    add = (
        "CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'interrupted in the window'; END $$; "
        f"CREATE TRIGGER fault BEFORE INSERT OR UPDATE OR DELETE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION fault();"
    )
    return add, f"DROP TRIGGER fault ON {table}; DROP FUNCTION fault();"


@pytest.mark.parametrize(
    ("endpoint", "table"),
    [
        (Endpoint.METER, "meter"),
        (Endpoint.METER, "holes"),
        (Endpoint.METER, "sync_state"),
        (Endpoint.INVERTER, "inverter"),
        (Endpoint.INVERTER, "inverter_periods"),
        (Endpoint.INVERTER, "sync_state"),
    ],
)
async def test_a_page_interrupted_at_any_of_its_writes_leaves_nothing(
    store_kind: StoreKind, endpoint: Endpoint, table: str
) -> None:
    first, second = _pages(endpoint)
    add, drop = _fault_sql(store_kind.name, table)
    async with store_kind.make() as store:
        await store.add_plant(KEY)
        await store.commit_page(KEY, endpoint, first, page_state(first), now=1.0)
        before = await _everything(store)
        await store_kind.execute(add)
        with pytest.raises(Exception, match="interrupted in the window"):
            await store.commit_page(KEY, endpoint, second, page_state(second), now=2.0)
        assert await _everything(store) == before
        await store_kind.execute(drop)
        # The same page, once the database lets it, lands whole (rows, its hole, the state).
        await store.commit_page(KEY, endpoint, second, page_state(second), now=3.0)
        assert await store.state(KEY, endpoint) == page_state(second)
        assert len(await store.holes(KEY, endpoint)) == 1
        assert await _everything(store) != before


class _StatementPerStep(PostgresStore):
    """The store writing a page a statement per step (rows, holes, state, head)."""

    _write_page = StoreCore._write_page


async def _held_writer(conn: asyncpg.Connection[Any]) -> int | None:
    """The backend waiting on the test's lock (a commit held in its trigger), if any."""
    pid: int | None = await conn.fetchval(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND objid = $1 AND database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())",
        HOLD,
    )
    return pid


async def _kill_held_writers(conn: asyncpg.Connection[Any], commit: asyncio.Task[None]) -> None:
    """Terminate each backend held in the trigger until `commit` gives up (it retries once).

    Waiting out the retry instead costs the store's statement timeout (30 s).
    """
    while not commit.done():
        pid = await _held_writer(conn)
        if pid is not None:
            await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        await asyncio.wait([commit], timeout=0.05)


@pytest.mark.parametrize("store_class", [PostgresStore, _StatementPerStep])
async def test_a_page_held_mid_commit_is_invisible_and_a_crash_there_leaves_nothing(
    postgres_dsn: str, store_class: type[PostgresStore]
) -> None:
    first, second = _pages(Endpoint.METER)
    async with store_class(postgres_dsn) as store:
        await store.add_plant(KEY)
        await store.commit_page(KEY, Endpoint.METER, first, page_state(first), now=1.0)
        before = await _everything(store)
        conn = await asyncpg.connect(postgres_dsn)
        try:
            # The page's hole is written after its rows, and here with or after its state.
            await conn.execute(
                "CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN PERFORM pg_advisory_xact_lock_shared({HOLD}); RETURN NULL; END $$; "
                "CREATE TRIGGER hold AFTER INSERT ON holes "
                "FOR EACH STATEMENT EXECUTE FUNCTION hold();"
            )
            await conn.execute("SELECT pg_advisory_lock($1)", HOLD)
            commit = asyncio.create_task(
                store.commit_page(KEY, Endpoint.METER, second, page_state(second), now=2.0)
            )

            async def held() -> bool:
                return await _held_writer(conn) is not None

            await until(held)
            # Mid-commit: the rows and the state it wrote are not there for anyone else.
            seen = await conn.fetch("SELECT unix_time FROM meter ORDER BY 1")
            assert [row[0] for row in seen] == [r.unix_time for r in first]
            latest = await conn.fetchval("SELECT latest FROM sync_state WHERE plant = $1", KEY)
            assert latest == first[-1].unix_time
            # The writer's connection dies there (a crash, a kill -9 of the server process),
            # and so does the one the store retries the page on, once, held the same way.
            await _kill_held_writers(conn, commit)
            with pytest.raises(Exception):  # noqa: B017, PT011 - the driver's, whatever it is
                await commit
            await conn.execute("SELECT pg_advisory_unlock($1)", HOLD)
            assert await _everything(store) == before
            await conn.execute("DROP TRIGGER hold ON holes; DROP FUNCTION hold();")
        finally:
            await conn.close()
        await store.commit_page(KEY, Endpoint.METER, second, page_state(second), now=3.0)
        assert await store.state(KEY, Endpoint.METER) == page_state(second)
        assert await _everything(store) != before


async def test_a_page_spanning_a_gap_makes_its_hole(store_kind: StoreKind) -> None:
    """What the tests above rely on: the second page writes a hole as well as rows."""
    first, second = _pages(Endpoint.METER)
    async with store_kind.make() as store:
        await store.add_plant(KEY)
        for page in (first, second):
            await store.commit_page(KEY, Endpoint.METER, page, page_state(page), now=1.0)
        assert await store.holes(KEY, Endpoint.METER) != []
        assert await store.state(KEY, Endpoint.METER) == SyncState(
            latest=second[-1].unix_time, interval=PLANT.interval
        )
