"""``lacecal export``: a sync store's range written as ``lacecal fetch`` writes it.

The store is filled through its API with the records the fake server sends over HTTP;
``lacecal fetch`` writes the same range from the same server. Both outputs must hold the
same lines (or Parquet tables), each plant's in the same order.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async import PageEvent, fingerprint
from lacecal_async.cli import main
from lacecal_async.client import LacecalClient
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import SQLiteStore, SyncState
from lacecal_async.testing import FakeLacecalServer
from tests.support.cli import FAST, PLANTS, START, assert_no_secret, secrets, threaded_server
from tests.support.commands import run

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

SOURCE = PLANTS[:3]  # 600 and 900 s periods, a single-phase plant, gaps
ALIASES = [f"p{i}" for i in range(len(SOURCE))]
STORED = (START, START + 2 * 86400)
#: The range exported and fetched: inside what the store holds, not on a day boundary.
SPAN = (START + 5 * 3600, START + 30 * 3600)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLacecalServer]:
    with threaded_server(SOURCE) as fake:
        yield fake


async def _fill(db: Path, base_url: str) -> None:
    """Store both endpoints of every plant over `STORED`, page by page, as a sync does."""
    async with (
        SQLiteStore(db) as store,
        LacecalClient(base_url=base_url, rate_limit=(100, 0.1)) as client,
    ):
        keys = {
            p.itr: await store.add_plant(fingerprint(p.itr), alias)
            for p, alias in zip(SOURCE, ALIASES, strict=True)
        }
        for endpoint in (Endpoint.METER, Endpoint.INVERTER):
            async for event in client.stream_many(list(keys), endpoint, *STORED):
                if isinstance(event, PageEvent) and event.records:
                    last = event.records[-1]
                    state = SyncState(latest=last.unix_time, interval=last.interval)
                    await store.commit_page(
                        keys[event.itr_id], endpoint, event.records, state, now=1.0
                    )


@pytest.fixture(scope="module")
def store_db(server: FakeLacecalServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("store") / "sync.db"
    asyncio.run(_fill(db, server.base_url))
    return db


def fetch_args(server: FakeLacecalServer, endpoint: str, out: Path) -> list[str]:
    plants = [f"{alias}={p.itr}" for alias, p in zip(ALIASES, SOURCE, strict=True)]
    return [
        "fetch", "--endpoint", endpoint, *plants, "--start", str(SPAN[0]), "--end", str(SPAN[1]),
        "--base-url", server.base_url, "--rate", FAST, "-q", "-o", str(out),
    ]  # fmt: skip


def export_args(db: Path, endpoint: str, out: Path, *extra: str) -> list[str]:
    return [
        "export", str(db), "--endpoint", endpoint, "--start", str(SPAN[0]),
        "--end", str(SPAN[1]), "-o", str(out), *extra,
    ]  # fmt: skip


def companions(path: Path) -> list[Path]:
    """The file and, for an inverter export, its periods file beside it."""
    periods = path.with_name(f"{path.stem}.periods{path.suffix}")
    return [path, periods] if periods.exists() else [path]


def plant_of(line: str, ext: str) -> str:
    return str(json.loads(line)["plant"]) if ext == "jsonl" else line.split(",", 1)[0]


def lines_per_plant(path: Path, ext: str) -> tuple[str, dict[str, list[str]]]:
    """The header (CSV) and each plant's lines in file order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines.pop(0) if ext == "csv" else ""
    grouped: dict[str, list[str]] = {}
    for line in lines:
        grouped.setdefault(plant_of(line, ext), []).append(line)
    return header, grouped


def assert_same_output(fetched: Path, exported: Path, ext: str) -> None:
    files = list(zip(companions(fetched), companions(exported), strict=True))
    for got, want in files:
        if ext == "parquet":
            a, b = pq.read_table(got), pq.read_table(want)
            assert a.schema == b.schema
            keys = [(name, "ascending") for name in a.column_names[:2]]
            if "inverter_id" in a.column_names:
                keys.append(("inverter_id", "ascending"))
            assert a.sort_by(keys).equals(b.sort_by(keys))
            assert a.num_rows > 0
            # The export's rows come in plant and time order.
            plants, times = b.column("plant").to_pylist(), b.column("unix_time").to_pylist()
            rows = list(zip(plants, times, strict=True))
            assert rows == sorted(rows)
            continue
        header, by_plant = lines_per_plant(got, ext)
        header_exported, by_plant_exported = lines_per_plant(want, ext)
        assert header == header_exported
        assert by_plant == by_plant_exported
        assert set(by_plant) == set(ALIASES)
        text = want.read_text(encoding="utf-8").splitlines()[1 if ext == "csv" else 0 :]
        assert [plant_of(line, ext) for line in text] == sorted(plant_of(x, ext) for x in text)
    assert len(files) == (2 if ext != "jsonl" and "inverter" in fetched.name else 1)


