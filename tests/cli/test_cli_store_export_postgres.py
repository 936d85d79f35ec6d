"""``lacecal export`` from a PostgreSQL store: the same output as from SQLite, no password shown.

Review 2, finding 03: a DSN was taken for a file path and printed back, password included.
Both stores are filled with the same records over HTTP from the fake server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async import PageEvent, fingerprint
from lacecal_async.cli import main
from lacecal_async.client import LacecalClient
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import PostgresStore, SQLiteStore, Store, SyncState
from lacecal_async.testing import FakeLacecalServer
from tests.support.cli import PLANTS, START, threaded_server

SOURCE = PLANTS[:2]
STORED = (START, START + 86400)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server(SOURCE) as fake:
        yield fake


async def _fill(store: Store, base_url: str) -> None:
    async with store, LacecalClient(base_url=base_url, rate_limit=(100, 0.1)) as client:
        keys = {
            p.itr: await store.add_plant(fingerprint(p.itr), f"p{i}") for i, p in enumerate(SOURCE)
        }
        for endpoint in (Endpoint.METER, Endpoint.INVERTER):
            async for event in client.stream_many(list(keys), endpoint, *STORED):
                if isinstance(event, PageEvent) and event.records:
                    last = event.records[-1]
                    state = SyncState(latest=last.unix_time, interval=last.interval)
                    await store.commit_page(
                        keys[event.itr_id], endpoint, event.records, state, now=1.0
                    )


@pytest.mark.parametrize("endpoint", ["meter", "inverter"])
def test_export_reads_a_postgresql_store_as_it_reads_sqlite(
    server: FakeLacecalServer, postgres_dsn: str, tmp_path: Path, endpoint: str
) -> None:
    db = tmp_path / "sync.db"
    asyncio.run(_fill(SQLiteStore(db), server.base_url))
    asyncio.run(_fill(PostgresStore(postgres_dsn), server.base_url))
    common = ["--endpoint", endpoint, "--plant", "p1", "--plant", "p0", "-q"]
    assert main(["export", str(db), *common, "-o", str(tmp_path / "lite.csv")]) == 0
    assert main(["export", postgres_dsn, *common, "-o", str(tmp_path / "pg.csv")]) == 0
    lite = (tmp_path / "lite.csv").read_text()
    assert lite.count("\n") > 100
    assert (tmp_path / "pg.csv").read_text() == lite
    if endpoint == "inverter":
        pg_periods = (tmp_path / "pg.periods.csv").read_text()
        assert pg_periods == (tmp_path / "lite.periods.csv").read_text()


def test_export_never_prints_a_dsn_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = "postgresql://bob:S3cretPassw0rd@127.0.0.1:1/db"
    assert main(["export", dsn, "-o", str(tmp_path / "y.csv")]) == 1
    err = capsys.readouterr().err
    assert "S3cretPassw0rd" not in err
    assert "127.0.0.1:1" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "y.csv").exists()
