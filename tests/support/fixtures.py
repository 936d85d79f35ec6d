"""The fixtures most tests use: fake servers on loopback and clients pointed at them.

Registered by ``tests/conftest.py`` (``pytest_plugins``). Rate limits are scaled down (a
period of a fraction of a second) so time-dependent behaviour runs quickly; the fake server
enforces its own limit, so a client that overshoots shows up as 429s in `server.stats(itr)`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from typing import Any, Protocol

import pytest
from aiohttp import web

from lacecal_async.client import LacecalClient
from lacecal_async.testing import FakeLacecalServer, Plant, make_plants
from tests.support.scripted import Script, ScriptedServer, ScriptFactory

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