@pytest.mark.parametrize("endpoint", ["meter", "inverter"])
@pytest.mark.parametrize("ext", ["csv", "jsonl", "parquet"])
def test_export_writes_what_fetch_writes(  # noqa: PLR0917 - fixtures
    server: FakeLacecalServer,
    store_db: Path,
    tmp_path: Path,
    endpoint: str,
    ext: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fetched, exported = tmp_path / f"{endpoint}.{ext}", tmp_path / f"out-{endpoint}.{ext}"
    assert main(fetch_args(server, endpoint, fetched)) == 0
    assert main(export_args(store_db, endpoint, exported)) == 0
    assert_same_output(fetched, exported, ext)
    for file in companions(exported):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    err = capsys.readouterr().err
    assert "periods written:" in err
    assert f"rows to {exported}" in err
    # Refused without --force, replaced with it.
    assert main(export_args(store_db, endpoint, exported)) == 2
    assert "--force overwrites it" in capsys.readouterr().err
    assert main(export_args(store_db, endpoint, exported, "--force", "-q")) == 0
    assert capsys.readouterr().err == ""
    assert_same_output(fetched, exported, ext)


def test_export_of_some_plants_to_stdout(
    store_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(store_db), "--plant", "p2", "--plant", "p0", "-q"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {line["plant"] for line in lines} == {"p0", "p2"}
    assert [line["plant"] for line in lines] == sorted(line["plant"] for line in lines)
    times = [line["unix_time"] for line in lines]
    assert min(times) >= STORED[0]
    assert max(times) < STORED[1]
    # Without --start and --end: everything stored, so more than the fetch span.
    assert min(times) < SPAN[0]
    assert main(["export", str(store_db), "--endpoint", "inverter", "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("plant,unix_time,start,utc_offset_s,interval_s,inverter_id,")
    assert "totals (total_energy_kwh) go beside an output file only" in err


def test_export_refusals(
    store_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    assert main(["export", str(tmp_path / "none.db"), "-o", str(out)]) == 2
    assert "no such store" in capsys.readouterr().err
    assert main(["export", str(store_db), "--plant", "nobody", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no plant 'nobody' (its plants: p0, p1, p2)" in err
    assert not out.exists()  # nothing created before the store was checked
    assert main(["export", str(store_db), "--start", "2024-10-02", "--end", "2024-10-01"]) == 2
    assert "--end is before --start" in capsys.readouterr().err
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 300, encoding="utf-8")
    assert main(["export", str(notes), "-o", str(out)]) == 2
    assert "not an SQLite database" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_export_as_a_subprocess(store_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "inverter.parquet"
    done = run(*export_args(store_db, "inverter", out), "--plant", "p1")
    assert done.returncode == 0, done.stderr
    assert f"rows to {out}" in done.stderr
    periods = tmp_path / "inverter.periods.parquet"
    assert [stat.S_IMODE(p.stat().st_mode) for p in (out, periods)] == [0o600, 0o600]
    table = pq.read_table(periods)
    assert set(table.column("plant").to_pylist()) == {"p1"}
    assert table.schema.field("start").type == pa.timestamp("ms", tz="UTC")
    plant = SOURCE[1]
    want = [r.unix_time for r in plant.inverter_records(*SPAN)]
    assert table.column("unix_time").to_pylist() == want
    again = run(*export_args(store_db, "inverter", out))
    assert again.returncode == 2
    assert "exists" in again.stderr
    for text in (done.stdout, done.stderr, again.stderr):
        assert_no_secret(text, secrets(SOURCE))
    help_text = run("export", "--help")
    assert help_text.returncode == 0
    assert "--endpoint {meter,inverter}" in help_text.stdout
    assert os.fspath(store_db) not in help_text.stdout


def test_a_damaged_store_or_a_full_disk_is_exit_1(
    store_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if Path("/dev/full").exists():
        assert main(["export", str(store_db), "-o", "/dev/full"]) == 1
        assert "No space left on device" in capsys.readouterr().err
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(store_db.read_bytes())
    db = sqlite3.connect(damaged)
    db.execute("DROP TABLE inverter")
    db.close()
    assert main(["export", str(damaged), "--endpoint", "inverter", "-o", "-"]) == 1
    assert f"cannot read {damaged}: the store's schema is damaged (no such table: inverter)" in (
        capsys.readouterr().err
    )
