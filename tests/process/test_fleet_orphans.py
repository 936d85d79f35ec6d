"""``--workers 2`` children stop when their parent is SIGKILLed (review 2, finding 04).

Real processes: a fake server process, the command with two worker children on PostgreSQL.
The parent is killed with SIGKILL (no chance to forward anything); the children must notice,
release their leases and leave within a few lease periods.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from lacecal_async.sync import PostgresStore
from tests.support.cli import following_fake_server

TTL = 1.0


@pytest.fixture
def fake_server() -> Iterator[tuple[str, list[str], int]]:
    """A fake server in a child process: its URL, the identifiers, a `--since` for them."""
    with following_fake_server(4) as server:
        yield server


async def _workers(dsn: str) -> tuple[list[str], dict[str, str]]:
    async with PostgresStore(dsn) as store:
        return await store.live_workers(), await store.leases()


def _until(dsn: str, done: object, seconds: float) -> tuple[list[str], dict[str, str]]:
    end = time.monotonic() + seconds
    while True:
        seen = asyncio.run(_workers(dsn))
        if done(seen) or time.monotonic() > end:  # type: ignore[operator]
            return seen
        time.sleep(0.2)


def test_workers_leave_when_their_parent_is_killed(
    postgres_dsn: str, fake_server: tuple[str, list[str], int]
) -> None:
    url, itrs, start = fake_server
    env = {k: v for k, v in os.environ.items() if k != "LACECAL_ITR"}
    parent = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            *(sys.executable, "-m", "lacecal_async", "sync", postgres_dsn, *itrs),
            *("--since", str(start), "--follow", "--workers", "2", "--lease-ttl", f"{TTL}s"),
            *("--base-url", url, "--rate", "100/1", "-q"),
        ],
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        workers, leases = _until(postgres_dsn, lambda s: len(s[0]) == 2 and len(s[1]) == 4, 30)
        assert len(workers) == 2
        assert len(leases) == 4
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        # The orphans notice within a lease round or so, release their leases and leave.
        workers, leases = _until(postgres_dsn, lambda s: s == ([], {}), 8 * TTL)
        assert (workers, leases) == ([], {})
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
