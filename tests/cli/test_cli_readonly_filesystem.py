"""``lacecal status`` and ``lacecal export`` read a store on a read-only file system.

Before, both failed with "unable to open database file": SQLite could not make the store's
-shm file (WAL mode needs one) beside it. Now a reader opens such a store read-only, as
immutable when no writer made a -shm file (none can be at work on a read-only file system).

Read-only for real: as root (whom permissions do not stop) a read-only bind mount of the
store's directory, elsewhere a directory and file without write permission.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lacecal_async import fingerprint
from lacecal_async.cli import main
from lacecal_async.endpoints import Endpoint
from lacecal_async.sync import SQLiteStore, SyncState
from lacecal_async.testing import make_plants
from tests.support import processes

PLANT = make_plants(1, seed=3, days=2)[0]
RECORDS = PLANT.meter_records(PLANT.first, PLANT.first + 100 * PLANT.interval)


async def _store(path: Path) -> str:
    async with SQLiteStore(path) as store:
        key = await store.add_plant(fingerprint(PLANT.itr), "roof")
        state = SyncState(latest=RECORDS[-1].unix_time, interval=PLANT.interval)
        await store.commit_page(key, Endpoint.METER, RECORDS, state, now=1.0)
    return key


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[Path]:
    """A store in a directory no one may write to (the -wal and -shm files gone)."""
    source = tmp_path / "source"
    source.mkdir()
    asyncio.run(_store(source / "s.db"))
    assert sorted(p.name for p in source.iterdir()) == ["s.db"]  # closed cleanly
    if os.geteuid() != 0:
        (source / "s.db").chmod(0o444)
        source.chmod(0o555)
        try:
            yield source / "s.db"
        finally:
            source.chmod(0o755)
        return
    mount, umount = shutil.which("mount"), shutil.which("umount")
    view = tmp_path / "view"
    view.mkdir()
    if mount is None or umount is None:
        pytest.skip("as root a read-only store needs a read-only bind mount: no mount(8)")
    done = processes.run([mount, "--bind", str(source), str(view)])
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    try:
        done = processes.run([mount, "-o", "remount,bind,ro", str(view)])
        if done.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {done.stderr.strip()}")
        yield view / "s.db"
    finally:
        processes.run([umount, str(view)])


def test_status_reads_a_store_on_a_read_only_file_system(
    read_only_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (read_only_store.parent / "probe").exists() is False
    with pytest.raises(OSError, match=r"(?i)read-only|permission"):
        (read_only_store.parent / "probe").touch()
    assert main(["status", str(read_only_store), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert '"plant": "roof"' in out
    assert f'"latest_record": {RECORDS[-1].unix_time}' in out


def test_export_reads_a_store_on_a_read_only_file_system(
    read_only_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "meter.csv"
    assert main(["export", str(read_only_store), "-o", str(out)]) == 0, capsys.readouterr().err
    assert len(out.read_text().splitlines()) == 1 + len(RECORDS)
    assert sorted(p.name for p in read_only_store.parent.iterdir()) == ["s.db"]
