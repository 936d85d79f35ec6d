"""The lifeline: process groups killed whole, and cleaned up after a SIGKILLed parent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from lacecal_async.testing import FakeServerProcess, lifeline
from lacecal_async.testing.postgres import PostgresUnavailableError, TemporaryPostgres
from tests.support import processes
from tests.support.checks import wait_until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups")

#: A shell that starts a grandchild in the background and says its pid.
GRANDCHILD = ["sh", "-c", "sleep 600 >/dev/null & echo $!; wait"]


def test_kill_group_kills_the_grandchildren_too() -> None:
    with processes.started(GRANDCHILD, stdout=subprocess.PIPE, text=True) as shell:
        assert shell.stdout is not None
        grandchild = int(shell.stdout.readline())
        assert os.getpgid(grandchild) == shell.pid  # in the child's group, not ours
        assert lifeline.kill_group(shell.pid)
        assert shell.wait(60) == -signal.SIGKILL
        processes.poll_until(lambda: not processes.running(grandchild))
    # Nothing left to signal, once the killed grandchild is reaped (by init: it is an orphan).
    processes.poll_until(lambda: not lifeline.kill_group(shell.pid, 0))


def test_run_leaves_nothing_behind_its_child_on_exit_or_on_timeout() -> None:
    # The grandchild holds the output pipes open: the run ends when the child does, all
    # the same (its group is killed then, which closes them).
    done = lifeline.run(
        ["sh", "-c", "sleep 600 & echo $!; exit 3"], timeout=60, capture_output=True, text=True
    )
    assert done.returncode == 3
    processes.poll_until(lambda: not processes.running(int(done.stdout)))
    with pytest.raises(subprocess.TimeoutExpired):
        lifeline.run(["sleep", "600"], timeout=0.1)
    fed = lifeline.run(["cat"], timeout=60, input=b"fed", stdout=subprocess.PIPE)
    assert fed.stdout == b"fed"


#: Kills this process's lifeline (a child whose command line names lifeline.py), and waits.
KILL_THE_LIFELINE = (
    "from pathlib import Path\n"
    "import os, signal\n"
    "lifeline.watch_group(os.getpid())  # starts one\n"
    "for stat in Path('/proc').glob('[0-9]*/stat'):\n"
    "    pid = int(stat.parent.name)\n"
    "    try:\n"
    "        ppid = int(stat.read_text().rsplit(')', 1)[1].split()[1])\n"
    "        named = b'lifeline.py' in (stat.parent / 'cmdline').read_bytes()\n"
    "    except (OSError, ValueError):\n"
    "        continue\n"
    "    if ppid == os.getpid() and named:\n"
    "        os.kill(pid, signal.SIGKILL)\n"
    "        os.waitpid(pid, 0)\n"
)


@pytest.mark.parametrize("lifeline_died", [False, True])
def test_a_sigkilled_parent_leaves_no_registered_group(lifeline_died: bool) -> None:
    """Even after its lifeline died (killed), the next registration starts another."""
    parent = (
        "import subprocess, sys, time\n"
        "from lacecal_async.testing import lifeline\n"
        + (KILL_THE_LIFELINE if lifeline_died else "")
        + "child = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        "lifeline.watch_group(child.pid)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    with processes.started(
        [sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        child = int(process.stdout.readline())
        try:
            assert processes.running(child)
            process.kill()  # no code of the parent runs: the lifeline alone can clean up
            process.wait(60)
            processes.poll_until(lambda: not processes.running(child))
        finally:  # should the test fail, it leaves nothing either
            lifeline.kill_group(child)


async def test_stop_at_eof_sets_the_event_when_the_pipe_ends() -> None:
    read, write = os.pipe()
    stop = asyncio.Event()
    try:
        lifeline.stop_at_eof(stop, read)
        os.write(write, b"anything")
        await asyncio.sleep(0)
        assert not stop.is_set()
    finally:
        os.close(write)
    await wait_until(stop.is_set)
    os.close(read)


def test_clean_up_stops_a_registered_postgres_and_deletes_its_directory() -> None:
    try:
        server = TemporaryPostgres()
        server.start()
    except PostgresUnavailableError as exc:
        pytest.skip(f"no PostgreSQL server to test with: {exc}")
    directory = server.directory
    assert directory is not None
    pid = int((directory / "data" / "postmaster.pid").read_text().split()[0])
    lifeline.stop_postgres(directory / "elsewhere")  # no such server: nothing happens
    assert processes.running(pid)
    lifeline.clean_up([], [str(directory)])
    assert not processes.running(pid)
    assert not directory.exists()
    server.stop()  # nothing left to do


async def test_a_fake_server_process_stops_when_its_stdin_ends() -> None:
    async with FakeServerProcess(plants=1, rate_limit=None, days=1) as server:
        child = server._process
        assert child is not None
        assert child.stdin is not None
        child.stdin.close()  # what the parent's death does to the pipe
        assert await asyncio.wait_for(child.wait(), 60) == 0


async def test_a_fake_server_process_cancelled_while_starting_is_gone() -> None:
    server = FakeServerProcess(plants=1, rate_limit=None, days=1)
    starting = asyncio.create_task(server.__aenter__())
    await wait_until(lambda: server._process is not None)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    assert server._process is not None
    assert not processes.running(server._process.pid)
