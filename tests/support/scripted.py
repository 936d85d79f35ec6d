"""A scripted server on loopback, for replies the fake service never sends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import attrs
from aiohttp import web

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
