"""``lacecal sync`` without ``--start``: a rerun or a daemon's restart of known plants.

``--start`` only says where a plant new to the database begins; every plant with sync state
ignores it. It was required all the same, so a systemd unit had to carry a start date that
meant nothing after its first run. Now it is needed only while a plant is new: the run then
stops before any request with a usage error naming the new plants (never an identifier).
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async.cli import main
from lacecal_async.sync import PostgresStore
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.cli import FAST, PLANTS, START, assert_no_secret, threaded_server
from tests.support.interrupting import main_until

KNOWN, NEW = PLANTS[0], PLANTS[1]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server([KNOWN, NEW]) as fake:
        yield fake


def sync_args(server: FakeLacecalServer, db: str, *plants: str) -> list[str]:
    return [
        "sync", db, *plants, "--base-url", server.base_url, "--rate", FAST,
        "--endpoint", "meter", "-q",
    ]  # fmt: skip


def stored(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT plant, count(*) FROM meter GROUP BY plant")
        counts = dict(rows.fetchall())
    connection.close()
    return counts


def test_known_plants_resume_without_start(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "plants.db"
    later = START + 2 * 86400
    first = sync_args(server, str(db), f"roof={KNOWN.itr}")
    assert main([*first, "--start", str(later)]) == 0
    before = stored(db)["roof"]
    # Dropping the newest day: the rerun without --start takes it again, and only it.
    with sqlite3.connect(db) as connection:
        cut = connection.execute("SELECT max(unix_time) FROM meter").fetchone()[0] - 86400
        connection.execute("DELETE FROM meter WHERE unix_time > ?", (cut,))
        connection.execute("UPDATE sync_state SET latest = ? WHERE plant = 'roof'", (cut,))
    connection.close()
    capsys.readouterr()
    assert main(first) == 0
    assert stored(db) == {"roof": before}
    err = capsys.readouterr().err
    assert err == "lacecal: 1 of 1 plants up to date; 144 records committed by this run\n"


def test_a_new_plant_without_start_is_a_usage_error_naming_it(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "plants.db"
    assert main([*sync_args(server, str(db), f"roof={KNOWN.itr}"), "--start", str(START)]) == 0
    counts = stored(db)
    capsys.readouterr()
    requests = [server.stats(p.itr).requests for p in (KNOWN, NEW)]
    assert main(sync_args(server, str(db), f"roof={KNOWN.itr}", NEW.itr)) == 2
    err = capsys.readouterr().err
    assert err.startswith("lacecal: error: --start is needed: 1 of 2 plants are new to "), err
    assert err.rstrip().endswith(f"(no sync state): ...{NEW.itr[-4:]}"), err  # as sync shows it
    assert_no_secret(err, [KNOWN.itr, NEW.itr])
    assert [server.stats(p.itr).requests for p in (KNOWN, NEW)] == requests  # none sent
    assert stored(db) == counts
    with sqlite3.connect(db) as connection:  # nor was the new plant registered
        plants = [row[0] for row in connection.execute("SELECT plant FROM plants")]
    connection.close()
    assert plants == ["roof"]


def test_many_new_plants_are_counted_and_five_named(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "plants.db"
    assert main([*sync_args(server, str(db), f"p0={KNOWN.itr}"), "--start", str(START)]) == 0
    capsys.readouterr()
    aliases = [f"new{n}={plant.itr}" for n, plant in enumerate(make_plants(7, seed=77))]
    assert main(sync_args(server, str(db), f"p0={KNOWN.itr}", *aliases)) == 2
    err = capsys.readouterr().err
    assert "7 of 8 plants are new to" in err, err
    assert err.rstrip().endswith("new0, new1, new2, new3, new4 and 2 more"), err


def test_without_start_a_missing_sqlite_file_is_neither_created_nor_synced(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "new.db"
    assert main(sync_args(server, str(db), KNOWN.itr)) == 2
    err = capsys.readouterr().err
    assert f"--start is needed: {db} holds no lacecal store yet, so every plant is new" in err
    assert not db.exists()


def test_without_start_an_empty_postgresql_database_is_left_as_it_was(
    server: FakeLacecalServer, postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(sync_args(server, postgres_dsn, KNOWN.itr)) == 2
    assert "--start is needed:" in capsys.readouterr().err
    # Nothing was created: a status of it still finds no store (exit 3, UNKNOWN).
    assert main(["status", postgres_dsn]) == 3
    assert "no lacecal store in this database" in capsys.readouterr().err
    assert main([*sync_args(server, postgres_dsn, f"roof={KNOWN.itr}"), "--start", "now"]) == 0
    assert main(sync_args(server, postgres_dsn, f"roof={KNOWN.itr}")) == 0


@pytest.mark.parametrize("start", [["--start", str(START)], []], ids=["start", "no-start"])
def test_a_fleet_worker_given_a_bare_identifier_of_an_aliased_plant_follows_it(
    server: FakeLacecalServer,
    postgres_dsn: str,
    start: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The fleet's way: the store holds aliases, each worker only identifiers (LACECAL_ITR).
    assert main([*sync_args(server, postgres_dsn, f"roof={KNOWN.itr}"), "--start", str(START)]) == 0
    capsys.readouterr()
    before = server.stats(KNOWN.itr).requests
    argv = [*sync_args(server, postgres_dsn, KNOWN.itr), *start, "--follow", "--lease-ttl", "1s"]
    code = main_until(
        argv, lambda: server.stats(KNOWN.itr).requests > before, signum=signal.SIGTERM
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert server.stats(KNOWN.itr).requests > before, err
    assert_no_secret(err, [KNOWN.itr])

    async def plants() -> list[str]:
        async with PostgresStore(postgres_dsn, create=False) as store:
            return [entry.plant for entry in await store.plants()]

    assert asyncio.run(plants()) == ["roof"]  # still under its alias, nothing added


def test_known_plants_in_an_older_store_resume_without_start(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A systemd unit that dropped --start, after a package upgrade: its store is older.
    db = tmp_path / "plants.db"
    first = sync_args(server, str(db), f"roof={KNOWN.itr}")
    assert main([*first, "--start", str(START)]) == 0
    counts = stored(db)
    with sqlite3.connect(db) as connection:  # back to schema 1, as an older version made it
        connection.execute("DROP TABLE inventory_state")
        for column in ("future_record", "future_seen_at", "future_removed"):
            connection.execute(f"ALTER TABLE sync_state DROP COLUMN {column}")
        connection.execute("PRAGMA user_version = 1")
    connection.close()
    capsys.readouterr()
    assert main(first) == 0, capsys.readouterr().err
    assert stored(db) == counts
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == 2
    connection.close()
    # A plant new to it is refused as new, not as the store's.
    assert main(sync_args(server, str(db), f"roof={KNOWN.itr}", NEW.itr)) == 2
    assert "1 of 2 plants are new to" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--workers", "0"], "--workers is at least 1"),
        (["--workers", "2"], "--workers needs --follow"),
        (["--start", "soon", "--lookback", "often"], "invalid time 'soon'"),
    ],
)
def test_usage_errors_come_before_the_database_is_read(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on port 9: a check of the database first would fail there (exit 1).
    dsn = "postgresql://lacecal:s3cretpass@127.0.0.1:9/fleet"
    assert main(["sync", dsn, KNOWN.itr, "--timeout", "1", *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lacecal: error: "), err
    assert err.count("\n") == 1, err  # one line
    assert message in err, err


def test_workers_on_sqlite_is_refused_as_such_without_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "new.db"
    assert main(["sync", str(db), KNOWN.itr, "--follow", "--workers", "2"]) == 2
    assert "SQLite has no leases" in capsys.readouterr().err
    assert not db.exists()


def test_a_plant_new_to_an_endpoint_only_is_named_with_it(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Meter-only so far: --endpoint all (or inverter) starts the inverters, which need --start.
    db = tmp_path / "plants.db"
    assert main([*sync_args(server, str(db), f"roof={KNOWN.itr}"), "--start", str(START)]) == 0
    capsys.readouterr()
    requests = server.stats(KNOWN.itr).requests
    for endpoint in ("all", "inverter"):
        argv = [*sync_args(server, str(db), f"roof={KNOWN.itr}"), "--endpoint", endpoint]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.rstrip().endswith(
            "1 of 1 plants are new to " + f"{db} (no sync state): roof (inverter)"
        ), err
    assert server.stats(KNOWN.itr).requests == requests


def test_the_database_named_in_the_error_shows_no_part_of_an_identifier(
    server: FakeLacecalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A file named after a plant: 8 characters of an identifier are hidden, as elsewhere.
    db = tmp_path / f"plant-{NEW.itr[3:12].lower()}.db"
    assert main(sync_args(server, str(db), NEW.itr)) == 2  # no store yet
    assert main([*sync_args(server, str(db), f"roof={KNOWN.itr}"), "--start", str(START)]) == 0
    assert main(sync_args(server, str(db), f"roof={KNOWN.itr}", NEW.itr)) == 2  # a new plant
    err = capsys.readouterr().err
    assert err.count("--start is needed: ") == 2, err
    for part in (NEW.itr[i : i + 8].lower() for i in range(len(NEW.itr) - 7)):
        assert part not in err.lower(), err
