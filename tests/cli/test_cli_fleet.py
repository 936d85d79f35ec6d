"""``lacecal sync`` with a PostgreSQL DSN: a fleet worker in process, ``--workers``, its checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async import LacecalClient, __version__, fingerprint
from lacecal_async.cli import main
from lacecal_async.cli.fleet import PLANTS_PER_PROCESS, default_workers, fleet_line, run_workers
from lacecal_async.cli.stores import is_dsn, shown
from lacecal_async.sync import FleetEvent, PostgresStore, SQLiteStore, StoreError
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.checks import DEADLINE
from tests.support.cli import following_fake_server
from tests.support.interrupting import latest_records, main_until


@pytest.fixture
def fake_server() -> Iterator[tuple[str, list[str], int]]:
    """A fake server in a child process: its URL, the identifiers, a `--since` for them."""
    with following_fake_server(2) as server:
        yield server


@pytest.mark.slow
def test_a_fleet_worker_in_process_until_sigterm(
    postgres_dsn: str, fake_server: tuple[str, list[str], int], capsys: pytest.CaptureFixture[str]
) -> None:
    url, itrs, start = fake_server
    keys = {"roof", fingerprint(itrs[1])}

    def both_synced() -> bool:
        stored = latest_records(postgres_dsn)
        return set(stored) == keys and all(stored.values())

    # The default --workers: one, in this process, for so small a fleet.
    code = main_until(
        [
            *("sync", postgres_dsn, f"roof={itrs[0]}", itrs[1], "--start", str(start)),
            *("--follow", "--endpoint", "meter", "--base-url", url, "--rate", "50/1"),
            *("--lease-ttl", "1s", "--progress", "plain"),
        ],
        both_synced,
        signum=signal.SIGTERM,
        every=0.1,
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "took 2 plants (share 2, 1 workers): itr-" in err
    assert "roof" in err
    assert "records committed by this run; run it again to resume" in err
    assert all(itr[-8:] not in err for itr in itrs)

    async def check() -> None:
        async with PostgresStore(postgres_dsn) as store:
            rows = {row.plant: row for row in await store.status()}
            assert set(rows) == {"roof", fingerprint(itrs[1])}
            assert all(row.latest_record is not None for row in rows.values())
            assert await store.leases() == {}

    asyncio.run(check())


def test_workers_are_checked(
    postgres_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    itr = make_plants(1, seed=1)[0].itr
    sqlite = str(tmp_path / "x.db")
    for db, options, message in [
        (sqlite, ["--follow", "--workers", "2"], "needs a PostgreSQL database"),
        (postgres_dsn, ["--workers", "2"], "--workers needs --follow"),
        (postgres_dsn, ["--follow", "--workers", "0"], "--workers is at least 1"),
    ]:
        assert main(["sync", db, itr, "--start", "0", *options]) == 2
        assert message in capsys.readouterr().err
    assert not Path(sqlite).exists()


def test_workers_refused_on_sqlite_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    itr = make_plants(1, seed=1)[0].itr
    db = str(tmp_path / "x.db")
    assert main(["sync", db, itr, "--start", "0", "--follow", "--workers", "2"]) == 2
    assert "SQLite has no leases" in capsys.readouterr().err
    assert main(["sync", db, itr, "--start", "0", "--lease-ttl", "0"]) == 2
    assert "--lease-ttl is a positive duration" in capsys.readouterr().err


def test_an_unreachable_database_is_one_line_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    itr = make_plants(1, seed=1)[0].itr
    dsn = "postgresql://lacecal:s3cretpass@127.0.0.1:9/fleet"
    assert main(["sync", dsn, itr, "--start", "0", "--follow", "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    assert "postgresql://127.0.0.1:9/fleet: cannot connect to" in err
    assert "s3cretpass" not in err
    assert is_dsn(dsn)
    assert shown(dsn) == "postgresql://127.0.0.1:9/fleet"
    assert shown("plants.db") == "plants.db"


@pytest.mark.slow
def test_run_workers_runs_the_command_n_times(
    tmp_path: Path, fake_server: tuple[str, list[str], int]
) -> None:
    url, itrs, start = fake_server
    dbs = [tmp_path / "a.db", tmp_path / "b.db"]
    # Each child syncs once (no --follow), the same command line: both write the one file.
    argv = [
        *("sync", str(dbs[0]), itrs[0], "--start", str(start), "--base-url", url, "-q"),
        *("--rate", "1000/1", "--endpoint", "meter"),
    ]
    assert run_workers(argv, 2) == 0
    bad = ["sync", str(dbs[1]), itrs[0], "--start", "not-a-time"]
    assert run_workers(bad, 2) == 2  # a child's usage error is the status

    async def latest() -> int | None:
        async with SQLiteStore(dbs[0]) as store:
            rows = await store.status()
            return rows[0].latest_record

    assert asyncio.run(latest()) is not None


def test_default_workers_and_fleet_lines() -> None:
    assert default_workers(PLANTS_PER_PROCESS, cores=2) == 1
    assert default_workers(PLANTS_PER_PROCESS + 1, cores=2) == 2
    assert default_workers(10_000, cores=0) == 1
    assert default_workers(10_000) >= 1
    many = tuple(f"p{i}" for i in range(7))
    took = fleet_line(FleetEvent("took", "w1", many, share=7, workers=2))
    assert took == "worker w1: took 7 plants (share 7, 2 workers): p0, p1, p2, p3, p4 and 2 more"
    assert fleet_line(FleetEvent("released", "w1", ("a",))) == "worker w1: gave back 1 plants: a"
    assert "no identifier for 1 leased plants (a)" in fleet_line(
        FleetEvent("no_identifier", "w1", ("a",))
    )
    assert fleet_line(FleetEvent("stopped", "w1", (), detail="x")) == "worker w1: stopped: x"
    assert fleet_line(FleetEvent("stopped", "w1", ("a",), detail="x")) == "worker w1: stopped a: x"


async def test_user_agent_names_the_worker() -> None:
    plant = make_plants(1, seed=2, days=1)[0]
    async with FakeLacecalServer([plant], rate_limit=None) as server:
        async with LacecalClient(base_url=server.base_url, user_agent="worker/w-1") as client:
            await client.latest_meter_record(plant.itr)
        async with LacecalClient(base_url=server.base_url) as client:
            await client.latest_meter_record(plant.itr)
        agents = [entry.user_agent for entry in server.stats(plant.itr).log]
    assert agents == [f"lacecal_async/{__version__} worker/w-1", f"lacecal_async/{__version__}"]
    for bad in ("", " x", "x\r\nX-Evil: 1", "é", "x" * 201):
        with pytest.raises(ValueError, match="user_agent"):
            LacecalClient(user_agent=bad)


def test_status_of_a_postgresql_database_matches_sqlite(
    postgres_dsn: str,
    fake_server: tuple[str, list[str], int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, itrs, start = fake_server
    sqlite = str(tmp_path / "same.db")
    for db in (postgres_dsn, sqlite):
        argv = [
            *("sync", db, f"roof={itrs[0]}", itrs[1], "--start", str(start), "-q"),
            *("--base-url", url, "--rate", "1000/1", "--endpoint", "meter"),
        ]
        assert main(argv) == 0
    capsys.readouterr()

    def rows(db: str) -> list[dict[str, object]]:
        assert main(["status", db, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        for row in out:  # depend on when each ran: the data keeps coming
            for key in ("latest_record", "latest", "lag_s", "next_poll"):
                row.pop(key)
        return sorted(out, key=lambda row: str(row["plant"]))

    pg = rows(postgres_dsn)
    assert pg == rows(sqlite)
    assert [row["plant"] for row in pg] == sorted(["roof", fingerprint(itrs[1])])
    assert all(row["first_record"] == start and row["holes"] == 0 for row in pg)
    assert main(["status", postgres_dsn]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["plant", "endpoint", "first"]
    assert [line.split()[:2] for line in table[1:-1]] == [
        [fingerprint(itrs[1]), "meter"],
        ["roof", "meter"],
    ]
    assert table[-1] == "OK: 2 plant endpoints in order"
    for itr in itrs:
        assert itr[:8] not in "\n".join(table)


def test_status_of_an_unreachable_postgresql_database_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = "postgresql://lacecal:s3cretpass@127.0.0.1:9/fleet"
    assert main(["status", dsn]) == 3  # UNKNOWN
    err = capsys.readouterr().err
    assert err.startswith("lacecal: error: postgresql://127.0.0.1:9/fleet: cannot connect to")
    assert err.count("\n") == 1
    assert "s3cretpass" not in err


@contextlib.contextmanager
def _plain_follow_holding(dsn: str) -> Iterator[None]:
    """Hold `dsn`'s follow lock as a library user's plain `follow` does, on a thread."""
    held, leave = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    async def hold() -> None:
        async with PostgresStore(dsn) as store, store.following():
            held.set()
            await asyncio.to_thread(leave.wait)

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as exc:  # reported by the waiting test
            failed.append(exc)
            held.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert held.wait(DEADLINE), "the follow lock was never taken"
        assert not failed, failed
        yield
    finally:
        leave.set()
        thread.join()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_fleet_workers_beside_a_plain_follow_are_refused(
    workers: str,
    postgres_dsn: str,
    fake_server: tuple[str, list[str], int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, itrs, start = fake_server

    def leased() -> bool:
        async def leases() -> dict[str, str]:
            async with PostgresStore(postgres_dsn, create=False) as store:
                return await store.leases()

        try:
            return bool(asyncio.run(leases()))
        except StoreError:  # no store yet
            return False

    with _plain_follow_holding(postgres_dsn):
        # A worker that ran would take the plant: then stopped, it would exit 0, not 1.
        code = main_until(
            [
                *("sync", postgres_dsn, itrs[0], "--start", str(start), "--follow"),
                *("--endpoint", "meter", "--base-url", url, "--workers", workers),
                *("--progress", "plain"),
            ],
            leased,
            signum=signal.SIGTERM,
            every=0.1,
        )
    err = capsys.readouterr().err
    assert code == 1, err
    refusals = [line for line in err.splitlines() if "a plain follow runs" in line]
    assert len(refusals) == 1, err
    assert "lacecal: error: " in refusals[0]
    assert "stop it first" in refusals[0]
    assert "restart" not in err  # the parent refused before starting any worker
    assert all(itr[-8:] not in err for itr in itrs)
