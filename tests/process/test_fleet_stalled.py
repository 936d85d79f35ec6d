"""A fleet worker stopped (SIGSTOP) past its lease asks for nothing when it wakes (SIGCONT).

Two ``lacecal sync postgresql://... --follow`` processes share one plant against a fake
server with a strict sliding-window limit (the workers' own limit too). The worker holding
the plant is stopped until the other one holds its lease (measured in the database), then
woken; the test waits until the woken worker has finished a lease round, then stops both.
The server's log (arrival times on the same monotonic clock as the test's) must show no
request of the stopped worker after the other took the plant over, and no 429. With one
plant and two workers the holder never gives it back (it holds exactly its share), so any
request of the stopped worker after the take-over is one it should not have sent.

Before the lease gate, the woken worker sent its overdue polls at once, before its first
lease round told it the plant was gone.

Where the worker stops matters to the database (`inside`):
- between writes: stopped at a moment no transaction is open;
- inside a write: stopped inside a page's transaction, which holds the plant's lease row
  locked. The test holds the plant's state row while the worker writes, stops the worker
  once its statement waits for that row, then lets the statement end: the transaction stays
  open, idle, in a stopped process. Before the store bounded such a transaction's idle
  time, the other worker skipped the locked lease row for ever and never took the plant
  over (CI saw this once: "not seen within 120 s: the other worker takes the plant over").
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from lacecal_async import fingerprint
from lacecal_async.sync import PostgresStore
from lacecal_async.testing import FakeLacecalServer, make_plants
from tests.support import processes
from tests.support.checks import DEADLINE
from tests.support.lease_worker import measured_ttl
from tests.support.windows import assert_no_leak

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP"), pytest.mark.slow]

PERIOD = 2
#: The server's strict limit per ITR, and the workers' own: one request a second.
RATE = (1, 1.0)
_WORKER = re.compile(r"lacecal_async/\S+ worker/(\S+)")


def _command(dsn: str, itr_file: Path, url: str, since: int, ttl: float) -> list[str]:
    return [
        *(sys.executable, "-m", "lacecal_async", "sync", dsn, "--itr-file", str(itr_file)),
        *("--since", str(since), "--follow", "--endpoint", "meter", "--base-url", url),
        *("--rate", f"{RATE[0]}/{RATE[1]}", "--lease-ttl", f"{ttl:.3f}s"),
        *("--progress", "none", "--workers", "1"),
    ]


async def _until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    """Await `check()` until it is true; fail after `DEADLINE`."""
    try:
        async with asyncio.timeout(DEADLINE):
            while not await check():  # noqa: ASYNC110 - the state is in other processes
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not seen within {DEADLINE:g} s: {what}") from None


async def _holder(dsn: str, plant: str) -> str | None:
    """The worker holding an unexpired lease on `plant`, if any."""
    conn = await asyncpg.connect(dsn)
    try:
        holder: str | None = await conn.fetchval(
            "SELECT worker FROM leases WHERE plant = $1 AND expires_at > clock_timestamp()",
            plant,
        )
    except asyncpg.UndefinedTableError:  # no worker has made the schema yet
        return None
    finally:
        await conn.close()
    return holder


async def _heartbeat(dsn: str, pid: int) -> datetime | None:
    """When the worker of process `pid` last finished a lease round."""
    conn = await asyncpg.connect(dsn)
    try:
        beat: datetime | None = await conn.fetchval(
            "SELECT heartbeat_at FROM workers WHERE worker LIKE $1", f"%-{pid}-%"
        )
    except asyncpg.UndefinedTableError:  # no worker has made the schema yet
        return None
    finally:
        await conn.close()
    return beat


async def _others(conn: asyncpg.Connection[Any], where: str) -> int:
    """How many other clients' sessions of the database are `where` (on their activity)."""
    query = f"SELECT count(*) FROM pg_stat_activity WHERE {where} AND "  # noqa: S608
    count: int = await conn.fetchval(
        query + "datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend'"
    )
    return count


async def _stopped_between_writes(dsn: str, worker: asyncio.subprocess.Process) -> None:
    """Stop `worker` at a moment no transaction is open in the database, so none of its own."""
    conn = await asyncpg.connect(dsn)
    try:

        async def stopped_outside() -> bool:
            worker.send_signal(signal.SIGSTOP)
            if await _others(conn, "xact_start IS NOT NULL"):
                worker.send_signal(signal.SIGCONT)  # inside one: try again
                return False
            return True

        await _until("the worker is stopped between transactions", stopped_outside)
    finally:
        await conn.close()


