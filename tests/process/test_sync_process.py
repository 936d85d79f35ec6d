"""``lacecal sync`` as a process against a fake server in another: SIGKILL, SIGTERM, restarts."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lacecal_async import fingerprint
from lacecal_async.testing import FakeServerProcess

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
    process = await asyncio.create_subprocess_exec(*command, stderr=subprocess.DEVNULL)
    return await process.wait()


async def test_sync_killed_at_random_points_ends_row_for_row_as_one_uninterrupted(
    tmp_path: Path,
) -> None:
    async with FakeServerProcess(plants=4, seed=7, rate_limit=None, days=8) as server:
        itrs = [f"p{i}={p.itr}" if i % 2 else p.itr for i, p in enumerate(server.plants)]
        since = server.plants[0].first
        reference = tmp_path / "reference.db"
        began = time.monotonic()
        assert await _run(_command(reference, server.base_url, itrs, since, "-q")) == 0
        duration = time.monotonic() - began
        crashed = tmp_path / "crashed.db"
        rng = random.Random(15)
        kills = 0
        while kills < 10:
            process = await asyncio.create_subprocess_exec(
                *_command(crashed, server.base_url, itrs, since, "-q"),
                stderr=subprocess.DEVNULL,
            )
            await asyncio.sleep(rng.uniform(0.2, 1.0) * duration)
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


async def test_follow_stopped_by_sigterm_and_restarted_keeps_every_record_once(
    tmp_path: Path,
) -> None:
    period = 2
    start = int(time.time()) // period * period - 10 * period
    async with FakeServerProcess(
        plants=2, seed=8, rate_limit=None, interval=period, follow=True, start=start, days=1
    ) as server:
        itrs = [p.itr for p in server.plants]
        db = tmp_path / "follow.db"
        command = _command(db, server.base_url, itrs, start, "--follow", "--endpoint", "meter")
        command += ["--progress", "plain"]
        outputs = []
        started = []
        for _ in range(2):
            started.append(time.time())
            process = await asyncio.create_subprocess_exec(*command, stderr=subprocess.PIPE)
            await asyncio.sleep(3 * period)
            process.send_signal(signal.SIGTERM)
            _, err = await process.communicate()
            assert process.returncode == 0
            outputs.append(err.decode())
            await asyncio.sleep(3 * period)  # down for three periods; records keep coming
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
                assert stored[-1] >= started[1] - period
        finally:
            db_rows.close()
    assert "stopped; every page fetched is committed" in outputs[0]
    assert all(p.itr[-8:] not in "".join(outputs) for p in server.plants)
    status = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "lacecal_async", "status", str(db), "--json"),
        stdout=subprocess.PIPE,
    )
    out, _ = await status.communicate()
    rows = json.loads(out)
    assert {r["plant"] for r in rows} == {fingerprint(p.itr) for p in server.plants}
    assert all(r["holes"] == 0 and r["failures"] == 0 for r in rows)
