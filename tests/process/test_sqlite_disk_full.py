"""A follow daemon whose disk fills up waits for room and then catches up, losing nothing.

Before, SQLite's ``database or disk is full`` escaped the engine: the daemon died with a
traceback. Now it is a `StoreUnavailableError`: the daemon logs it, backs off, and carries on
once there is room again.

The disk is real: a tmpfs of a few megabytes, filled by the test with a file of its own,
so that SQLite gets ENOSPC from the kernel (not a page limit of its own, which would test
SQLite's bookkeeping rather than the file system's). Mounting one needs root (CAP_SYS_ADMIN):
elsewhere the test skips, saying why. After the file is removed, the store's rows up to a
cutoff equal those of an undisturbed one-shot sync of the same plants.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lacecal_async.testing import FakeServerProcess
from tests.support import processes

PERIOD = 2
#: The tmpfs's size: room for the store and its WAL, filled up by the test's own file.
DISK = "16m"
TABLES = ("meter", "inverter", "inverter_periods", "inverters")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of `DISK` at tmp_path / "disk" (root only: mount needs CAP_SYS_ADMIN)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if os.geteuid() != 0 or mount is None or umount is None:
        pytest.skip("a size-limited tmpfs needs root and mount(8)")
    done = processes.run([mount, "-t", "tmpfs", "-o", f"size={DISK},mode=0700", "tmpfs", str(disk)])
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        processes.run([umount, "-l", str(disk)])


def _fill(disk: Path) -> Path:
    """Write a file on `disk` until the file system is full; return it."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    # Unbuffered: each write lands, in whole or in part, or fails; nothing waits in a buffer
    # for the close to write. (Buffered, a chunk the last free pages took only in part left
    # its tail in the buffer, and the close failed with ENOSPC: 1 free space in 16, which
    # the daemon's own writes meanwhile made vary from run to run.)
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return filler


def _dump(path: Path, end: int) -> dict[str, list[tuple[Any, ...]]]:
    """The data tables' rows of periods before `end`, sorted (no write times in them)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {}
        for table in TABLES:
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            kept = ", ".join(c for c in columns if c != "updated_at")
            where = " WHERE unix_time < ?" if "unix_time" in columns else ""
            params = (end,) if where else ()
            out[table] = sorted(db.execute(f"SELECT {kept} FROM {table}{where}", params))  # noqa: S608
        return out
    finally:
        db.close()


def _inventoried(path: Path) -> int:
    """How many plants have an inverter list stored (read beside the writer: WAL)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(DISTINCT plant) FROM inverters").fetchone()[0])
    finally:
        db.close()


def _latest(path: Path) -> list[int]:
    """Each synced endpoint's latest stored record (read beside the writer: WAL)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return []
    try:
        return [row[0] or 0 for row in db.execute("SELECT latest FROM sync_state")]
    except sqlite3.OperationalError:  # no schema yet
        return []
    finally:
        db.close()


def _sync(db: Path, url: str, itrs: list[str], since: int, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "lacecal_async", "sync", str(db), *itrs),
        *("--since", str(since), "--base-url", url, "--rate", "1000/1", *extra),
    ]


@pytest.mark.slow
async def test_a_follow_daemon_survives_a_full_disk_and_catches_up(
    small_disk: Path, tmp_path: Path
) -> None:
    plants = 3
    since = int(time.time()) // PERIOD * PERIOD - 200 * PERIOD
    store = small_disk / "s.db"
    log = tmp_path / "daemon.log"
    async with FakeServerProcess(
        plants=plants, seed=9, rate_limit=None, days=1, start=since, interval=PERIOD, follow=True
    ) as server:
        itrs = [plant.itr for plant in server.plants]
        command = _sync(store, server.base_url, itrs, since, "--follow")
        with log.open("w") as err, processes.started(command, stderr=err) as daemon:
            processes.poll_until(lambda: len(_latest(store)) == 2 * plants)
            filler = _fill(small_disk)
            processes.poll_until(
                lambda: "disk is full" in log.read_text() or daemon.poll() is not None
            )
            assert daemon.poll() is None, log.read_text()  # it lives on
            # It keeps failing while the disk is full: more than one report of it.
            processes.poll_until(
                lambda: log.read_text().count("disk is full") > 1 or daemon.poll() is not None
            )
            assert daemon.poll() is None, log.read_text()
            filler.unlink()
            cutoff = int(time.time()) // PERIOD * PERIOD
            # Caught up: the records, and every plant's inverter list. A cycle commits its
            # records before it refreshes the list, and a list the full disk refused is
            # stored again only then: stopped in between, the daemon lacked one (CI, once).
            processes.poll_until(
                lambda: (
                    (min(_latest(store) or [0]) >= cutoff and _inventoried(store) == plants)
                    or daemon.poll() is not None
                )
            )
            assert daemon.poll() is None, log.read_text()
            assert processes.stop(daemon) == 0
        calm = tmp_path / "calm.db"
        done = processes.run(_sync(calm, server.base_url, itrs, since, "-q"))
        assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert "Traceback" not in text
    assert all(itr[:8] not in text for itr in itrs)
    undisturbed = _dump(calm, cutoff)
    assert all(undisturbed[table] for table in ("meter", "inverter_periods"))
    assert _dump(store, cutoff) == undisturbed


@pytest.mark.slow
async def test_a_one_shot_sync_on_a_full_disk_says_so_once_and_a_rerun_completes(
    small_disk: Path, tmp_path: Path
) -> None:
    # Before, each plant's endpoint was reported failed with the store's error (and each
    # logged it): N lines for one outage, said as the plants' problem.
    store = small_disk / "s.db"
    async with FakeServerProcess(plants=3, seed=10, rate_limit=None, days=3) as server:
        itrs = [plant.itr for plant in server.plants]
        since = server.plants[0].first
        first = processes.run(_sync(store, server.base_url, itrs[:1], since, "-q"))
        assert first.returncode == 0, first.stderr
        filler = _fill(small_disk)
        with filler.open("r+b") as out:  # room to open the store, not for the new plants' pages
            out.truncate(filler.stat().st_size - 256 * 1024)
        full = processes.run(_sync(store, server.base_url, itrs, since))
        assert full.returncode == 1, full.stderr
        said = [line for line in full.stderr.splitlines() if "disk is full" in line]
        errors = [line for line in said if "lacecal: error: " in line]
        assert len(errors) == 1, full.stderr
        assert "the store was unavailable 6 times" in errors[0]
        assert "run the sync again" in errors[0]
        assert len(said) <= 2, full.stderr  # a warning that it waits, then the error
        assert "failed:" not in full.stderr  # no plant's failure
        filler.unlink()
        again = processes.run(_sync(store, server.base_url, itrs, since))
        assert again.returncode == 0, again.stderr
        assert "3 of 3 plants up to date" in again.stderr
        calm = tmp_path / "calm.db"
        done = processes.run(_sync(calm, server.base_url, itrs, since, "-q"))
        assert done.returncode == 0, done.stderr
    text = full.stderr + again.stderr
    assert "Traceback" not in text
    assert all(itr[:8] not in text for itr in itrs)
    end = 2**40
    undisturbed = _dump(calm, end)
    assert all(undisturbed[table] for table in ("meter", "inverter_periods"))
    assert _dump(store, end) == undisturbed
