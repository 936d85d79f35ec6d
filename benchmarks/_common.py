"""What the benchmark sections share: the row format, the server process, CPU and memory probes.

Every child (the server, a ``lacecal`` command, a section run in a fresh interpreter) leads
a process group of its own, is stopped with its whole group, and is registered with the
library's `lifeline` meanwhile: a benchmark killed by a timeout, Ctrl-C or SIGKILL leaves
nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import aiohttp

from benchmarks._serve import INTERVAL, plants
from lacecal_async.testing import Plant, lifeline

Row = dict[str, Any]

#: The bare loops' parser: orjson (the ``bench`` extra), else the stdlib, named in the rows.
bare_loads: Callable[[bytes], Any]
try:
    from orjson import loads as bare_loads

    BARE_PARSER = "orjson.loads"
except ImportError:  # the test command installs no bench extra: CI's smoke run takes this
    bare_loads = json.loads
    BARE_PARSER = "json.loads"

PAGE = 144
DAY = PAGE * INTERVAL
#: Pages each spare ITR asks for when warming the server (below any limit used here).
WARM_PER_ITR = 6
ROOT = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")


def row(
    section: str,
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    baseline_name: str | None = None,
    ratio: float | None = None,
    target: str | None = None,
    met: bool | None = None,
    extra: Mapping[str, object] | None = None,
) -> Row:
    """One figure of the table; `ratio` defaults to value / baseline when there is one."""
    if ratio is None and baseline:
        ratio = value / baseline
    return {
        "section": section,
        "name": name,
        "value": _round(value),
        "unit": unit,
        "baseline": None if baseline is None else _round(baseline),
        "baseline_name": baseline_name,
        "ratio": None if ratio is None else round(ratio, 3),
        "target": target,
        "met": met,
        **(extra or {}),
    }


def _round(value: float) -> float:
    if isinstance(value, int) or value == 0:
        return value
    magnitude = abs(value)
    digits = 4 if magnitude < 1 else 3 if magnitude < 100 else 1 if magnitude < 10_000 else 0
    return round(value, digits)


def peak_rss_mib() -> float:
    """This process's peak resident set size so far [MiB] (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """This process's resident set size now [MiB]."""
    with Path("/proc/self/statm").open() as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def process_cpu(pid: int) -> float:
    """User + system CPU seconds another (running) process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class ServerProcess:
    """``async with ServerProcess(plants=20, days=31, rate=(6, 0.6)) as server:`` on its own core.

    `plants` are rebuilt here (same seed), so the caller knows the ITRs and the data window.
    """

    def __init__(self, *, count: int, days: float, rate: tuple[int, float] | None) -> None:
        self.plants: list[Plant] = plants(count, days)
        self._args = [
            *("--plants", str(count), "--days", repr(days)),
            *("--rate", "none" if rate is None else f"{rate[0]}/{rate[1]!r}"),
        ]
        self._process: asyncio.subprocess.Process | None = None
        self.base_url = ""

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def cpu_seconds(self) -> float:
        """CPU seconds the server has used so far."""
        return process_cpu(self.pid)

    async def __aenter__(self) -> Self:
        self._process = process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks._serve",
            *self._args,
            stdin=asyncio.subprocess.PIPE,  # its end is how the child learns we died
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
            start_new_session=True,
        )
        lifeline.watch_group(process.pid)
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 60)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        if not line:
            await self.__aexit__(None, None, None)
            raise RuntimeError("the benchmark server exited before serving")
        self.base_url = line.decode().strip()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is not None:
            await stop_group(process, 10)

    async def stats(self) -> dict[str, Any]:
        """Per ITR: requests (429s included), rejections, and the request log."""
        url = self.base_url.replace("/APIv1/", "/_fake/stats")
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            response.raise_for_status()
            result: dict[str, Any] = json.loads(await response.read())
            return result

    async def totals(self, itrs: Iterable[str]) -> tuple[int, int]:
        """Requests and 429s so far over the given ITRs."""
        stats = await self.stats()
        chosen = [stats[itr] for itr in itrs]
        return sum(s["requests"] for s in chosen), sum(s["rejections"] for s in chosen)

    async def warm(
        self, itrs: Sequence[str], start: int, days: int, endpoint: str = "meter"
    ) -> None:
        """Have the server encode `days` pages from `start` (its fragment cache is shared).

        Uses the given ITRs (not those measured afterwards), at most `limit` pages each,
        so that warming never meets the rate limit.
        """
        url = f"{self.base_url}{endpoint}.php"
        async with aiohttp.ClientSession() as session:

            async def one(itr: str, day: int) -> None:
                params = {"out": "json", "id": itr, "t": str(start + day * DAY), "n": str(PAGE)}
                async with session.get(url, params=params) as response:
                    await response.read()
                    response.raise_for_status()

            await asyncio.gather(
                *(one(itrs[day // WARM_PER_ITR % len(itrs)], day) for day in range(days))
            )


async def stop_group(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM the child's group, SIGKILL it after `grace` seconds (or if cancelled), reap."""
    try:
        if process.returncode is None:
            lifeline.kill_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), grace)
    finally:
        lifeline.kill_group(process.pid)
        lifeline.forget_group(process.pid)
        if process.stdin is not None:
            process.stdin.close()
        await asyncio.shield(process.wait())


@contextlib.asynccontextmanager
async def child(
    *command: str,
    grace: float = 10.0,
    env: Mapping[str, str] | None = None,
    stderr: int | IO[Any] | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``async with child(...) as process``: a child leading its own group, watched; at the
    end its group is stopped (`stop_group`)."""
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=env, stderr=stderr, start_new_session=True
    )
    lifeline.watch_group(process.pid)
    try:
        yield process
    finally:
        await stop_group(process, grace)


def run_child(module: str, *args: str, timeout: float = 240) -> dict[str, Any]:
    """Run ``python -m module args`` in a fresh interpreter; return the JSON it prints last."""
    done = lifeline.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
