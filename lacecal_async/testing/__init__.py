"""A faithful fake of the LACECAL ITR 2.0 Web API, for testing code that uses it.

``async with FakeLacecalServer(make_plants(3)) as server:`` serves the three endpoints
over real HTTP on 127.0.0.1, in JSON and XML, with the spec's semantics, a per-ITR
sliding-window rate limit, injectable faults and a controllable clock; every value is a
pure function of (plant, period), so tests can recompute what they should have received.
Nothing in the library imports this package.
"""

from __future__ import annotations

from lacecal_async.testing.clock import Clock, FakeClock, ScaledClock, SystemClock
from lacecal_async.testing.faults import Faults
from lacecal_async.testing.plants import DEFAULT_START, MADRID, Plant, local_start, make_plants
from lacecal_async.testing.process import FakeServerProcess
from lacecal_async.testing.query import MAX_N, parse_local
from lacecal_async.testing.ratelimit import format_retry_after
from lacecal_async.testing.server import FakeLacecalServer
from lacecal_async.testing.serving import ServeOptions
from lacecal_async.testing.serving import serve as serve_plants
from lacecal_async.testing.serving import start_of as serve_start
from lacecal_async.testing.stats import ItrStats, RequestLog

__all__ = [
    "DEFAULT_START",
    "MADRID",
    "MAX_N",
    "Clock",
    "FakeClock",
    "FakeLacecalServer",
    "FakeServerProcess",
    "Faults",
    "ItrStats",
    "Plant",
    "RequestLog",
    "ScaledClock",
    "ServeOptions",
    "SystemClock",
    "format_retry_after",
    "local_start",
    "make_plants",
    "parse_local",
    "serve_plants",
    "serve_start",
]
