"""One follow daemon per SQLite file: a second ``lacecal sync DB --follow`` is refused.

Before, two daemons on one file both polled every plant (twice the API's limit per plant).
Now the first holds the store's follow lock; a second exits 1 at once with one line naming
the holder's pid and host. One-shot syncs beside the daemon stay correct, and a SIGKILLed
daemon blocks no one: the kernel drops its lock with the process.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lacecal_async.sync.follow_lock import lock_path
from lacecal_async.testing import FakeServerProcess
from tests.support import processes
from tests.support.stores import sync_states

PERIOD = 2
#: Long enough for a refused process to start and exit on a busy machine; a process that
#: is not refused runs until killed, so the test fails at this deadline (old code did).
REFUSED_WITHIN = 60.0


def _sync(db: Path, url: str, itrs: list[str], since: int, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "lacecal_async", "sync", str(db), *itrs),
        *("--since", str(since), "--base-url", url, "--rate", "1000/1", *extra),
    ]


def _refused(command: list[str], holder: int, itrs: list[str]) -> None:
    done = processes.run(command, timeout=REFUSED_WITHIN)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"pid {holder} on host " in done.stderr
    assert "one follow daemon per SQLite file" in done.stderr
    assert all(itr[:8] not in done.stderr for itr in itrs)


@pytest.mark.slow
async def test_a_second_follow_daemon_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    since = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    async with FakeServerProcess(
        plants=2, seed=9, rate_limit=None, days=1, start=since, interval=PERIOD, follow=True
    ) as server:
        itrs = [plant.itr for plant in server.plants]
        follow = _sync(db, server.base_url, itrs, since, "--follow", "-q")
        with processes.started(follow, stderr=subprocess.DEVNULL) as first:
            processes.poll_until(lambda: sync_states(db) == 4 or first.poll() is not None)
            assert first.poll() is None
            _refused(follow, first.pid, itrs)
            # A one-shot sync beside the daemon works as before.
            once = processes.run(_sync(db, server.base_url, itrs, since, "-q"))
            assert once.returncode == 0, once.stderr
            assert first.poll() is None
            # Killed outright, it leaves no lock behind: the next daemon takes over.
            first.send_signal(signal.SIGKILL)
            first.wait()
        with processes.started(follow, stderr=subprocess.DEVNULL) as second:
            processes.poll_until(
                lambda: (
                    f"pid {second.pid} " in lock_path(db).read_text() or second.poll() is not None
                )
            )
            assert second.poll() is None
            _refused(follow, second.pid, itrs)
            assert processes.stop(second) == 0
