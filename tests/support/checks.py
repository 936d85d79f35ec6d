"""Checks shared by the tests: waiting for a condition, hunting for identifiers, counting.

A wait is always for a condition with a deadline, never for a fixed time: a busy machine
only makes it slower, never red.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from lacecal_async.sync import Cycle
from lacecal_async.testing import FakeLacecalServer

#: How long a wait for a condition may take before the test fails [s]. Only a failing test
#: waits this long, so it is generous: a busy machine must slow a test down, never fail it.
DEADLINE = 120.0  # a loaded 2-core machine (load 25) took over 60 s for some fleet states


async def wait_until(predicate: Callable[[], bool], *, deadline: float = DEADLINE) -> None:
    """Poll `predicate` between loop turns until it holds (a wait for state, not for speed)."""
    async with asyncio.timeout(deadline):
        while not predicate():  # noqa: ASYNC110 - the state lives in another object's counters
            await asyncio.sleep(0.002)


async def first_cycle(follows: Callable[[Callable[[Cycle], object]], Awaitable[object]]) -> Cycle:
    """Run ``follows(on_cycle)`` (a `follow`) until it reports a cycle; return that cycle.

    The follow is cancelled then; a follow that ended before its first cycle fails the test
    with what ended it.
    """
    cycles: list[Cycle] = []
    task = asyncio.ensure_future(follows(cycles.append))
    try:
        await wait_until(lambda: bool(cycles) or task.done())
        assert not task.done(), task.exception()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return cycles[0]


def exception_chain(exc: BaseException) -> list[BaseException]:
    """Return `exc` and everything reachable through __cause__ and __context__."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return seen


def assert_secret_absent(exc: BaseException, itr: str) -> None:
    """Fail if the whole identifier shows anywhere in the exception chain (str, repr, args)."""
    for link in exception_chain(exc):
        texts = [str(link), repr(link), *(repr(a) for a in link.args)]
        texts.extend(repr(v) for v in vars(link).values())
        for text in texts:
            assert itr not in text, f"{type(link).__name__} shows the ITR: {text!r}"


def _readings(text: str) -> list[str]:
    """`text`, and `text` with every escape a server might use undone (independently of the
    library's own code): XML/HTML character references, percent, JSON \\u and \\x; then
    that with everything but letters and digits dropped."""
    plain = html.unescape(text)
    plain = urllib.parse.unquote(plain, errors="replace")
    plain = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), plain)
    plain = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), plain)
    # and with every separator a server might put between the characters dropped (NUL and
    # other controls, spaces, zero-width characters, punctuation, leftover backslashes)
    squeezed = re.sub(r"[\W_]", "", plain)
    return [text.casefold(), plain.casefold(), squeezed.casefold()]


def fragment_of(text: str, itr: str, run: int = 8) -> str | None:
    """Return a run of `run` consecutive characters of `itr` that `text` shows, if any."""
    folded = itr.casefold()
    for reading in _readings(text):
        for start in range(len(folded) - run + 1):
            if folded[start : start + run] in reading:
                return folded[start : start + run]
    return None


def assert_no_fragment(exc: BaseException, itr: str) -> None:
    """Fail if 8 consecutive characters of `itr`, in any echoed form, show in the chain."""
    for link in exception_chain(exc):
        texts = [str(link), repr(link), *(repr(a) for a in link.args)]
        texts.extend(repr(v) for v in vars(link).values())
        for text in texts:
            found = fragment_of(text, itr)
            assert found is None, f"{type(link).__name__} shows {found!r} of the ITR: {text!r}"


def assert_logs_redacted(records: Sequence[logging.LogRecord], itr: str) -> None:
    """Fail if any log record's message or arguments show the whole identifier."""
    for record in records:
        assert itr not in record.getMessage()
        assert itr not in repr(record.args)
        assert itr not in str(record.msg)


def max_in_window(times: Sequence[float], period: float) -> int:
    """Most arrivals within any window of `period` seconds (closed: the strict reading)."""
    ordered = sorted(times)
    best = 0
    j = 0
    for i, t in enumerate(ordered):
        while ordered[j] < t - period:
            j += 1
        best = max(best, i - j + 1)
    return best


def arrival_times(server: FakeLacecalServer, itr: str) -> list[float]:
    """Arrival time of every request the server logged for `itr`."""
    return [entry.time for entry in server.stats(itr).log]


def request_counter() -> tuple[aiohttp.TraceConfig, Callable[[], int]]:
    """A `TraceConfig` counting the requests a session starts, and a reader of the count."""
    count = 0

    async def on_start(*_: object) -> None:
        nonlocal count
        count += 1

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    return trace, lambda: count


_SERVER_SIDE = ("RequestHandler", "_accept_connection", "start_server")


def client_tasks() -> set[asyncio.Task[Any]]:
    """Pending tasks other than the current one and an in-process server's handlers."""
    current = asyncio.current_task()
    return {
        t
        for t in asyncio.all_tasks()
        if t is not current
        and not t.done()
        and not any(name in repr(t.get_coro()) for name in _SERVER_SIDE)
    }


def library_timers() -> list[asyncio.TimerHandle]:
    """Timers on the running loop whose callback is the library's code (not aiohttp's)."""
    loop = asyncio.get_running_loop()
    scheduled: list[asyncio.TimerHandle] = getattr(loop, "_scheduled", [])
    out = []
    for handle in scheduled:
        callback = getattr(handle, "_callback", None)
        module = getattr(callback, "__module__", "") or ""
        owner = getattr(getattr(callback, "__self__", None), "__module__", "") or ""
        if not handle.cancelled() and "lacecal_async" in module + owner:
            out.append(handle)
    return out
