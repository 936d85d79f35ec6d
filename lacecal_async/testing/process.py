"""The fake server in a child process, for tests and benchmarks that want it off their loop.

`FakeServerProcess` runs ``python -m lacecal_async.testing``, reads the base URL from its
first line, and rebuilds the same plants locally (same seed and window) so that the test
knows the ITRs and the ground truth.

The child never outlives its parent: it runs in a process group of its own, which is
SIGTERMed on exit (SIGKILLed if it lingers, or if the exit is a cancellation or an error);
it stops by itself when its standard input, a pipe from the parent, ends; and its group is
registered with the `lifeline`, which SIGKILLs it if the parent is SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import urljoin

import aiohttp

from lacecal_async.testing import lifeline
from lacecal_async.testing.plants import DEFAULT_START, Plant, make_plants

__all__ = ["FakeServerProcess"]

#: How long the child may take to print its URL, and to exit once told [s].
_STARTUP_TIMEOUT = 30.0
_EXIT_TIMEOUT = 5.0


class FakeServerProcess:
    """``async with FakeServerProcess(plants=20, seed=0) as server:`` a server in a subprocess.

    `rate_limit` None disables the limit. `interval` gives every plant that period [s];
    `follow` makes the records end at the (real) clock instead of after `days`.
    `extra_args` go to the command line as they are.
    """

    def __init__(
        self,
        *,
        plants: int = 20,
        seed: int = 0,
        rate_limit: tuple[int, float] | None = (6, 60.0),
        days: float = 30.0,
        start: int = DEFAULT_START,
        interval: int | None = None,
        follow: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.plants: list[Plant] = make_plants(
            plants, seed, start=start, days=days, interval=interval, follow_clock=follow
        )
        if interval is not None:
            extra_args = ("--interval", str(interval), *extra_args)
        if follow:
            extra_args = ("--follow", *extra_args)
        rate = "none" if rate_limit is None else f"{rate_limit[0]}/{rate_limit[1]!r}"
        self._args = [
            *("--plants", str(plants), "--seed", str(seed), "--rate", rate),
            *("--days", repr(days), "--start", str(start), "--port", "0", *extra_args),
        ]
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[bytes] | None = None
        self.base_url = ""

    async def __aenter__(self) -> Self:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lacecal_async.testing",
            *self._args,
            "--stop-on-eof",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self._process = process
        lifeline.watch_group(process.pid)
        assert process.stdout is not None  # noqa: S101 - PIPE was asked for
        try:
            line = await asyncio.wait_for(process.stdout.readline(), _STARTUP_TIMEOUT)
        except BaseException:  # too slow, or cancelled: nothing may stay behind
            await self._end(process)
            raise
        if not line:
            await self._end(process)
            code = process.returncode
            raise RuntimeError(f"the fake server exited with status {code} before serving")
        self.base_url = line.decode().strip()
        # Keep reading, so that the child never blocks on a full pipe.
        self._reader = asyncio.create_task(process.stdout.read())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, reader = self._process, self._reader
        if process is None or reader is None:
            return
        await self._end(process)
        await reader
        self._process = None

    async def _end(self, process: asyncio.subprocess.Process) -> None:
        """Stop the child's whole group: SIGTERM, then SIGKILL after a while or if cancelled."""
        try:
            if process.returncode is None:
                lifeline.kill_group(process.pid, signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), _EXIT_TIMEOUT)
        finally:
            lifeline.kill_group(process.pid)  # lingering, or anything it started
            lifeline.forget_group(process.pid)
            if process.stdin is not None:
                process.stdin.close()
            await asyncio.shield(process.wait())

    @property
    def output(self) -> str:
        """What the child printed after its URL (the table), once it has exited."""
        if self._reader is None or not self._reader.done():
            return ""
        return self._reader.result().decode()

    async def stats(self) -> dict[str, Any]:
        """Return the child's ``/_fake/stats``: per ITR, requests, rejections and the log."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(urljoin(self.base_url, "/_fake/stats")) as response,
        ):
            response.raise_for_status()
            result: dict[str, Any] = await response.json()
            return result
