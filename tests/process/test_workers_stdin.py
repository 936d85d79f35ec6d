"""``lacecal sync DSN --follow --workers 2 --itr-file -``: every worker gets the plants.

The parent reads the identifiers from its stdin, once; each worker process is started with
a pipe on its stdin that carries them (never a command line or an environment variable,
which other users could read). Both workers run until SIGTERM (a worker without plants
would exit 2 at once, and the parent with it), and every plant is synced.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from lacecal_async import fingerprint
from lacecal_async.testing import FakeServerProcess
from tests.support.checks import DEADLINE
from tests.support.commands import lacecal
from tests.support.windows import assert_no_leak

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="signals")]


async def _stored(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT plant, count(*) FROM meter GROUP BY plant")
    except asyncpg.UndefinedTableError:  # the first worker has not made the schema yet
        return {}
    finally:
        await conn.close()
    return {row[0]: row[1] for row in rows}


async def test_two_workers_reading_identifiers_from_stdin_sync_every_plant(
    postgres_dsn: str, tmp_path: Path
) -> None:
    async with FakeServerProcess(plants=6, seed=21, rate_limit=None, days=1) as server:
        plants = server.plants
        since = min(p.first for p in plants)
        expected = {f"p{i}": len(p.available_times(since, 2**40)) for i, p in enumerate(plants)}
        command = lacecal(
            *("sync", postgres_dsn, "--itr-file", "-", "--since", str(since), "--follow"),
            *("--workers", "2", "--endpoint", "meter", "--base-url", server.base_url),
            *("--rate", "100/1", "--lease-ttl", "2s", "--progress", "none"),
        )
        with (tmp_path / "err").open("w+") as err:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,  # its workers too: killed as a group if it hangs
            )
            try:
                assert process.stdin is not None
                process.stdin.write(
                    "".join(f"p{i}={p.itr}\n" for i, p in enumerate(plants)).encode()
                )
                await process.stdin.drain()
                process.stdin.close()
                async with asyncio.timeout(DEADLINE):
                    while await _stored(postgres_dsn) != expected and process.returncode is None:  # noqa: ASYNC110 - polls a database
                        await asyncio.sleep(0.1)
                running = process.returncode is None
                if running:
                    process.send_signal(signal.SIGTERM)
                async with asyncio.timeout(DEADLINE):
                    code = await process.wait()
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            err.seek(0)
            stderr = err.read()
    assert running, stderr  # both workers had plants: neither exited
    assert code == 0, stderr
    assert await _stored(postgres_dsn) == expected
    assert_no_leak(stderr, [p.itr for p in plants])
    assert fingerprint(plants[0].itr) not in await _stored(postgres_dsn)
