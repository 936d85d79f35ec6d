"""``--workers 2`` children stop when their parent is SIGKILLed (review 2, finding 04).

Real processes: a fake server process, the command with two worker children on PostgreSQL.
The parent is killed with SIGKILL (no chance to forward anything); the children must notice,
release their leases and leave (the test waits for it: a few lease periods, longer on a busy
machine).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from lacecal_async.sync import PostgresStore
from tests.support import processes
from tests.support.cli import following_fake_server

TTL = 1.0


@pytest.fixture
def fake_server() -> Iterator[tuple[str, list[str], int]]:
    """A fake server in a child process: its URL, the identifiers, a `--since` for them."""
    with following_fake_server(4) as server:
        yield server


Fleet = tuple[list[str], dict[str, str]]


async def _workers(dsn: str) -> Fleet:
    async with PostgresStore(dsn) as store:
        return await store.live_workers(), await store.leases()


def _until(dsn: str, done: Callable[[Fleet], bool]) -> None:
    processes.poll_until(lambda: done(asyncio.run(_workers(dsn))))


@pytest.mark.slow
def test_workers_leave_when_their_parent_is_killed(
    postgres_dsn: str, fake_server: tuple[str, list[str], int]
) -> None:
    url, itrs, start = fake_server
    env = {k: v for k, v in os.environ.items() if k != "LACECAL_ITR"}
    command = [
        *(sys.executable, "-m", "lacecal_async", "sync", postgres_dsn, *itrs),
        *("--since", str(start), "--follow", "--workers", "2", "--lease-ttl", f"{TTL}s"),
        *("--base-url", url, "--rate", "100/1", "-q"),
    ]
    with processes.started(command, stdin=subprocess.DEVNULL, env=env) as parent:
        _until(postgres_dsn, lambda fleet: len(fleet[0]) == 2 and len(fleet[1]) == 4)
        assert processes.stop(parent, signal.SIGKILL) == -signal.SIGKILL  # the parent alone
        # The orphans notice (they watch their parent), release their leases and leave.
        _until(postgres_dsn, lambda fleet: fleet == ([], {}))
