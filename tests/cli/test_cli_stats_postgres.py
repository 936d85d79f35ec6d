"""``lacecal stats`` on a PostgreSQL store: the same rows as on SQLite.

Both stores are synced by ``lacecal sync`` from the same fake server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async.cli import main
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support.cli import FAST, threaded_server

PLANTS = make_plants(2, seed=15, start=1729720800, days=6)  # 2024-10-24 local, DST on the 27th


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server(PLANTS) as fake:
        yield fake


def sync(server: FakeLacecalServer, db: str) -> None:
    plants = [f"p{i}={p.itr}" for i, p in enumerate(PLANTS)]
    args = ["sync", db, *plants, "--start", "1729720800", "--base-url", server.base_url]
    assert main([*args, "--rate", FAST, "--endpoint", "all", "-q"]) == 0


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--by", "day", "--endpoint", "inverter"], "days.csv"),
        (["--by", "hour", "--tz", "Europe/Madrid"], "hours.json"),
    ],
)
def test_stats_reads_a_postgresql_store_as_it_reads_sqlite(
    server: FakeLacecalServer,
    postgres_dsn: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *,
    args: list[str],
    name: str,
) -> None:
    lite = str(tmp_path / "sync.db")
    sync(server, lite)
    sync(server, postgres_dsn)
    capsys.readouterr()
    common = ["--start", "2024-10-24", *args, "-q"]
    assert main(["stats", lite, *common, "-o", str(tmp_path / f"lite-{name}")]) == 0
    assert main(["stats", postgres_dsn, *common, "-o", str(tmp_path / f"pg-{name}")]) == 0
    ours = (tmp_path / f"lite-{name}").read_text(encoding="utf-8")
    assert (tmp_path / f"pg-{name}").read_text(encoding="utf-8") == ours
    if name.endswith(".json"):
        assert len(json.loads(ours)) == 40  # 20 meter quantities of 2 plants
    else:
        companion = "days.inverters.csv"
        assert (tmp_path / f"pg-{companion}").read_text() == (
            tmp_path / f"lite-{companion}"
        ).read_text()
    assert capsys.readouterr().err == ""  # -q: nothing but errors
