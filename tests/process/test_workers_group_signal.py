"""Ctrl-C (or systemd's stop) reaches the supervisor and its workers at once: they stop cleanly.

A terminal sends SIGINT to the whole foreground process group, and systemd's default
``KillMode=control-group`` sends SIGTERM to every process of the unit. A worker then gets
the signal twice: its own, and the one its supervisor forwards. The second must not kill
a worker already stopping (its leases released, its last line said).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lacecal_async.testing import FakeServerProcess
from tests.support import processes
from tests.support.checks import DEADLINE
from tests.support.stores import sync_states

PERIOD = 2


@contextlib.asynccontextmanager
async def _supervisor(db: Path) -> AsyncIterator[tuple[subprocess.Popen[str], processes.Lines]]:
    """Start the supervisor of `sync --workers` over one SQLite worker following a fake.

    (``--workers N > 1`` needs PostgreSQL; what is tested is how it passes a signal on.)
    Yield it with its stderr's lines.
    """
    since = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    async with FakeServerProcess(
        plants=1, seed=9, rate_limit=None, days=1, start=since, interval=PERIOD, follow=True
    ) as server:
        argv = [
            *("sync", str(db), server.plants[0].itr, "--since", str(since)),
            *("--base-url", server.base_url, "--rate", "1000/1", "--follow", "-q"),
        ]
        code = (
            "import sys; from lacecal_async.cli.fleet import run_workers; "
            f"sys.exit(run_workers({argv!r}, 1))"
        )
        command = [sys.executable, "-c", code]
        with processes.started(command, stderr=subprocess.PIPE, text=True) as parent:
            yield parent, processes.Lines(parent.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_to_the_whole_group_stops_the_workers_cleanly(
    tmp_path: Path, signum: int
) -> None:
    db = tmp_path / "s.db"
    async with _supervisor(db) as (parent, err):
        processes.poll_until(lambda: sync_states(db) == 2 or parent.poll() is not None)
        assert parent.poll() is None, err.text
        os.killpg(parent.pid, signum)  # the terminal's Ctrl-C, systemd's stop
        assert parent.wait(DEADLINE) == 0, err.join()
        lines = err.join()
    assert not any("killed by signal" in line for line in lines), lines
    assert any(line.startswith("lacecal: stopped;") for line in lines), lines


def _children(pid: int) -> list[int]:
    """The pids of `pid`'s child processes (Linux)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
@pytest.mark.parametrize(
    ("signum", "group"), [(signal.SIGINT, True), (signal.SIGTERM, True), (signal.SIGTERM, False)]
)
async def test_a_signal_while_the_workers_start_stops_them_cleanly(
    tmp_path: Path, signum: int, group: bool
) -> None:
    # A worker still starting (Python importing the library) when the signal comes: its
    # own handlers are not there yet. It must stop as cleanly as one that was running:
    # status 0, no traceback (systemd stopping a unit it just started, a quick Ctrl-C).
    async with _supervisor(tmp_path / "s.db") as (parent, err):
        processes.poll_until(lambda: bool(_children(parent.pid)) or parent.poll() is not None)
        if group:
            os.killpg(parent.pid, signum)  # the terminal's Ctrl-C, systemd's stop
        else:
            parent.send_signal(signum)  # the supervisor alone: it passes it on
        assert parent.wait(DEADLINE) == 0, err.join()
        lines = err.join()
    assert not any("Traceback" in line for line in lines), lines
