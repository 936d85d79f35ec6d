"""Shared fixtures and helpers: fake servers on loopback, clients pointed at them, and checks.

Rate limits are scaled down (a period of a fraction of a second) so time-dependent
behaviour runs quickly; the fake server enforces its own limit, so a client that overshoots
shows up as 429s in `server.stats(itr)`.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import aiohttp
import attrs
import pytest
from aiohttp import web
from hypothesis import settings

from lacecal_async.client import LacecalClient
from lacecal_async.testing import FakeLacecalServer, Plant, make_plants

# CI runs the same examples every time (a red build means a change broke something);
# locally, Hypothesis keeps exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

#: A PostgreSQL server and a database per test (`postgres_dsn`); each store in turn (`store_kind`).
pytest_plugins = ["postgres_fixtures", "store_kinds"]

#: Client and server limit for tests whose subject is not the limiter: quick, yet real.
FAST_LIMIT = (6, 0.1)


class ServerFactory(Protocol):
    def __call__(
        self, plants: Iterable[Plant], *, rate_limit: tuple[int, float] | None = ..., **kw: Any
    ) -> Awaitable[FakeLacecalServer]: ...


class ClientFactory(Protocol):
    def __call__(self, base_url: str, **kw: Any) -> LacecalClient: ...


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    """Start fake servers on loopback; every one is closed after the test."""
    servers: list[FakeLacecalServer] = []

    async def factory(
        plants: Iterable[Plant], *, rate_limit: tuple[int, float] | None = FAST_LIMIT, **kw: Any
    ) -> FakeLacecalServer:
        server = FakeLacecalServer(plants, rate_limit=rate_limit, **kw)
        await server.start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.close()


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """Create clients (default limit `FAST_LIMIT`); every one is closed after the test."""
    clients: list[LacecalClient] = []

    def factory(base_url: str, **kw: Any) -> LacecalClient:
        kw.setdefault("rate_limit", FAST_LIMIT)
        client = LacecalClient(base_url=base_url, **kw)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


@pytest.fixture
def plant() -> Plant:
    """The plain plant: 600 s periods, all meters, no gap, 30 days from DEFAULT_START."""
    return make_plants(1, seed=7)[0]


@pytest.fixture
async def server(make_server: ServerFactory, plant: Plant) -> FakeLacecalServer:
    """A fake server with `plant`, limited like the client (`FAST_LIMIT`)."""
    return await make_server([plant])


@pytest.fixture
def client(make_client: ClientFactory, server: FakeLacecalServer) -> LacecalClient:
    """A JSON client of `server`, limited like the server (`FAST_LIMIT`)."""
    return make_client(server.base_url)


@pytest.fixture
def lacecal_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture the library's logger at DEBUG."""
    with caplog.at_level(logging.DEBUG, logger="lacecal_async"):
        yield caplog


# -- checks shared by several test modules --------------------------------------------------


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll `predicate` between loop turns until it holds (a wait for state, not for speed)."""
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 - the state lives in another object's counters
            await asyncio.sleep(0.002)


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


# -- a scripted server, for replies the fake service never sends ---------------------------

#: The spec's inverter list, as a healthy 200 reply.
INVERTER_LIST_JSON = (
    b'[{"id":6,"nombre":"Inversor A","fabricante":"SMA","modelo":"STP 25000TL",'
    b'"nserie":"0000000001"}]'
)


#: A scripted status meaning: send the headers and half the body, then stall.
STALL = -1
Script = list[tuple[int, dict[str, str], bytes]]


@attrs.define
class ScriptedServer:
    """Answers each request with the next scripted (status, headers, body); then 200s.

    Real HTTP on loopback: for replies the fake server does not produce (a 429 without
    Retry-After, an HTTP-date, a huge hint, a body that echoes the identifier, a stall
    in the middle of the body). `arrivals` holds each request's arrival time
    (``time.monotonic()``, the clock asyncio's loop uses) and `params` its query.
    """

    script: Script
    arrivals: list[float] = attrs.Factory(list)
    params: list[dict[str, str]] = attrs.Factory(list)
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.arrivals.append(time.monotonic())
        self.params.append(dict(request.query))
        if self.script:
            status, headers, body = self.script.pop(0)
            headers = dict(headers)
        else:
            status, headers, body = 200, {"Content-Type": "application/json"}, INVERTER_LIST_JSON
        if status == STALL:  # headers and part of the body, then nothing more
            stream = web.StreamResponse(headers={"Content-Length": str(2 * len(body))})
            await stream.prepare(request)
            await stream.write(body)
            await asyncio.sleep(60)
            return stream  # pragma: no cover - the client gives up (and the server closes) first
        reason = headers.pop("X-Reason", None)  # a custom reason phrase
        return web.Response(status=status, reason=reason, headers=headers, body=body)


ScriptFactory = Callable[[Script], Awaitable[ScriptedServer]]


@pytest.fixture
async def make_scripted() -> AsyncIterator[ScriptFactory]:
    """Start scripted servers on loopback; every one is closed after the test."""
    runners: list[web.AppRunner] = []

    async def factory(script: Script) -> ScriptedServer:
        scripted = ScriptedServer(list(script))
        app = web.Application()
        app.router.add_get("/APIv1/{name}", scripted.handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.25)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        scripted.base_url = f"http://{host}:{port}/APIv1/"
        return scripted

    yield factory
    for runner in runners:
        await runner.cleanup()


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