async def _stopped_inside_a_write(dsn: str, worker: asyncio.subprocess.Process) -> None:
    """Stop `worker` inside a write's transaction of its own: idle, its lease row locked."""
    conn = await asyncpg.connect(dsn)
    try:

        async def state_written() -> bool:
            return bool(await conn.fetchval("SELECT count(*) FROM sync_state"))

        async def waiting() -> bool:
            # Blocked by this session's lock: a write of the worker's (a page, or an error
            # noted on the plant's state), each in a transaction that checked its lease.
            return bool(await _others(conn, "pg_backend_pid() = ANY(pg_blocking_pids(pid))"))

        await _until("the plant has a state row", state_written)
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM sync_state FOR UPDATE")
            await _until("a write of the worker's waits for the plant's state row", waiting)
            worker.send_signal(signal.SIGSTOP)
    finally:
        await conn.close()


@pytest.mark.parametrize("inside", [False, True], ids=["between-writes", "inside-a-write"])
async def test_a_worker_stopped_past_its_lease_sends_nothing_when_it_wakes(
    postgres_dsn: str, tmp_path: Path, inside: bool
) -> None:
    async with PostgresStore(postgres_dsn) as store:
        ttl = max(await measured_ttl(store), 1.5)
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    plants = make_plants(1, 22, start=start, days=1, interval=PERIOD, follow_clock=True)
    itr = plants[0].itr
    key = fingerprint(itr)
    async with FakeLacecalServer(plants, rate_limit=RATE) as server:
        itr_file = tmp_path / "plants.txt"
        itr_file.write_text(f"{itr}\n")
        itr_file.chmod(0o600)
        command = _command(postgres_dsn, itr_file, server.base_url, start, ttl)
        errs = [(tmp_path / f"worker{i}.err").open("w+") for i in range(2)]
        async with contextlib.AsyncExitStack() as stack:
            workers = [
                await stack.enter_async_context(
                    processes.started_async(command, stderr=err, stdout=subprocess.DEVNULL)
                )
                for err in errs
            ]
            holders: list[str] = []

            async def held_and_fetched() -> bool:
                """A worker holds the plant and has fetched it; the other one is live too."""
                holder = await _holder(postgres_dsn, key)
                agents = {entry.user_agent for entry in server.stats(itr).log}
                beats = [await _heartbeat(postgres_dsn, w.pid) for w in workers]
                if holder is None or None in beats or not any(holder in a for a in agents):
                    return False
                holders.append(holder)
                return True

            await _until("a worker holds the plant and has fetched it", held_and_fetched)
            first = next(i for i, w in enumerate(workers) if f"-{w.pid}-" in holders[-1])
            stalled, other = workers[first], workers[1 - first]
            stop = _stopped_inside_a_write if inside else _stopped_between_writes
            await stop(postgres_dsn, stalled)

            taken = 0.0

            async def taken_over() -> bool:
                """The other worker holds the plant, and asks for it since it took it."""
                nonlocal taken
                holder = await _holder(postgres_dsn, key)
                if not taken and holder is not None and f"-{other.pid}-" in holder:
                    taken = time.monotonic()  # the take-over happened before this
                agent = f"-{other.pid}-"
                return bool(taken) and any(
                    agent in e.user_agent and e.time > taken for e in server.stats(itr).log
                )

            await _until("the other worker takes the plant over and fetches it", taken_over)
            # Its last round ended a ttl ago at least (its lease has expired since).
            beat = await _heartbeat(postgres_dsn, stalled.pid)
            stalled.send_signal(signal.SIGCONT)

            async def rejoined() -> bool:
                """The woken worker finished a lease round: it knows the plant is gone."""
                now = await _heartbeat(postgres_dsn, stalled.pid)
                return now is not None and beat is not None and now > beat

            await _until("the woken worker finishes a lease round", rejoined)
            for worker in (stalled, other):
                worker.send_signal(signal.SIGTERM)
                assert await worker.wait() == 0
        stats = server.stats(itr)
    outputs = []
    for err in errs:
        err.seek(0)
        outputs.append(err.read())
        err.close()

    def by(worker: asyncio.subprocess.Process) -> list[float]:
        return [e.time for e in stats.log if f"-{worker.pid}-" in e.user_agent]

    assert by(stalled), outputs  # it fetched the plant before it was stopped
    assert by(other), outputs  # and the other one after it took it over
    late = [t - taken for t in by(stalled) if t > taken]
    assert not late, (late, outputs)  # seconds after the take-over was seen
    assert stats.rejections == 0, (stats.log, outputs)
    assert all(_WORKER.fullmatch(e.user_agent) for e in stats.log)
    for out in outputs:
        assert_no_leak(out, [itr])
