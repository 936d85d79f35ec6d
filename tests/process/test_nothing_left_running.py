"""Nothing a test run starts outlives it: not on a timeout, not when pytest is SIGKILLed.

An inner pytest runs a test that starts a throwaway PostgreSQL server, a fake server process
and a ``lacecal sync --follow --workers 2`` fleet on both (a command with children of its
own, connected to the database), waits until this test has seen them all, then hangs. Its
run ends by pytest-timeout, or by a SIGKILL of the pytest process (alone, or the controller
of a pytest-xdist run, whose worker ran the test). Every process it started carries a
marker in its environment, inherited from the inner pytest's; the test then waits until no
process carries it, the PostgreSQL backends are gone and the server's directory is deleted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support import processes
from tests.support.checks import DEADLINE

pytestmark = [pytest.mark.skipif(sys.platform != "linux", reason="/proc"), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MARK = "LACECAL_TEST_PROBE"

INI = """[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
timeout_func_only = true
"""

INNER = '''
import asyncio
import os
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from lacecal_async.testing import FakeServerProcess
from lacecal_async.testing.postgres import TemporaryPostgres
from tests.support import processes

CONNECTED = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'postgres' AND pid <> pg_backend_pid()"
)


@pytest.fixture
async def running():
    """Everything started, the fleet's workers connected (setup: pytest-timeout spares it)."""
    with TemporaryPostgres() as postgres:
        start = int(time.time()) // 2 * 2 - 20
        async with FakeServerProcess(
            plants=2, rate_limit=None, interval=2, follow=True, start=start, days=1
        ) as server:
            command = [
                sys.executable, "-m", "lacecal_async", "sync", postgres.dsn,
                *(plant.itr for plant in server.plants), "--since", str(start), "--follow",
                "--workers", "2", "--base-url", server.base_url, "-q",
            ]
            async with processes.started_async(command):
                admin = await asyncpg.connect(postgres.dsn)
                try:
                    while await admin.fetchval(CONNECTED) < 2:
                        await asyncio.sleep(0.05)
                finally:
                    await admin.close()
                # Ready; the outer test looks at everything, then says go.
                # Written beside, then renamed: the outer test never reads it half-written.
                ready = Path(os.environ["LACECAL_TEST_READY"])
                partial = ready.with_name("ready.partial")
                partial.write_text(str(postgres.directory))
                partial.replace(ready)
                while not ready.with_name("go").exists():
                    await asyncio.sleep(0.02)
                yield postgres


async def test_starts_everything_then_hangs(running):
    await asyncio.sleep(600)
'''


@pytest.mark.parametrize("end", ["timeout", "sigkill", "sigkill-xdist"])
def test_a_run_that_times_out_or_is_killed_leaves_nothing_running(tmp_path: Path, end: str) -> None:
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_inner.py").write_text(INNER)
    ready = tmp_path / "ready"
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK: mark, "LACECAL_TEST_READY": str(ready)}
    command = [
        *(sys.executable, "-m", "pytest", str(tmp_path / "test_inner.py"), "-q"),
        *("-p", "no:cacheprovider"),
        *(["--timeout", "1"] if end == "timeout" else []),
        *(["-n", "1"] if end == "sigkill-xdist" else []),
    ]
    with processes.started(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as inner:
        output = processes.Lines(inner.stdout)
        processes.poll_until(lambda: ready.exists() or inner.poll() is not None)
        assert ready.exists(), output.text
        directory = Path(ready.read_text())
        postmaster = int((directory / "data" / "postmaster.pid").read_text().split()[0])
        backends = processes.children(postmaster)
        started = processes.leftovers(MARK, mark)
        # The marker shows everything the run started (so "none left" below means something).
        commands = "\n".join(started.values())
        for part in ("lacecal_async.testing", "lacecal_async sync", "lifeline.py", "postgres"):
            assert part in commands, commands
        assert len(backends) >= 2  # the fleet's workers' connections among them
        (tmp_path / "go").touch()  # the inner test starts (and times out, if it is to)

        if end == "timeout":
            assert inner.wait(DEADLINE) == 1, output.text
            assert "Timeout" in "".join(output.join())
        else:  # the pytest process alone: no code of it runs, its group is left alone
            assert processes.stop(inner, signal.SIGKILL) == -signal.SIGKILL

        # Checked before the end of this block, which would kill the inner pytest's group.
        try:
            processes.poll_until(lambda: not processes.leftovers(MARK, mark))
            processes.poll_until(lambda: not any(map(processes.running, [postmaster, *backends])))
            processes.poll_until(lambda: not directory.exists())
        except TimeoutError as exc:
            raise AssertionError(f"{processes.leftovers(MARK, mark)}\n{output.text}") from exc
