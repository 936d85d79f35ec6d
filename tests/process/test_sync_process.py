"""``lacecal sync`` as a process against a fake server in another: SIGKILL, SIGTERM, restarts.

Kills land at points of progress (rows committed), not at instants: on a busy machine each
kill still interrupts a sync under way, and a stop still finds the command following.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lacecal_async import fingerprint
from lacecal_async.testing import FakeServerProcess
from tests.support import processes
from tests.support.checks import DEADLINE

#: Columns that say when something was written, which differs between runs by nature.
_WHEN_COLUMNS = {"added_at", "updated_at", "first_seen", "next_attempt", "next_poll"}


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every data table's rows, sorted, without the columns that hold write times."""
    db = sqlite3.connect(path)
    try:
        tables = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
            if name != "sync_state" and not name.startswith("sqlite_")
        ]
        out = {}
        for table in tables:
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            kept = ", ".join(c for c in columns if c not in _WHEN_COLUMNS)
            out[table] = sorted(db.execute(f"SELECT {kept} FROM {table}").fetchall())  # noqa: S608
        return out
    finally:
        db.close()


def _command(db: Path, url: str, itrs: list[str], since: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lacecal_async",
        "sync",
        str(db),
        *itrs,
        *("--since", str(since), "--base-url", url, "--rate", "1000/1", *extra),
    ]


async def _run(command: list[str]) -> int:
    async with processes.started_async(command, stderr=subprocess.DEVNULL) as process:
        return await process.wait()


def _rows(path: Path) -> int:
    """Rows committed so far (read beside the writer: the store is in WAL mode)."""
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return sum(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)  # noqa: S608
    except sqlite3.OperationalError:  # no schema yet
        return 0
    finally:
        db.close()


TABLES = ("meter", "inverter")


async def _until(what: str, check: Callable[[], bool], every: float = 0.005) -> None:
    """Poll `check` until it holds; fail after `DEADLINE`."""
    try:
        async with asyncio.timeout(DEADLINE):
            while not check():  # noqa: ASYNC110 - the state is in another process's store
                await asyncio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"not seen within {DEADLINE:g} s: {what}") from None


def _progressed(process: asyncio.subprocess.Process, db: Path, target: int) -> bool:
    return process.returncode is not None or _rows(db) >= target


@pytest.mark.slow
async def test_sync_killed_at_random_points_ends_row_for_row_as_one_uninterrupted(
    tmp_path: Path,
) -> None:
    async with FakeServerProcess(plants=4, seed=7, rate_limit=None, days=8) as server:
        itrs = [f"p{i}={p.itr}" if i % 2 else p.itr for i, p in enumerate(server.plants)]
        since = server.plants[0].first
        reference = tmp_path / "reference.db"
        assert await _run(_command(reference, server.base_url, itrs, since, "-q")) == 0
        total = _rows(reference)
        crashed = tmp_path / "crashed.db"
        rng = random.Random(15)
        kills = 0
        while kills < 10:
            # Kill once it committed a few more rows (a page or more), at a random instant
            # after that: mid-request, mid-page, mid-commit.
            target = _rows(crashed) + rng.randint(1, total // 20)
            command = _command(crashed, server.base_url, itrs, since, "-q")
            async with processes.started_async(command, stderr=subprocess.DEVNULL) as process:
                progressed = functools.partial(_progressed, process, crashed, target)
                await _until("progress", progressed)
                await asyncio.sleep(rng.uniform(0, 0.01))
                if process.returncode is None:
                    process.kill()
                code = await process.wait()
            kills += code == -signal.SIGKILL
            if code == 0:  # it finished first: start over, so every kill interrupts a sync
                crashed = tmp_path / f"crashed-{kills}-{rng.random()}.db"  # a fresh one
        assert await _run(_command(crashed, server.base_url, itrs, since, "-q")) == 0
    expected, got = _dump(reference), _dump(crashed)
    assert expected["meter"]
    assert expected["inverter"]
    assert got == expected
    db = sqlite3.connect(crashed)
    try:
        keys = db.execute("SELECT plant, unix_time FROM meter").fetchall()
    finally:
        db.close()
    assert len(keys) == len(set(keys))


def _latest(db: Path, plants: list[str]) -> list[int]:
    """Each plant's latest stored meter record (0: none yet)."""
    if not db.exists():
        return [0] * len(plants)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [
            conn.execute("SELECT max(unix_time) FROM meter WHERE plant = ?", (p,)).fetchone()[0]
            or 0
            for p in plants
        ]
    except sqlite3.OperationalError:  # no schema yet
        return [0] * len(plants)
    finally:
        conn.close()


def _following(db: Path, plants: list[str], since: float) -> bool:
    """Whether every plant has a record that closed after `since` (only a poll fetches it)."""
    return min(_latest(db, plants)) >= since


@pytest.mark.slow
async def test_follow_stopped_by_sigterm_and_restarted_keeps_every_record_once(
    tmp_path: Path,
) -> None:
    period = 2
    start = int(time.time()) // period * period - 10 * period
    async with FakeServerProcess(
        plants=2, seed=8, rate_limit=None, interval=period, follow=True, start=start, days=1
    ) as server:
        itrs = [p.itr for p in server.plants]
        keys = [fingerprint(itr) for itr in itrs]
        db = tmp_path / "follow.db"
        command = _command(db, server.base_url, itrs, start, "--follow", "--endpoint", "meter")
        command += ["--progress", "plain"]
        outputs = []
        started = []
        for run in range(2):
            if run:  # down for three periods (the downtime itself, not a wait for anything)
                await asyncio.sleep(3 * period)
            began = time.time()
            started.append(began)
            async with processes.started_async(command, stderr=subprocess.PIPE) as process:
                following = functools.partial(_following, db, keys, began)
                await _until("following", following, every=0.1)
                process.send_signal(signal.SIGTERM)
                _, err = await process.communicate()
            assert process.returncode == 0
            outputs.append(err.decode())
        db_rows = sqlite3.connect(db)
        try:
            for plant in server.plants:
                stored = [
                    t
                    for (t,) in db_rows.execute(
                        "SELECT unix_time FROM meter WHERE plant = ? ORDER BY 1",
                        (fingerprint(plant.itr),),
                    )
                ]
                assert stored == plant.available_times(start, stored[-1] + 1, now=time.time())
                # Contiguous from `since` up to a record of the second run: the periods of
                # the downtime are all there.
                assert stored[-1] >= started[1]
        finally:
            db_rows.close()
    assert "records committed by this run; run it again to resume" in outputs[0]
    assert all(p.itr[-8:] not in "".join(outputs) for p in server.plants)
    status = processes.run([sys.executable, "-m", "lacecal_async", "status", str(db), "--json"])
    rows = json.loads(status.stdout)
    assert {r["plant"] for r in rows} == {fingerprint(p.itr) for p in server.plants}
    assert all(r["holes"] == 0 and r["failures"] == 0 for r in rows)
