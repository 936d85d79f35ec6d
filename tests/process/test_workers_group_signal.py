"""Ctrl-C (or systemd's stop) reaches the supervisor and its workers at once: they stop cleanly.

A terminal sends SIGINT to the whole foreground process group, and systemd's default
``KillMode=control-group`` sends SIGTERM to every process of the unit. A worker then gets
the signal twice: its own, and the one its supervisor forwards. The second must not kill
a worker already stopping (its leases released, its last line said).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lacecal_async.testing import FakeServerProcess
from tests.support import processes
from tests.support.checks import DEADLINE
from tests.support.stores import sync_states

PERIOD = 2


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_signal_to_the_whole_group_stops_the_workers_cleanly(
    tmp_path: Path, signum: int
) -> None:
    db = tmp_path / "s.db"
    since = int(time.time()) // PERIOD * PERIOD - 10 * PERIOD
    async with FakeServerProcess(
        plants=1, seed=9, rate_limit=None, days=1, start=since, interval=PERIOD, follow=True
    ) as server:
        argv = [
            *("sync", str(db), server.plants[0].itr, "--since", str(since)),
            *("--base-url", server.base_url, "--rate", "1000/1", "--follow", "-q"),
        ]
        # The supervisor of `sync --workers` (which needs PostgreSQL for N > 1), over one
        # SQLite worker: what is tested is how it passes a signal on.
        code = (
            "import sys; from lacecal_async.cli.fleet import run_workers; "
            f"sys.exit(run_workers({argv!r}, 1))"
        )
        command = [sys.executable, "-c", code]
        with processes.started(command, stderr=subprocess.PIPE, text=True) as parent:
            err = processes.Lines(parent.stderr)
            processes.poll_until(lambda: sync_states(db) == 2 or parent.poll() is not None)
            assert parent.poll() is None, err.text
            os.killpg(parent.pid, signum)  # the terminal's Ctrl-C, systemd's stop
            assert parent.wait(DEADLINE) == 0, err.join()
            lines = err.join()
    assert not any("killed by signal" in line for line in lines), lines
    assert any(line.startswith("lacecal: stopped;") for line in lines), lines
