"""The fake LACECAL service: an aiohttp.web application on loopback, and its lifecycle.

Per request, in this order: the ``id`` is checked (malformed: 400; well-formed but not
configured: 404, neither counted nor rate-limited), the ITR's sliding window admits the
request or answers 429, the plant's faults apply, the other parameters are checked (400),
and the records are served. Record fragments are cached per (plant, endpoint, format,
period), so that pages cost little more than joining bytes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import Self

import attrs
from aiohttp import web

from lacecal_async.endpoints import Endpoint, WireFormat
from lacecal_async.testing.clock import Clock, SystemClock
from lacecal_async.testing.faults import MAINTENANCE_PAGE, Faults, garble, truncate, with_glitch
from lacecal_async.testing.plants import Plant
from lacecal_async.testing.query import BadRequestError, Query, parse_query
from lacecal_async.testing.ratelimit import SlidingWindow, format_retry_after
from lacecal_async.testing.stats import ItrStats, RequestLog
from lacecal_async.testing.wire import assemble, encode_item

__all__ = ["FakeLacecalServer"]

_ITR_RE = re.compile(r"[A-Za-z0-9]{16}", re.ASCII)
_CONTENT_TYPES = {
    WireFormat.JSON: "application/json",
    WireFormat.XML: "application/xml; charset=utf-8",
}
_PHP_HTML = "text/html; charset=UTF-8"
#: Cached fragments per plant before the cache starts over (bounds memory on long runs).
_CACHE_LIMIT = 20_000
#: How long closing waits for replies still in flight (e.g. a `delay` fault) [s].
_SHUTDOWN_TIMEOUT = 0.25


def _text(status: int, text: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers=headers)


@attrs.define
class _ItrState:
    """Everything the server keeps for one ITR."""

    plant: Plant
    faults: Faults
    limiter: SlidingWindow | None
    requests: int = 0
    rejections: int = 0
    admitted: int = 0  # since the faults were set: what `fail_first`/`drop_first` count
    log: list[RequestLog] = attrs.Factory(list)
    cache: dict[tuple[Endpoint, WireFormat, int], bytes] = attrs.Factory(dict)

    def fragment(self, endpoint: Endpoint, wire_format: WireFormat, unix_time: int) -> bytes:
        key = (endpoint, wire_format, unix_time)
        found = self.cache.get(key)
        if found is None:
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            plant = self.plant
            record = (
                plant.meter_record(unix_time)
                if endpoint is Endpoint.METER
                else plant.inverter_record(unix_time)
            )
            found = self.cache[key] = encode_item(endpoint, record, wire_format)
        return found


class FakeLacecalServer:
    """The LACECAL ITR 2.0 Web API, served over real HTTP on loopback for tests.

    ``async with FakeLacecalServer(make_plants(3)) as server:`` then request
    ``server.base_url + "meter.php?out=json&id=..."``. `rate_limit` is (N, P): at most N
    requests per ITR in any sliding P seconds (None: unlimited); `clock` decides which
    records exist for plants that follow it (default: the system clock).
    """

    def __init__(
        self,
        plants: Iterable[Plant],
        *,
        rate_limit: tuple[int, float] | None = (6, 60.0),
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.rate_limit = rate_limit
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.host = host
        self.port = port
        self.origin = time.monotonic()
        self._states: dict[str, _ItrState] = {}
        self._plants: dict[str, Plant] = {}
        for plant in plants:
            self.add_plant(plant)
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self.app = web.Application()
        self.app.router.add_get("/_fake/stats", self._stats_view)
        for endpoint in Endpoint:
            self.app.router.add_get(f"/APIv1/{endpoint.path}", self._view(endpoint))

    # -- configuration ----------------------------------------------------------------
    @property
    def plants(self) -> Mapping[str, Plant]:
        """The configured plants by ITR (read-only; use `add_plant` to change)."""
        return MappingProxyType(self._plants)

    def add_plant(self, plant: Plant) -> None:
        """Serve `plant` (replacing one with the same ITR, whose stats start over)."""
        limiter = SlidingWindow(*self.rate_limit) if self.rate_limit else None
        self._states[plant.itr] = _ItrState(plant, plant.faults, limiter)
        self._plants[plant.itr] = plant

    def set_faults(self, itr: str, faults: Faults) -> None:
        """Replace the ITR's faults; counted faults count from now."""
        state = self._states[itr]
        state.faults = faults
        state.admitted = 0

    def faults(self, itr: str) -> Faults:
        """Return the faults the ITR shows now."""
        return self._states[itr].faults

    # -- observation --------------------------------------------------------------------
    def stats(self, itr: str) -> ItrStats:
        """Return a snapshot of the ITR's counters and request log."""
        state = self._states[itr]
        return ItrStats(state.requests, state.rejections, list(state.log))

    def reset_stats(self) -> None:
        """Zero every ITR's counters and log (rate-limit windows and faults keep going)."""
        for state in self._states.values():
            state.requests = state.rejections = 0
            state.log.clear()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/APIv1/``: join an endpoint's file name to it."""
        if self._base_url is None:
            raise RuntimeError("the server is not running; use `async with` or start()")
        return self._base_url

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on `host`:`port` (0: an ephemeral port) and set `base_url`."""
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        await web.TCPSite(runner, self.host, self.port).start()
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._base_url = f"http://{host}:{port}/APIv1/"

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._base_url = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- HTTP ---------------------------------------------------------------------------
    def _view(self, endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def view(request: web.Request) -> web.StreamResponse:
            return await self._handle(request, endpoint)

        return view

    async def _stats_view(self, _request: web.Request) -> web.Response:
        """Serve every ITR's counters and log as JSON, for a server in another process."""
        origin = self.origin
        return web.json_response(
            {
                itr: {
                    "requests": state.requests,
                    "rejections": state.rejections,
                    "log": [entry.to_json(origin) for entry in state.log],
                }
                for itr, state in self._states.items()
            }
        )

    async def _handle(self, request: web.Request, endpoint: Endpoint) -> web.StreamResponse:
        arrival = time.monotonic()
        query = request.query
        itr = query.get("id", "")
        if not _ITR_RE.fullmatch(itr):
            return _text(400, "id must be 16 ASCII letters and digits")
        state = self._states.get(itr)
        if state is None:
            return _text(404, "unknown ITR")
        state.requests += 1
        response = self._admit(state, arrival, endpoint)
        if response is None:
            response = await self._reply(request, state, endpoint)
        status = 0 if response is None else response.status
        agent = request.headers.get("User-Agent", "")
        state.log.append(RequestLog(arrival, endpoint.value, dict(query), status, agent))
        if response is None:
            # Closing the socket before returning: aiohttp then sends nothing, quietly.
            transport = request.transport
            if transport is not None:  # pragma: no branch - None only if the peer has gone
                transport.close()
            return web.Response()
        return response

    def _admit(self, state: _ItrState, arrival: float, endpoint: Endpoint) -> web.Response | None:
        """Return a 429 if the ITR's window is full, else None (and count the admission)."""
        wait = state.limiter.admit(arrival) if state.limiter is not None else None
        if wait is None:
            if state.faults.apply_to(endpoint.value):
                state.admitted += 1
            return None
        state.rejections += 1
        hint = state.faults.retry_after if state.faults.retry_after is not None else wait
        return _text(429, "too many requests", headers={"Retry-After": format_retry_after(hint)})

    async def _reply(
        self, request: web.Request, state: _ItrState, endpoint: Endpoint
    ) -> web.Response | None:
        """Apply the faults, then serve the records; None means drop the connection."""
        faults, count = state.faults, state.admitted
        if not faults.apply_to(endpoint.value):
            faults, count = Faults(), 1  # healthy: no counted fault reaches 1 with zeros
        if faults.delay:
            await asyncio.sleep(faults.delay)
        if faults.drop_connection or count <= faults.drop_first:
            return None
        if (
            faults.always_fail
            or count <= faults.fail_first
            or faults.unlucky(state.plant.itr, count)
        ):
            return _text(faults.fail_status, "Service Unavailable")
        if faults.maintenance_page:
            return web.Response(body=MAINTENANCE_PAGE, headers={"Content-Type": _PHP_HTML})
        try:
            query = parse_query(endpoint, request.query)
        except BadRequestError as error:
            return _text(400, str(error))
        body = self._body(state, endpoint, query, faults)
        if faults.truncate:
            body = truncate(body)
        if faults.garbage:
            body = garble(body, count)
        content_type = _PHP_HTML if faults.json_as_html else _CONTENT_TYPES[query.wire_format]
        return web.Response(body=body, headers={"Content-Type": content_type})

    def _body(self, state: _ItrState, endpoint: Endpoint, query: Query, faults: Faults) -> bytes:
        fmt = query.wire_format
        if endpoint is Endpoint.INVERTER_LIST:
            items = [encode_item(endpoint, inverter, fmt) for inverter in state.plant.inverters]
            return assemble(endpoint, items, fmt)
        plant, now = state.plant, self.clock.now()
        times = plant.page_times(query.start, query.n, now=now)
        glitch = faults.future_time(plant.interval, now)
        if glitch is not None:
            periods = plant.interval if plant.n_counts == "periods" else None
            times = with_glitch(times, query.start, query.n, glitch, periods=periods)
        return assemble(endpoint, [state.fragment(endpoint, fmt, t) for t in times], fmt)
