"""A fleet of ``lacecal sync postgresql://... --follow`` processes: take-over, no loss, no overlap.

Three worker processes follow 300 plants with 2-second periods against one PostgreSQL server
and a fake server in a process of its own, with a strict sliding-window limit. One worker is
SIGKILLed mid-run. Every request names its worker in the User-Agent, so the fake server's
per-ITR log says who fetched what, and when.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from lacecal_async import fingerprint
from lacecal_async.testing import FakeServerProcess

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

PERIOD = 2
PLANTS = 300
TTL = 2.0
RATE = (3, 1.0)  # the server's strict limit per ITR, and the workers' own
_WORKER = re.compile(r"lacecal_async/\S+ worker/(\S+)")


def _command(dsn: str, itr_file: Path, url: str, since: int) -> list[str]:
    return [
        *(sys.executable, "-m", "lacecal_async", "sync", dsn, "--itr-file", str(itr_file)),
        *("--since", str(since), "--follow", "--endpoint", "meter", "--base-url", url),
        *("--rate", f"{RATE[0]}/{RATE[1]}", "--lease-ttl", f"{TTL}s", "--progress", "none"),
        *("--workers", "1"),
    ]


def runs(log: list[dict[str, Any]]) -> list[tuple[str, float, float]]:
    """One ITR's requests as runs of one worker: ``(worker, first, last)``, in time order."""
    out: list[tuple[str, float, float]] = []
    for entry in sorted(log, key=lambda e: e["time"]):
        match = _WORKER.fullmatch(entry["user_agent"])
        assert match is not None, entry["user_agent"]
        worker = match[1]
        if out and out[-1][0] == worker:
            out[-1] = (worker, out[-1][1], entry["time"])
        else:
            out.append((worker, entry["time"], entry["time"]))
    return out


async def _rows(dsn: str) -> dict[str, list[int]]:
    conn = await asyncpg.connect(dsn)
    try:
        found = await conn.fetch("SELECT plant, unix_time FROM meter ORDER BY plant, unix_time")
        leases = await conn.fetchval("SELECT count(*) FROM leases WHERE worker IS NOT NULL")
    finally:
        await conn.close()
    assert leases == 0  # every live worker released its leases on the way out
    out: dict[str, list[int]] = {}
    for plant, unix_time in found:
        out.setdefault(plant, []).append(unix_time)
    return out


async def test_three_workers_one_killed_lose_nothing_and_never_overlap(
    postgres_dsn: str, tmp_path: Path
) -> None:
    start = int(time.time()) // PERIOD * PERIOD - 20 * PERIOD
    async with FakeServerProcess(
        plants=PLANTS,
        seed=16,
        rate_limit=RATE,
        interval=PERIOD,
        follow=True,
        start=start,
        days=1,
    ) as server:
        itr_file = tmp_path / "plants.txt"
        itr_file.write_text("".join(f"{p.itr}\n" for p in server.plants))
        itr_file.chmod(0o600)
        command = _command(postgres_dsn, itr_file, server.base_url, start)
        errs = [(tmp_path / f"worker{i}.err").open("w+") for i in range(3)]
        workers = [
            await asyncio.create_subprocess_exec(*command, stderr=err, stdout=subprocess.DEVNULL)
            for err in errs
        ]
        await asyncio.sleep(8)  # all three share the plants and keep them up to date
        workers[0].kill()
        assert await workers[0].wait() == -signal.SIGKILL
        await asyncio.sleep(TTL + 8)  # its leases expire; the others take its plants over
        for worker in workers[1:]:
            worker.send_signal(signal.SIGTERM)
        assert [await worker.wait() for worker in workers[1:]] == [0, 0]
        stopped = time.time()
        stats = await server.stats()
    outputs = []
    for err in errs:
        err.seek(0)
        outputs.append(err.read())
        err.close()
    stored = await _rows(postgres_dsn)

    # The database equals the fake server's ground truth: every record once, none missing,
    # up to the end of the run (the killed worker's plants too).
    assert len(stored) == PLANTS
    for plant in server.plants:
        times = stored[fingerprint(plant.itr)]
        assert times == plant.available_times(start, times[-1] + 1, now=stopped)
        assert times[-1] >= stopped - 4 * PERIOD
    # A strict server saw no request over the limit.
    rejected = {i: s["log"] for i, s in stats.items() if s["rejections"]}
    assert not rejected

    by_itr = {itr: runs(s["log"]) for itr, s in stats.items()}
    ids = {worker for itr_runs in by_itr.values() for worker, _, _ in itr_runs}
    assert len(ids) == 3  # each request named one of the three workers
    # The killed worker: its last request is the moment it died (it polled ~100 plants
    # every period). Each plant it was fetching is fetched by another worker within the
    # lease ttl, plus one lease round (ttl / 3), the hand-over wait (one rate period) and
    # one poll period.
    killed = next(w for w in ids if f"-{workers[0].pid}-" in w)  # host-pid-random
    died = max(last for itr_runs in by_itr.values() for w, _, last in itr_runs if w == killed)
    taken_over = []
    for itr_runs in by_itr.values():
        at = [i for i, run in enumerate(itr_runs) if run[0] == killed]
        if at and at[-1] + 1 < len(itr_runs) and itr_runs[at[-1]][2] >= died - PERIOD:
            taken_over.append(itr_runs[at[-1] + 1][1] - died)
    assert len(taken_over) >= 50  # about a third of the plants
    assert max(taken_over) <= TTL + TTL / 3 + RATE[1] * 61 / 60 + PERIOD + 1.0
    # No plant was fetched by two workers at once. Two workers holding one plant would
    # alternate on it every period (dozens of runs in this run); one holder at a time
    # hands a plant over only as workers join (A -> B -> C while they balance) and once
    # the killed worker's plants are taken (-> A): at most 4 runs, and runs never overlap.
    for itr_runs in by_itr.values():
        assert len(itr_runs) <= 4, itr_runs
        assert all(a[2] < b[1] for a, b in itertools.pairwise(itr_runs))
    # stderr names plants by fingerprint, never by identifier.
    assert all(p.itr[-8:] not in "".join(outputs) for p in server.plants)
