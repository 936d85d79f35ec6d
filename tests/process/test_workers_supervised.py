"""``lacecal sync --workers N`` supervises its children: a death is logged and replaced.

Issue 24: when a child died the parent logged nothing, and ran one worker short for good.
Two workers follow six plants in PostgreSQL; one child is SIGKILLed; the parent names it
and its signal, starts a replacement after the backoff, and the replacement takes a share
of the plants (it holds leases). Every step waits for its state, with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from lacecal_async.testing import FakeServerProcess
from tests.support import processes
from tests.support.checks import DEADLINE

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL"), pytest.mark.slow]

PERIOD = 2
PLANTS = 6


async def _holders(dsn: str) -> set[str]:
    """The workers holding an unexpired lease."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT worker FROM leases "
            "WHERE worker IS NOT NULL AND expires_at > clock_timestamp()"
        )
    except asyncpg.UndefinedTableError:  # no worker has made the schema yet
        return set()
    finally:
        await conn.close()
    return {row[0] for row in rows}


async def _until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    try:
        async with asyncio.timeout(DEADLINE):
            while not await check():  # noqa: ASYNC110 - the state is in other processes
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"not seen within {DEADLINE:g} s: {what}") from None


async def test_a_killed_worker_is_logged_and_replaced(postgres_dsn: str, tmp_path: Path) -> None:
    start = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    async with FakeServerProcess(
        plants=PLANTS, seed=24, interval=PERIOD, follow=True, start=start, days=1
    ) as server:
        itr_file = tmp_path / "plants.txt"
        itr_file.write_text("".join(f"{p.itr}\n" for p in server.plants))
        itr_file.chmod(0o600)
        command = [
            *(sys.executable, "-m", "lacecal_async", "sync", postgres_dsn),
            *("--itr-file", str(itr_file), "--since", str(start), "--follow"),
            *("--endpoint", "meter", "--base-url", server.base_url, "--rate", "100/1"),
            *("--lease-ttl", "3s", "--progress", "none", "--workers", "2"),
        ]
        log = tmp_path / "parent.err"
        with log.open("w+") as err:
            async with processes.started_async(
                command, stderr=err, stdout=subprocess.DEVNULL
            ) as parent:

                def lines() -> str:
                    return log.read_text()

                async def both_hold() -> bool:
                    return len(await _holders(postgres_dsn)) == 2

                await _until("both workers hold leases", both_hold)
                first = sorted(processes.children(parent.pid))
                assert len(first) == 2, first
                victim = first[0]
                os.kill(victim, signal.SIGKILL)

                async def replaced() -> bool:
                    return "started (restart 1)" in lines()

                await _until("the parent logs the death and starts a replacement", replaced)
                died = re.search(
                    rf"lacecal: worker process {victim} \((\d) of 2\) was killed by signal "
                    r"SIGKILL; restarting it in 1s",
                    lines(),
                )
                assert died is not None, lines()
                started = re.search(
                    rf"lacecal: worker process (\d+) \({died[1]} of 2\) started \(restart 1\)",
                    lines(),
                )
                assert started is not None, lines()
                replacement = int(started[1])
                assert replacement != victim
                assert sorted(processes.children(parent.pid)) == sorted([first[1], replacement])

                async def replacement_holds() -> bool:
                    holders = await _holders(postgres_dsn)
                    return any(f"-{replacement}-" in w for w in holders) and len(holders) == 2

                await _until("the replacement takes its share of the plants", replacement_holds)
                parent.send_signal(signal.SIGTERM)
                assert await parent.wait() == 0
    text = log.read_text()
    assert all(p.itr[-8:] not in text for p in server.plants)
