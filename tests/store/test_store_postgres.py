"""PostgresStore's own side: column types, schema versions, concurrent writers, its server.

What every store does is in test_store_contract.py; leases are in test_leases.py.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import pytest

from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import PostgresStore, SchemaVersionError, StoreError, SyncState
from lacecal_async.sync.core import StoreCore
from lacecal_async.sync.schema import POSTGRES_MIGRATIONS as MIGRATIONS
from lacecal_async.tables import INVERTERS, METER, PERIODS
from lacecal_async.testing.postgres import (
    PostgresUnavailableError,
    TemporaryPostgres,
    find_postgres_bin,
)
from tests.support.stores import KEY, PLANT, meter_pages, page_state

SCHEMA_VERSION = len(MIGRATIONS)


class NewerStore(PostgresStore):
    """The store as a later release would ship it: one more migration."""

    migrations: ClassVar[tuple[tuple[str, ...], ...]] = (
        *MIGRATIONS,
        ("ALTER TABLE plants ADD COLUMN note text",),
    )


class BrokenUpgradeStore(PostgresStore):
    """A release whose new migration fails half-way."""

    migrations: ClassVar[tuple[tuple[str, ...], ...]] = (
        *MIGRATIONS,
        ("ALTER TABLE plants ADD COLUMN note text", "ALTER TABLE nowhere ADD COLUMN x text"),
    )


@pytest.fixture
async def conn(postgres_dsn: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    connection = await asyncpg.connect(postgres_dsn)
    yield connection
    await connection.close()


async def columns(conn: asyncpg.Connection[Any], table: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = $1 ORDER BY ordinal_position",
        table,
    )
    return {row[0]: row[1] for row in rows}


async def test_columns_have_the_types_a_postgresql_user_expects(
    postgres_dsn: str, conn: asyncpg.Connection[Any]
) -> None:
    async with PostgresStore(postgres_dsn) as store:
        await store.add_plant(KEY)
        page = meter_pages()[0]
        await store.commit_page(KEY, Endpoint.METER, page, page_state(page), now=1.0)
    # In the tables' order: a page's rows go as an array of the table's row type.
    meter = await columns(conn, "meter")
    assert list(meter) == METER.names
    assert meter["start"] == "timestamp with time zone"
    assert (meter["unix_time"], meter["interval_s"]) == ("bigint", "integer")
    assert meter["grid_imported_kwh"] == "double precision"
    periods = await columns(conn, "inverter_periods")
    assert list(periods) == PERIODS.names
    assert list(await columns(conn, "inverter")) == INVERTERS.names
    assert (periods["total_energy_kwh"], periods["inverter_count"]) == (
        "double precision",
        "integer",
    )
    assert (await columns(conn, "inverter"))["inverter_id"] == "bigint"
    # SQL on the table sees instants: the plant's first period began at its unix_time.
    first = await conn.fetchval(
        "SELECT extract(epoch FROM start)::bigint = unix_time FROM meter ORDER BY unix_time"
    )
    assert first is True
    assert await conn.fetchval("SELECT max(version) FROM schema_version") == SCHEMA_VERSION


async def test_a_newer_library_upgrades_in_one_transaction(
    postgres_dsn: str, conn: asyncpg.Connection[Any]
) -> None:
    page = meter_pages()[0]
    async with PostgresStore(postgres_dsn) as store:
        await store.add_plant(KEY)
        await store.commit_page(KEY, Endpoint.METER, page, page_state(page), now=1.0)
    with pytest.raises(asyncpg.UndefinedTableError, match="nowhere"):
        await BrokenUpgradeStore(postgres_dsn).open()
    assert await conn.fetchval("SELECT max(version) FROM schema_version") == SCHEMA_VERSION
    assert "note" not in await columns(conn, "plants")  # rolled back
    async with NewerStore(postgres_dsn) as newer:
        assert await newer.state(KEY, Endpoint.METER) == page_state(page)
    assert await conn.fetchval("SELECT max(version) FROM schema_version") == SCHEMA_VERSION + 1
    assert "note" in await columns(conn, "plants")
    assert await conn.fetchval("SELECT count(*) FROM meter") == len(page)
    refusal = rf"schema version {SCHEMA_VERSION + 1} is newer .* \({SCHEMA_VERSION}\)"
    with pytest.raises(SchemaVersionError, match=refusal):
        await PostgresStore(postgres_dsn).open()
    assert await conn.fetchval("SELECT max(version) FROM schema_version") == SCHEMA_VERSION + 1
    async with NewerStore(postgres_dsn):
        pass


async def test_workers_opening_together_migrate_once(postgres_dsn: str) -> None:
    stores = [PostgresStore(postgres_dsn) for _ in range(4)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        assert await stores[0].plants() == []
    finally:
        await asyncio.gather(*(store.close() for store in stores))


async def test_a_database_with_other_tables_is_refused_only_on_a_clash(
    postgres_dsn: str, conn: asyncpg.Connection[Any]
) -> None:
    await conn.execute("CREATE TABLE invoices (x int)")  # the rest of the stack's tables
    async with PostgresStore(postgres_dsn) as store:
        assert await store.plants() == []
    await conn.execute("DROP TABLE schema_version")
    with pytest.raises(SchemaVersionError, match=r"\(.*meter.*\) but no schema_version"):
        await PostgresStore(postgres_dsn).open()


async def test_a_schema_of_its_own_through_the_dsn(
    postgres_dsn: str, conn: asyncpg.Connection[Any]
) -> None:
    await conn.execute("CREATE SCHEMA lacecal")
    async with PostgresStore(f"{postgres_dsn}?search_path=lacecal") as store:
        await store.add_plant(KEY)
    assert await conn.fetchval("SELECT count(*) FROM lacecal.plants") == 1
    assert await conn.fetchval("SELECT to_regclass('public.plants')") is None


async def test_two_workers_committing_one_plant_lose_nothing(postgres_dsn: str) -> None:
    """Interleaved pages of one plant from two connections: every row, exactly the holes."""
    records = PLANT.meter_records(PLANT.first, (PLANT.latest or 0) + 1)
    evens, odds = records[0::2], records[1::2]
    one, two = PostgresStore(postgres_dsn), PostgresStore(postgres_dsn)
    async with one, two:
        await one.add_plant(KEY)
        await two.add_plant(KEY)  # idempotent from another connection too

        async def commit(store: PostgresStore, part: list[Any]) -> None:
            for i in range(0, len(part), 3):
                page = part[i : i + 3]
                await store.commit_page(KEY, Endpoint.METER, page, page_state(page), now=1.0)

        await asyncio.gather(commit(one, evens), commit(two, odds))
        await asyncio.gather(
            *(
                store.record_error(KEY, Endpoint.INVERTER, "boom", None, now=2.0)
                for store in (one, two)
                for _ in range(10)
            )
        )
        stored = [r async for _, batch in one.read_records(Endpoint.METER) for r in batch]
        assert stored == records
        holes = await one.holes(KEY, Endpoint.METER)
        gaps = PLANT.gaps
        assert [(h.start, h.end) for h in holes] == [
            (g[0], g[1]) for g in gaps if PLANT.first < g[0] < (PLANT.latest or 0)
        ]
        state = await two.state(KEY, Endpoint.INVERTER)
        assert state is not None
        assert state.failures == 20


async def test_the_repr_and_errors_never_show_a_password(postgres_dsn: str) -> None:
    dsn = postgres_dsn.replace("postgres@", "postgres:Sup3rS3cret@")
    store = PostgresStore(dsn)
    assert "Sup3rS3cret" not in repr(store)
    with pytest.raises(StoreError, match="not open") as caught:
        await store.plants()
    assert "Sup3rS3cret" not in str(caught.value)
    assert "127.0.0.1" in repr(store)
    assert "Sup3rS3cret" not in repr(PostgresStore("postgresql://u:Sup3rS3cret@[::1"))


async def test_without_asyncpg_opening_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(StoreError, match=r"pip install 'lacecal_async\[postgres\]'"):
        await PostgresStore("postgresql://127.0.0.1/x").open()


def test_a_state_of_a_page_before_its_rows_is_typed(postgres_dsn: str) -> None:
    # SyncState holds Python numbers whatever the database's types (bigint, double).
    async def run() -> SyncState | None:
        async with PostgresStore(postgres_dsn) as store:
            await store.add_plant(KEY)
            await store.commit_page(
                KEY, Endpoint.METER, [], SyncState(next_poll=1.5, latest=7), now=1.0
            )
            return await store.state(KEY, Endpoint.METER)

    assert asyncio.run(run()) == SyncState(latest=7, next_poll=1.5)


def test_the_server_binaries_can_be_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    real = find_postgres_bin()
    monkeypatch.setenv("LACECAL_PG_BIN", str(real))
    assert find_postgres_bin() == real
    monkeypatch.setenv("LACECAL_PG_BIN", str(tmp_path))
    with pytest.raises(PostgresUnavailableError, match="holds no initdb"):
        find_postgres_bin()
    with pytest.raises(PostgresUnavailableError, match="holds no initdb"):
        TemporaryPostgres()
    monkeypatch.delenv("LACECAL_PG_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("lacecal_async.testing.postgres._VERSIONS_ROOT", tmp_path)
    with pytest.raises(PostgresUnavailableError, match="install postgresql"):
        find_postgres_bin()


def test_a_temporary_server_starts_stops_and_leaves_nothing(
    postgres_server: TemporaryPostgres,
) -> None:
    with TemporaryPostgres() as server:
        directory = server.directory
        assert directory is not None
        assert directory.exists()

        async def version() -> str:
            connection = await asyncpg.connect(server.dsn)
            try:
                return str(await connection.fetchval("SHOW server_version"))
            finally:
                await connection.close()

        assert asyncio.run(version()).split(".")[0] == find_postgres_bin().parent.name
    assert not directory.exists()
    server.stop()  # twice: nothing happens


def test_a_server_that_cannot_start_is_unavailable_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Binaries that fail as a broken install would (as root they run as "postgres": the
    # directory must be readable by that user, which pytest's tmp_path is not).
    bin_dir = Path(tempfile.mkdtemp(prefix="lacecal-fake-pg-bin-"))
    try:
        bin_dir.chmod(0o755)
        for name, script in (
            ("initdb", "exit 0"),
            ("pg_ctl", "echo 'no such cluster' >&2; exit 3"),
        ):
            (bin_dir / name).write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
            (bin_dir / name).chmod(0o755)
        monkeypatch.setenv("LACECAL_PG_BIN", str(bin_dir))
        with pytest.raises(PostgresUnavailableError, match=r"pg_ctl failed \(3\): no such cluster"):
            with TemporaryPostgres():
                pass  # pragma: no cover - it does not start
    finally:
        shutil.rmtree(bin_dir)


class StatementPerStepStore(PostgresStore):
    """The store writing a page a statement per step (the core's way, SQLite's)."""

    _write_page = StoreCore._write_page


@pytest.mark.slow
async def test_one_statement_pages_store_what_a_statement_per_step_stores(
    postgres_dsn: str,
) -> None:
    """Shuffled, replayed and late pages of both endpoints: the same rows, holes and state."""
    import random  # noqa: PLC0415

    span = (PLANT.first, (PLANT.latest or 0) + 1)
    pages: list[tuple[Endpoint, list[Any]]] = []
    for endpoint, records in (
        (Endpoint.METER, PLANT.meter_records(*span)),
        (Endpoint.INVERTER, PLANT.inverter_records(*span)),
    ):
        pages += [(endpoint, records[i : i + 9]) for i in range(0, len(records), 9)]
    rng = random.Random(5)
    # Later pages first (holes seen, then filled by earlier pages), and some twice.
    order = pages[len(pages) // 2 :] + pages[: len(pages) // 2] + rng.sample(pages, 8)
    one, per_step = PostgresStore(postgres_dsn), StatementPerStepStore(postgres_dsn)
    async with one, per_step:
        for store, key in ((one, "one"), (per_step, "steps")):
            await store.add_plant("itr-000000000001" if key == "one" else "itr-000000000002", key)
            for n, (endpoint, page) in enumerate(order):
                state = SyncState(page[-1].unix_time, page[-1].interval, next_poll=n, failures=0)
                await store.commit_page(key, endpoint, page, state, now=float(n))

        async def seen(key: str) -> list[Any]:
            out: list[Any] = []
            for endpoint in (Endpoint.METER, Endpoint.INVERTER):
                out.append(await one.holes(key, endpoint))
                out.append(await one.state(key, endpoint))
                out.append(
                    [r async for _, b in one.read_records(endpoint, plants=[key]) for r in b]
                )
            return out

        got, expected = await seen("one"), await seen("steps")
    assert got == expected
    assert got[0]  # the meter's holes: some seen, with their schedule
    assert got[2] == PLANT.meter_records(*span)
    assert got[5] == PLANT.inverter_records(*span)


class _Version3Store(PostgresStore):
    """The store as the release before `leases.refused_by` went shipped it (schema 3)."""

    migrations: ClassVar[tuple[tuple[str, ...], ...]] = MIGRATIONS[:3]


async def test_a_version_3_store_loses_refused_by_and_keeps_its_refusals(
    postgres_dsn: str, conn: asyncpg.Connection[Any]
) -> None:
    page = meter_pages()[0]
    async with _Version3Store(postgres_dsn) as old:
        await old.add_plant(KEY)
        await old.commit_page(KEY, Endpoint.METER, page, page_state(page), now=1.0)
        await conn.execute("INSERT INTO workers VALUES ('a', now(), now(), now() + '1 hour')")
        await conn.execute("INSERT INTO lease_refusals VALUES ($1, 'a', now())", KEY)
        await conn.execute("UPDATE leases SET refused_by = 'a' WHERE plant = $1", KEY)
    assert "refused_by" in await columns(conn, "leases")
    async with PostgresStore(postgres_dsn) as store:
        (row,) = await store.status()
        assert (row.holder, row.refused_by, row.orphaned) == (None, ("a",), True)
        assert await store.state(KEY, Endpoint.METER) == page_state(page)
        assert await store.lease_plants("b", want=1, ttl=60.0) == [KEY]
        assert await store.release_leases("b", [KEY], refused=True) == [KEY]
    assert "refused_by" not in await columns(conn, "leases")
    assert await conn.fetchval("SELECT max(version) FROM schema_version") == SCHEMA_VERSION == 5
